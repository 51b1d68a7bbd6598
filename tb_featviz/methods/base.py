"""What every visualization method is, and the user's settings they all read.

A method is one object (`Method`) that says which layers it applies to, makes a runner for a
planned layer (before the first epoch, so its problems are configuration errors), checks its
result, turns it into a record and draws it as labelled tiles. The callback, the notebook
functions, the CLI and the demo iterate over `tb_featviz.methods.REGISTRY`; nothing else
switches on a method's name.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import numpy as np

from tb_featviz import backward, checks, inputs, metadata
from tb_featviz.am.maximize import AMOptions
from tb_featviz.errors import ConfigurationError
from tb_featviz.occlude import OcclusionOptions

# A runner computes one visualization of its layer; `progress(done, total)` may be ignored.
Runner = Callable[[Optional[Callable[[int, int], None]]], object]


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a user chose that methods read, checked once where it is given (`checked`)."""

    probe_images: Optional[np.ndarray] = None  # as the model takes them
    probe_labels: Optional[np.ndarray] = None  # (n,) int, one per probe image
    label_width: Optional[int] = None  # the classes one-hot labels were given for (None: indices)
    input_range: Optional[tuple] = None
    preprocess: Optional[Callable] = None
    image_size: Optional[tuple] = None
    am: AMOptions = dataclasses.field(default_factory=AMOptions)
    top_k: int = 9
    deconv_rule: str = backward.DECONVNET
    batch_size: int = 128  # deconv's probe batch
    occlusion: OcclusionOptions = dataclasses.field(default_factory=OcclusionOptions)
    class_names: Optional[tuple] = None

    @classmethod
    def checked(
        cls,
        *,
        probe_images=None,
        probe_labels=None,
        input_range=None,
        preprocess=None,
        image_size=None,
        am=None,
        top_k=9,
        deconv_rule=backward.DECONVNET,
        batch_size=128,
        occlusion=None,
        class_names=None,
    ) -> "Settings":
        value_range = inputs.check_value_range(input_range)
        images = None if probe_images is None else inputs.check_probe_images(probe_images, value_range)
        if am is not None and not isinstance(am, AMOptions):
            raise ConfigurationError(f"am must be an AMOptions, got {type(am).__name__}")
        if occlusion is not None and not isinstance(occlusion, OcclusionOptions):
            raise ConfigurationError(f"occlusion must be an OcclusionOptions, got {type(occlusion).__name__}")
        return cls(
            probe_images=images,
            probe_labels=check_labels(probe_labels, images),
            label_width=int(np.shape(probe_labels)[1]) if np.ndim(probe_labels) == 2 and np.shape(probe_labels)[1] > 1
            else None,
            input_range=value_range,
            preprocess=inputs.check_preprocess(preprocess),
            image_size=inputs.check_image_size(image_size),
            am=am or AMOptions(),
            top_k=_top_k(top_k),
            deconv_rule=checks.choice(deconv_rule, "deconv_rule", list(backward.RULES)),
            batch_size=checks.integer(batch_size, "batch_size", 1),
            occlusion=occlusion or OcclusionOptions(),
            class_names=check_class_names(class_names),
        )

    def input_spec(self, model):
        """The model's input as every method sees it (`inputs.for_model`, the one place)."""
        return inputs.for_model(model, image_size=self.image_size, value_range=self.input_range,
                                preprocess=self.preprocess, probe_images=self.probe_images)


MAX_CLASSES = 10**7  # no classifier has more; larger "labels" are not class indices


