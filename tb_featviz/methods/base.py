"""What every visualization method is: one object whose hooks the rest of tb-featviz calls.

A method lives in its own package (`tb_featviz/methods/<name>/`: its engine, options, records,
CLI flags) and is one line of `tb_featviz.methods.REGISTRY`. The plan asks it where it applies,
`prepare` asks it for a runner per planned layer (before the first epoch, so its problems are
configuration errors), the callback writes what the runner returns as its record, the CLI draws
it as labelled tiles and takes its flags from it. Nothing outside the method's package switches
on its name: a new method is a new package and a registry line (docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from tb_featviz import metadata

# A runner computes one visualization of its layer; `progress(done, total)` may be ignored.
Runner = Callable[..., object]

# How a method asked for by name (`methods=[...]`) takes the layers a user names (plan.py):
EVERY_NAMED = "every"  # it must apply to each of them (refused before epoch 1 where it does not)
SOME_NAMED = "some"  # it runs on those it applies to, refused if none (Grad-CAM: the conv layers named)
NO_NAMED = "none"  # it runs on its implied layers alone (saliency: the output layer), whatever is named

# Where a method's gradients must reach for it to apply (checked once per layer by the plan).
TO_IMAGE = "image"  # the [0, 1] image, through input_range and preprocess (activation maximization)
TO_INPUT = "input"  # the model's input (deconv projections, attributions)


@dataclasses.dataclass(frozen=True)
class LayerOutput:
    """What a layer outputs, as the plan found it on a trial image: `kind` is
    `model_access.SPATIAL` (feature maps) or `UNITS`, `shape` one sample's."""

    kind: str
    shape: tuple


@dataclasses.dataclass(frozen=True)
class CliFlag:
    """A flag of `tb-featviz render` that a method reads. The CLI adds each flag once (two
    methods may share one) and refuses a flag given for a method that does not declare it."""

    flag: str  # "--top-k"
    help: str
    type: Optional[Callable] = None
    choices: Optional[Sequence[str]] = None
    default: Any = None  # a flag whose value is not its default counts as given
    words: tuple = ()  # how the engine's messages name the setting ("top_k"): shown as the flag

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def add_to(self, parser, default=dataclasses.MISSING) -> None:
        """Adds the flag to an argparse parser (`default`: another default, e.g. SUPPRESS)."""
        kwargs = {"default": self.default if default is dataclasses.MISSING else default, "help": self.help}
        if self.type is not None:
            kwargs["type"] = self.type
        if self.choices is not None:
            kwargs["choices"] = list(self.choices)
        parser.add_argument(self.flag, **kwargs)


