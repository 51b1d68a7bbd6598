"""What the model takes as input: size, channels, value range and optional preprocessing.

Activation maximization works on images in [0, 1]; `InputSpec.to_model` maps them into the
range the model was trained on (and through the user's preprocessing), so a model trained on
0..255 pixels or on mean-subtracted inputs is visualized in its own terms.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import numpy as np
import tensorflow as tf

from tb_featviz.errors import ConfigurationError

DEFAULT_OPEN_SIZE = (64, 64)


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """The model input an image must be turned into."""

    height: int
    width: int
    channels: int
    value_range: tuple = (0.0, 1.0)
    preprocess: Optional[Callable] = None

    @property
    def shape(self) -> tuple:
        return (self.height, self.width, self.channels)

    def to_model(self, unit_image: tf.Tensor) -> tf.Tensor:
        low, high = self.value_range
        image = low + (high - low) * unit_image
        return self.preprocess(image) if self.preprocess is not None else image

    def settings(self) -> dict:
        return {
            "shape": list(self.shape),
            "value_range": list(self.value_range),
            "preprocess": getattr(self.preprocess, "__name__", None) if self.preprocess else None,
        }


def resolve(
    model_shape: Sequence,
    *,
    image_size: Optional[Sequence[int]] = None,
    value_range: Optional[Sequence[float]] = None,
    preprocess: Optional[Callable] = None,
    probe_images: Optional[np.ndarray] = None,
) -> InputSpec:
    """The InputSpec for a model whose input shape (h, w, c) may leave h and w open (None).

    `image_size` must agree with a fixed model size and picks one for an open one (default
    64x64). Without `value_range`, the range of `probe_images` is used when given (rounded out
    to the common conventions [0, 1], [-1, 1], [0, 255]), else [0, 1].
    """
    height, width, channels = model_shape
    if channels is None:
        raise ConfigurationError("the model input leaves its channel count open; it must be fixed")
    if image_size is not None:
        try:
            size = tuple(int(s) for s in image_size)
        except (TypeError, ValueError):
            raise ConfigurationError(f"image_size must be (height, width), got {image_size!r}")
        if len(size) != 2 or min(size) < 1:
            raise ConfigurationError(f"image_size must be (height, width), got {image_size!r}")
        for fixed, chosen, name in ((height, size[0], "height"), (width, size[1], "width")):
            if fixed is not None and fixed != chosen:
                raise ConfigurationError(
                    f"image_size {name} {chosen} differs from the model's fixed input {name} {fixed}"
                )
        height, width = size
    height = height if height is not None else DEFAULT_OPEN_SIZE[0]
    width = width if width is not None else DEFAULT_OPEN_SIZE[1]
    if value_range is None:
        value_range = infer_range(probe_images) if probe_images is not None else (0.0, 1.0)
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ConfigurationError(f"input_range must be (low, high) with low < high, got {value_range!r}")
    if preprocess is not None and not callable(preprocess):
        raise ConfigurationError("preprocess must be a function of an image batch")
    return InputSpec(int(height), int(width), int(channels), (low, high), preprocess)


def infer_range(images: np.ndarray) -> tuple:
    """The smallest of [0, 1], [-1, 1], [0, 255] holding the images, else their own min/max."""
    low, high = float(np.min(images)), float(np.max(images))
    for candidate in ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)):
        if candidate[0] <= low and high <= candidate[1]:
            return candidate
    return (low, high)
