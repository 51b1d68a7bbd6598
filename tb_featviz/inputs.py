"""What the model takes as input: size, channels, layout, value range and optional preprocessing.

Every method works on images in [0, 1], laid out (height, width, channels); `InputSpec.to_model`
maps them into the range the model was trained on, through the user's preprocessing and into the
model's own layout (channels first or last). The spec is resolved in one place, `for_model`; the
arguments it takes are checked once, where the user gives them, by the `check_*` functions.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import numpy as np
from keras import ops

from tb_featviz import checks
from tb_featviz.checks import FLOAT32_LIMIT
from tb_featviz.errors import ConfigurationError

DEFAULT_OPEN_SIZE = (64, 64)

RANGE_GIVEN = "given"
RANGE_FROM_PROBES = "inferred from probe_images"
RANGE_DEFAULT = "default"


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """The model input an image must be turned into."""

    height: int
    width: int
    channels: int
    value_range: tuple = (0.0, 1.0)
    preprocess: Optional[Callable] = None
    channels_first: bool = False
    range_source: str = RANGE_DEFAULT

    @property
    def shape(self) -> tuple:
        """(height, width, channels): the layout every method works in."""
        return (self.height, self.width, self.channels)

    @property
    def model_shape(self) -> tuple:
        """The shape of one input as the model takes it."""
        return (self.channels, self.height, self.width) if self.channels_first else self.shape

    def to_model(self, unit_image):
        """[0, 1] images (b, h, w, c) -> what the model takes (range, layout, preprocessing)."""
        low, high = self.value_range
        image = low + (high - low) * unit_image
        if self.channels_first:
            image = ops.transpose(image, (0, 3, 1, 2))
        return self.preprocess(image) if self.preprocess is not None else image

    def to_unit(self, images: np.ndarray) -> np.ndarray:
        """Model-range images (n, h, w, c) -> [0, 1] for display (clipped: white is white)."""
        low, high = self.value_range
        return np.clip((np.asarray(images, np.float64) - low) / (high - low), 0.0, 1.0)

    def from_model_layout(self, images: np.ndarray) -> np.ndarray:
        """Images as the model takes them (e.g. probe images) -> (n, h, w, c)."""
        return np.transpose(images, (0, 2, 3, 1)) if self.channels_first else images

    def settings(self) -> dict:
        return {
            "shape": list(self.shape),
            "value_range": list(self.value_range),
            "value_range_source": self.range_source,
            "layout": "channels_first" if self.channels_first else "channels_last",
            "preprocess": getattr(self.preprocess, "__name__", None) if self.preprocess else None,
        }

    def describe_range(self) -> str:
        low, high = self.value_range
        return f"input range [{low:g}, {high:g}] ({self.range_source})"


# -- checks of user arguments (run once, where the user gives them) -----------------------------

def check_value_range(value) -> Optional[tuple]:
    """(low, high) as finite floats with low < high, or None."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise ConfigurationError(f"input_range must be (low, high), e.g. (0, 255); got {value!r}")
    values = list(value)
    if len(values) != 2:
        raise ConfigurationError(f"input_range must be two numbers (low, high), got {value!r}")
    try:
        low, high = (checks.number(v, "input_range") for v in values)
    except ConfigurationError:
        raise ConfigurationError(f"input_range must be finite with low < high, got {value!r}") from None
    if not low < high:
        raise ConfigurationError(f"input_range must be finite with low < high, got {value!r}")
    if not (high - low) > 1e-6 * max(1.0, abs(low), abs(high)):
        raise ConfigurationError(f"input_range {value!r} is too narrow: images in it are one value in float32")
    return (low, high)


def check_image_size(value) -> Optional[tuple]:
    """(height, width) or (height, width, channels) of positive ints, or None."""
    if value is None:
        return None
    try:
        size = tuple(value)
    except TypeError:
        raise ConfigurationError(f"image_size must be (height, width) or (height, width, channels), got {value!r}") from None
    if len(size) not in (2, 3) or any(
        isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or not 1 <= s <= 16384 for s in size
    ):
        raise ConfigurationError(f"image_size must be (height, width) or (height, width, channels) of positive ints, got {value!r}")
    return tuple(int(s) for s in size)


def check_preprocess(value) -> Optional[Callable]:
    if value is not None and not callable(value):
        raise ConfigurationError(f"preprocess must be a function of an image batch, got {type(value).__name__}")
    return value


