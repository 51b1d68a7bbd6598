"""How activation maximization runs: `AMOptions`, their presets and per-parameterization defaults."""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence, Union

from tb_featviz import checks
from tb_featviz.errors import ConfigurationError
from tb_featviz.methods.am import objectives, parameterizations
from tb_featviz.methods.am.transforms import RandomAffine, TransformStack

MAXIMIZE = ("auto", "pre_activation", "output")


@dataclasses.dataclass(frozen=True)
class AMOptions:
    """How activation maximization runs. Defaults give clear images in a few dozen steps.

    Every field is checked when the options are made (ConfigurationError), so a bad setting
    never reaches training; the options are frozen (`dataclasses.replace` makes changed copies).

    steps: gradient steps per channel (default: the parameterization's, PER_PARAMETERIZATION).
    learning_rate: Adam step size on the image parameters (default: the parameterization's).
    parameterization: "auto" (default: "fourier" for colour images of at least 64 px, else
      "pixel", as measured), "pixel" (clearest on the demo's grayscale CNN, see
      docs/am_parameterizations.png), "fourier" (decorrelated spectrum, as in Lucid; colours
      decorrelated by the probe images' statistics when given), or a PixelImage/FourierImage.
    transforms: random jitter/scale/rotation each step (`RandomAffine`), Lucid's stack
      (`TransformStack`), or None.
    total_variation, l2: weights (>= 0) of those penalties on the [0, 1] image.
    blur_every, blur_sigma: blur the image every N steps (pixel parameterization; 0 = never).
    threshold: stop a channel once its objective passes this value (None = run all steps).
    maximize: "pre_activation" (the channel before its layer's elementwise nonlinearity: never a
      vanishing gradient at a silent start; Lucid's choice), "output" (the layer's output; for a
      ReLU-family layer the gradient is redirected to the pre-activation while the channel is
      silent, as Lucid's redirected ReLU gradient does), or "auto" (default): pre_activation,
      except where the pre-activation is an affine function of the image (a first layer): its
      maximum is then a flat black or white image that says only the sign of the filter's sum,
      so the output is maximized.
    reduction: maximize the channel's spatial "mean", its "center" unit or its strongest ("max").
    objective: a custom `Objective` replacing channel - penalties (advanced).
    images_per_channel: several images per channel from different starts (with `objectives.
      diversity()` made to differ, or `objectives.interpolate(a, b)` from a to b).
    batch_size: channels optimized together; lower it to save memory.
    seed: the start image and random transforms of channel c depend only on (seed, c).
    selected_channels_only: for a Conv2D target, compute only the batch's channels of it
      (`am/selected.py`; same values up to float rounding, much less work on wide layers).
    """

    steps: Optional[int] = None
    learning_rate: Optional[float] = None
    parameterization: Union[str, object] = parameterizations.AUTO
    transforms: Optional[RandomAffine] = dataclasses.field(default_factory=RandomAffine)
    total_variation: float = 0.0
    l2: float = 0.0
    blur_every: int = 4
    blur_sigma: float = 0.5
    threshold: Optional[float] = None
    reduction: str = "mean"
    objective: Optional[objectives.Objective] = None
    batch_size: int = 64
    seed: int = 0
    selected_channels_only: bool = True
    maximize: str = "auto"
    images_per_channel: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.parameterization, (str, parameterizations.PixelImage, parameterizations.FourierImage)):
            raise ConfigurationError(
                f"AMOptions.parameterization must be 'auto', 'pixel', 'fourier' or a PixelImage/FourierImage, "
                f"got {self.parameterization!r}")
        try:
            param = parameterizations.get(self.parameterization)
        except ValueError as error:
            raise ConfigurationError(f"AMOptions.{error}") from None
        auto = isinstance(self.parameterization, str) and self.parameterization == parameterizations.AUTO
        defaults = PER_PARAMETERIZATION[parameterizations.AUTO if auto else param.name]
        if self.steps is None:
            object.__setattr__(self, "steps", defaults["steps"])
        if self.learning_rate is None:
            object.__setattr__(self, "learning_rate", defaults["learning_rate"])
        checks.integer(self.images_per_channel, "AMOptions.images_per_channel", 1)
        if self.images_per_channel > 256:
            raise ConfigurationError(f"AMOptions.images_per_channel must be at most 256, got {self.images_per_channel}")
        checks.integer(self.steps, "AMOptions.steps", 0)
        if self.steps > 100_000:
            raise ConfigurationError(f"AMOptions.steps must be at most 100,000, got {self.steps}")
        checks.number(self.learning_rate, "AMOptions.learning_rate", positive=True, maximum=1e3)
        checks.number(self.total_variation, "AMOptions.total_variation", minimum=0, maximum=1e6)
        checks.number(self.l2, "AMOptions.l2", minimum=0, maximum=1e6)
        checks.integer(self.blur_every, "AMOptions.blur_every", 0)
        checks.number(self.blur_sigma, "AMOptions.blur_sigma", positive=True, maximum=1e3)
        if self.threshold is not None:
            checks.number(self.threshold, "AMOptions.threshold")
        checks.integer(self.batch_size, "AMOptions.batch_size", 1)
        checks.integer(self.seed, "AMOptions.seed", 0)
        checks.choice(self.maximize, "AMOptions.maximize", MAXIMIZE)
        checks.choice(self.reduction, "AMOptions.reduction", ("mean", "center", "max"))
        if self.transforms is not None and not isinstance(self.transforms, (RandomAffine, TransformStack)):
            raise ConfigurationError("AMOptions.transforms must be a RandomAffine, a TransformStack or None")
        if self.objective is not None and not isinstance(self.objective, objectives.Objective):
            raise ConfigurationError("AMOptions.objective must be an Objective (tb_featviz.methods.am.objectives) or None")
        if not isinstance(self.selected_channels_only, bool):
            raise ConfigurationError(
                f"AMOptions.selected_channels_only must be True or False, got {self.selected_channels_only!r}"
            )

    @classmethod
    def preset(cls, name: str, **overrides) -> "AMOptions":
        """PRESETS[name] with `overrides`: "fast" (the callback's default, a few dozen steps) or
        "quality" (Lucid's recipe for notebooks and the CLI: many more steps)."""
        if name not in PRESETS:
            raise ConfigurationError(f"unknown AM preset {name!r}; presets: {list(PRESETS)}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ConfigurationError(f"unknown option(s) {unknown}; AMOptions fields: {sorted(fields)}")
        return cls(**{**PRESETS[name](), **overrides})

    def check_image(self, shape: Sequence[int]) -> None:
        """Settings that depend on the image size (known once the model is): blur must fit."""
        smallest = min(int(shape[0]), int(shape[1]))
        if self.blur_every and parameterizations.get(self.parameterization, shape).supports_blur:
            radius = math.ceil(2.0 * self.blur_sigma)
            if radius >= smallest:
                hint = f"blur_sigma < {smallest / 2:g} (default 0.5) or blur_every=0" if smallest > 2 else "blur_every=0"
                raise ConfigurationError(
                    f"AMOptions.blur_sigma={self.blur_sigma:g} blurs over {2 * radius + 1} px, more than the "
                    f"{smallest} px image; use {hint}"
                )

    def to_config(self) -> dict:
        """These options as plain JSON (for a render process or a follower to rebuild them); a
        custom objective is Python code and cannot be written down."""
        if self.objective is not None:
            raise ConfigurationError(f"AMOptions.objective {self.objective.description!r} is Python code, which a "
                                     "render process cannot rebuild")
        config = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name not in ("parameterization", "transforms", "objective")}
        config["parameterization"] = parameterizations.to_config(self.parameterization)
        config["transforms"] = None if self.transforms is None else {
            "class": type(self.transforms).__name__, "fields": dataclasses.asdict(self.transforms)}
        return config

    @classmethod
    def from_config(cls, config: dict) -> "AMOptions":
        """Inverse of `to_config`; every field checked again."""
        config = dict(config)
        config["parameterization"] = parameterizations.from_config(config.get("parameterization", "auto"))
        transforms = config.get("transforms")
        if transforms is not None:
            kinds = {"RandomAffine": RandomAffine, "TransformStack": TransformStack}
            if not isinstance(transforms, dict) or transforms.get("class") not in kinds:
                raise ConfigurationError(f"AMOptions.transforms: not a known transform: {transforms!r}"[:200])
            fields = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(transforms.get("fields") or {}).items()}
            config["transforms"] = kinds[transforms["class"]](**fields)
        return cls(**config)

    def full_objective(self) -> objectives.Objective:
        if self.objective is not None:
            return self.objective
        objective = objectives.channel(self.reduction)
        if self.total_variation:
            objective = objective - self.total_variation * objectives.total_variation()
        if self.l2:
            objective = objective - self.l2 * objectives.l2()
        return objective

    def settings(self) -> dict:
        param = parameterizations.get(self.parameterization)
        return {
            "steps": self.steps,
            "learning_rate": self.learning_rate,
            "parameterization": param.settings(),
            "transforms": self.transforms.settings() if self.transforms else None,
            "objective": self.full_objective().description,
            "blur_every": self.blur_every,
            "blur_sigma": self.blur_sigma,
            "threshold": self.threshold,
            "seed": self.seed,
            "maximize": self.maximize,
            "images_per_channel": self.images_per_channel,
        }


# The defaults of each parameterization, chosen by measurement (BENCHMARKS.md, "AM on a
# pretrained network"): steps and Adam's learning rate when AMOptions leaves them out.
PER_PARAMETERIZATION = {
    "auto": {"steps": 48, "learning_rate": 0.05},  # the callback's budget, whichever it picks
    "pixel": {"steps": 48, "learning_rate": 0.05},
    "fourier": {"steps": 96, "learning_rate": 0.05},
}

# Named settings: "fast" is what the callback runs every epoch; "quality" is Lucid's recipe
# (Fourier, colours decorrelated, its transform stack, Adam 0.05, 512 steps) for notebooks and
# the CLI, where a minute per layer is fine.
PRESETS = {
    "fast": lambda: {},
    "quality": lambda: {"parameterization": "fourier", "transforms": TransformStack(), "steps": 512,
                        "learning_rate": 0.05, "blur_every": 0},
}