def check_labels(labels, images: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """Probe labels as (n,) ints: class indices, or one-hot / probability rows (their argmax)."""
    if labels is None:
        return None
    if images is None:
        raise ConfigurationError("probe_labels need probe_images (the images they label)")
    try:
        array = np.asarray(labels)
    except (TypeError, ValueError):
        raise ConfigurationError("probe_labels must be an array of class indices, one per probe image") from None
    if array.dtype == bool or array.dtype.kind not in "fiu":
        raise ConfigurationError(f"probe_labels must hold class indices (ints), got dtype {array.dtype}")
    if array.ndim == 2 and array.shape[1] == 0:
        raise ConfigurationError(f"probe_labels of shape {array.shape} hold no class")
    if array.ndim == 2 and array.shape[1] > 1:
        if not (np.all(np.isfinite(array)) and np.all(array >= 0)):
            raise ConfigurationError("probe_labels rows must be one-hot or class probabilities (finite, >= 0)")
        empty = np.flatnonzero(array.max(axis=1) == 0)  # argmax would call them class 0
        if empty.size:
            rows = f" ({empty.size} rows are)" if empty.size > 1 else ""
            raise ConfigurationError(f"probe_labels row {empty[0]} is all zeros{rows}: it names no class; "
                                     "one-hot rows need a 1 at their class")
        array = np.argmax(array, axis=1)  # one-hot rows, as `fit` takes them for categorical losses
    elif array.ndim == 2:
        array = array[:, 0]
    if array.ndim != 1:
        raise ConfigurationError(f"probe_labels must have shape (n,) or (n, classes), got {np.shape(labels)}")
    if len(array) != len(images):
        raise ConfigurationError(
            f"probe_labels has {len(array)} labels for {len(images)} probe images (images are "
            f"(n, height, width, channels): one image is images[None])"
        )
    if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
        raise ConfigurationError("probe_labels must be whole class indices")
    if np.any(array < 0):
        raise ConfigurationError(f"probe_labels must be class indices >= 0, got {array.min()}")
    if array.size and array.max() >= MAX_CLASSES:
        raise ConfigurationError(f"probe_labels hold class {array.max():g}; class indices are below {MAX_CLASSES:,}")
    return array.astype(np.int64)


def check_class_names(class_names) -> Optional[tuple]:
    """The user's class names as a tuple of strings (None stays None)."""
    from collections.abc import Iterable

    if class_names is None:
        return None
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, Iterable):
        raise ConfigurationError(
            f"class_names must be a list of strings, one per class unit; got {type(class_names).__name__}"
        )
    names = tuple(class_names)
    if not names or not all(isinstance(n, (str, np.str_)) for n in names):
        raise ConfigurationError("class_names must be a non-empty list of strings, one per class unit")
    if len(names) > 1_000_000:
        raise ConfigurationError(f"class_names has {len(names)} entries; at most 1,000,000")
    blank = [i for i, name in enumerate(names) if not str(name).strip()]
    if blank:
        raise ConfigurationError(f"class_names[{blank[0]}] is blank: every class unit needs a name to be told "
                                 "apart by")
    return tuple(str(n) for n in names)


class Method:
    """One visualization method. Subclasses fill in the parts; see the module docstring."""

    name: str = ""
    backend_free = False  # runs on any Keras backend (needs no TensorFlow gradients)
    warn_when_left_out = True  # a layer it does not apply to is worth a warning (not for weights)
    stretchable = True  # its images can be drawn with contrast="stretch" (AM images, patches)

    @property
    def format(self) -> metadata.MethodFormat:
        return metadata.FORMATS[self.name]

    def needs(self, settings: Settings) -> Optional[str]:
        """What the user must give for this method to run at all, e.g. "probe_images (...)";
        None: nothing is missing."""
        return None

    def applies(self, ref, path: list, settings: Settings) -> Optional[str]:
        """None if the method applies to the layer, else why not."""
        return None

    def implied_layers(self, model, settings: Settings) -> list:
        """Layers this method covers whenever it runs, named or not (occlusion: the output)."""
        return []

    def runner(self, plan, spec, settings: Settings) -> Runner:
        raise NotImplementedError

    def check(self, result) -> None:
        """Raises when a result must not be written (NaN images...)."""

    def record(self, layer: str, result):
        """The result as a `summary.Record`."""
        raise NotImplementedError

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


MAX_TOP_K = 256  # activations projected per channel; each keeps its receptive field's patch


def _top_k(value) -> int:
    top_k = checks.integer(value, "top_k", 1)
    if top_k > MAX_TOP_K:
        raise ConfigurationError(f"top_k must be at most {MAX_TOP_K}, got {top_k}")
    return top_k