class Method:
    """One visualization method. Subclasses set the attributes and fill in the hooks they need."""

    name: str = ""
    # The options object this method reads from `Settings.options[name]` (a frozen dataclass
    # with its own checks), or None for a method without options.
    options_type: Optional[type] = None
    # Keyword arguments of FeatVizCallback that set this method's options (older spellings,
    # kept working): {argument: how `options_from_arguments` reads it}.
    arguments: tuple = ()
    backend_free = False  # runs on any Keras backend (needs no gradients and no forward pass)
    gradient_to: Optional[str] = None  # TO_IMAGE / TO_INPUT: where its gradients must reach
    warn_when_left_out = True  # a layer it does not apply to is worth a warning (not for weights)
    named_layers = EVERY_NAMED  # asked for by name: EVERY_NAMED, SOME_NAMED or NO_NAMED (above)
    has_channels = True  # its items are channels the user picks (occlusion: probe images)
    reads_labels = False  # it reads probe_labels (the CLI's --labels)
    reads_inputs = True  # it reads the input range and probe images (weights: only the filters)
    cli_flags: tuple = ()  # CliFlag, in the order `--help` lists them

    @property
    def format(self) -> metadata.MethodFormat:
        """What its records hold and how a reader names them (sent with every record)."""
        return metadata.FORMATS[self.name]

    @property
    def stretchable(self) -> bool:
        """Its pictures can be drawn with contrast="stretch" (images in the input's range)."""
        return bool(self.format.stretchable)

    # -- options ---------------------------------------------------------------------------
    def default_options(self):
        return self.options_type() if self.options_type is not None else None

    def check_options(self, options) -> None:
        """Raises ConfigurationError unless `options` are this method's options type."""
        from tb_featviz.errors import ConfigurationError

        if self.options_type is None:
            if options is not None:
                raise ConfigurationError(f"method {self.name!r} takes no options, got {type(options).__name__}")
            return
        if not isinstance(options, self.options_type):
            raise ConfigurationError(
                f"options of {self.name!r} must be a {self.options_type.__name__}, got {type(options).__name__}"
            )

    def options_from_arguments(self, arguments: Mapping[str, Any]):
        """Its options from the callback's keyword arguments it owns (only those given, not
        None); None when none was given."""
        given = {name: arguments[name] for name in self.arguments if arguments.get(name) is not None}
        if not given:
            return None
        if len(given) == 1 and self.options_type is not None and isinstance(next(iter(given.values())), self.options_type):
            return next(iter(given.values()))
        return self.options_type(**given)

    def options_from_cli(self, values: Mapping[str, Any], probe_count: int):
        """Its options from its CLI flags' values (every declared flag's dest is in `values`)."""
        return self.default_options()

    def options_to_config(self, options) -> Optional[dict]:
        """Its options as plain JSON, for a render process or a follower to rebuild (`render=` of
        FeatVizCallback); ConfigurationError when they hold what JSON cannot (Python code). The
        default: the dataclass's fields, or the options' own `to_config()`."""
        if options is None:
            return None
        if hasattr(options, "to_config"):
            return options.to_config()
        return dataclasses.asdict(options)

    def options_from_config(self, config: Optional[dict]):
        """Inverse of `options_to_config` (the options type checks every field again)."""
        if config is None:
            return self.default_options()
        if hasattr(self.options_type, "from_config"):
            return self.options_type.from_config(config)
        return self.options_type(**config)

    def check_recordable(self, options) -> Optional[str]:
        """Why results with these options cannot be written as records, or None."""
        return None

    # -- where it applies ------------------------------------------------------------------
    def needs(self, settings) -> Optional[str]:
        """What the user must give for this method to run at all, e.g. "probe_images (...)";
        None: nothing is missing."""
        return None

    def applies(self, ref, path: list, settings, output: LayerOutput) -> Optional[str]:
        """None if the method applies to the layer, else why not. `path`: the nonlinear steps
        between the input and the layer (`backward.steps_on_path`)."""
        return None

    def listing_note(self, ref, path: list, settings, output: LayerOutput) -> Optional[str]:
        """Where it does not apply with default options but would with others: a short note
        for `tb-featviz layers` (e.g. "deconv (--rule gradient only)")."""
        return None

    def implied_layers(self, model, settings) -> list:
        """Layers this method covers whenever it runs, named or not (occlusion: the output)."""
        return []

    # -- work ------------------------------------------------------------------------------
    def runner(self, plan, spec, settings) -> Runner:
        raise NotImplementedError

    def at_step(self, runner, step: Optional[int]) -> None:
        """Called before `runner` draws the records of global training step `step` (None outside
        training: a notebook, the CLI). A method that compares each step with its run's first
        (the attributions' sanity check) notes it here."""

    def warnings(self, plan, runner) -> list:
        """Things worth telling the user about this planned layer before training starts."""
        return []

    def check(self, result) -> None:
        """Raises when a result must not be written (NaN images...)."""

    def record(self, layer: str, result):
        """The result as a `summary.Record` (by default the result's own `record(layer)`, which
        `tb_featviz.summary.write` uses too)."""
        return result.record(layer)

    # -- the CLI's picture -----------------------------------------------------------------
    def grid(self, result, contrast: str) -> tuple:
        """(tiles (n, h, w, c) uint8, a label per tile, captions): the CLI's labelled picture."""
        raise NotImplementedError

    def legend(self, result, width: int) -> Optional[np.ndarray]:
        """A band drawn under the CLI's grid (colour scales, class colours), or None."""
        return None

    def items(self, result) -> Sequence[int]:
        """What the tiles are of (channel indices; probe images for occlusion)."""
        return list(result.channels)


def check_finite(values: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(values)):
        raise FloatingPointError(f"{what} contains NaN or infinity")