def check_probe_images(images, value_range: Optional[tuple] = None) -> np.ndarray:
    """Probe images as float32 (n, ...); (n, h, w) gains a channel axis at the end.

    Integer images are refused unless the input range is given: 0..255 integers may feed a
    model trained on [0, 1] or on [0, 255], and a guess would silently show the wrong thing.
    """
    try:
        raw = np.asarray(images)
    except (TypeError, ValueError):
        raise ConfigurationError("probe_images must be an array of images (n, height, width, channels)") from None
    if raw.dtype == bool or raw.dtype.kind not in "fiu":
        raise ConfigurationError(f"probe_images must hold numbers, got dtype {raw.dtype}")
    if raw.dtype.kind in "iu" and value_range is None:
        low, high = (int(raw.min()), int(raw.max())) if raw.size else (0, 0)
        raise ConfigurationError(
            f"probe_images are {raw.dtype} (values {low}..{high}); integers do not say which range the "
            "model was trained on. Pass input_range=(0, 255) if it takes raw pixels, or give "
            "probe_images as floats scaled the way the model's training data was (e.g. x / 255)."
        )
    with np.errstate(over="ignore", invalid="ignore"):
        array = raw.astype(np.float32)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or min(array.shape) < 1:
        raise ConfigurationError(
            f"probe_images must have shape (n, height, width, channels), each at least 1, got {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ConfigurationError("probe_images contain NaN or infinite values (or values beyond float32)")
    if np.abs(array).max() > FLOAT32_LIMIT:
        raise ConfigurationError(f"probe_images hold values of magnitude above {FLOAT32_LIMIT:g}: no image input "
                                 "range is that wide, and every computation would overflow")
    return array


# -- resolving the spec for a model -------------------------------------------------------------

def for_model(
    model,
    *,
    image_size: Optional[tuple] = None,
    value_range: Optional[tuple] = None,
    preprocess: Optional[Callable] = None,
    probe_images: Optional[np.ndarray] = None,
) -> InputSpec:
    """The InputSpec of `model`, from its input shape where it has one, else from the probe
    images or `image_size`. Arguments come already checked (`check_*`).

    `image_size` must agree with a fixed model size and picks one for an open one (default
    64x64). Without `value_range` the range of `probe_images` is used (rounded out to [0, 1],
    [-1, 1] or [0, 255]), else [0, 1]; `range_source` says which.
    """
    from tb_featviz.model_access import channels_first, check_model, declared_input_shape

    check_model(model)
    first = channels_first(model)
    declared = declared_input_shape(model)
    if declared is None:
        declared = _shape_without_input(model, image_size, probe_images, first)
    if len(declared) != 3:
        raise ConfigurationError(
            f"model {model.name!r} takes inputs of shape {declared}; only image inputs "
            "(height, width, channels) are supported"
        )
    height, width, channels = (declared[1], declared[2], declared[0]) if first else declared
    if channels is None:
        raise ConfigurationError("the model input leaves its channel count open; it must be fixed")
    if image_size is not None:
        for fixed, chosen, name in ((height, image_size[0], "height"), (width, image_size[1], "width"), (channels, image_size[2] if len(image_size) == 3 else channels, "channels")):
            if fixed is not None and fixed != chosen:
                raise ConfigurationError(f"image_size {name} {chosen} differs from the model's input {name} {fixed}")
        height, width = image_size[:2]
    if probe_images is not None and (height is None or width is None):
        probe_shape = probe_images.shape[1:]
        height, width = (probe_shape[1], probe_shape[2]) if first else (probe_shape[0], probe_shape[1])
    height = height if height is not None else DEFAULT_OPEN_SIZE[0]
    width = width if width is not None else DEFAULT_OPEN_SIZE[1]
    if value_range is not None:
        source = RANGE_GIVEN
    elif probe_images is not None:
        value_range, source = infer_range(probe_images), RANGE_FROM_PROBES
    else:
        value_range, source = (0.0, 1.0), RANGE_DEFAULT
    spec = InputSpec(int(height), int(width), int(channels), tuple(value_range), preprocess, first, source)
    if probe_images is not None and tuple(probe_images.shape[1:]) != spec.model_shape:
        raise ConfigurationError(f"probe_images have shape {tuple(probe_images.shape[1:])}, the model takes {spec.model_shape}")
    return spec


def _shape_without_input(model, image_size, probe_images, first: bool) -> tuple:
    """A Sequential model without keras.Input has no input shape until it is built."""
    if probe_images is not None:
        return tuple(probe_images.shape[1:])
    if image_size is not None and len(image_size) == 3:
        height, width, channels = image_size
        return (channels, height, width) if first else (height, width, channels)
    hint = f"image_size=({image_size[0]}, {image_size[1]}, channels)" if image_size else "image_size=(height, width, channels)"
    raise ConfigurationError(
        f"model {model.name!r} has no input shape yet (a Sequential model without keras.Input), so "
        f"its number of input channels is unknown. Pass probe_images or {hint}, or start the model "
        "with keras.Input(shape=...)."
    )


def infer_range(images: np.ndarray) -> tuple:
    """The smallest of [0, 1], [-1, 1], [0, 255] holding the images, else their own min/max."""
    low, high = float(np.min(images)), float(np.max(images))
    for candidate in ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)):
        if candidate[0] <= low and high <= candidate[1]:
            return candidate
    if not high > low:
        return (low - 0.5, high + 0.5)
    return (low, high)
