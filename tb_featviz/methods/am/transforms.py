"""Transformation robustness: a random shift, scale and rotation of the image at every step.

A feature that survives small random jitter, scaling and rotation is a feature, not an
adversarial pattern of single pixels. All three are folded into one affine warp per batch
element and step; the random values are drawn up front with NumPy from per-channel seeds, so a
channel sees the same sequence at every epoch and the global random state is never used.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
from keras import ops

from tb_featviz.methods.am.parameterizations import channel_rng


@dataclasses.dataclass(frozen=True)
class RandomAffine:
    """Uniform random jitter (fraction of the image size), scale factor and rotation (degrees)."""

    jitter: float = 0.06
    scale: tuple = (0.92, 1.08)
    rotate_degrees: float = 6.0

    def __post_init__(self) -> None:
        from tb_featviz import checks
        from tb_featviz.errors import ConfigurationError

        if not checks.number(self.jitter, "RandomAffine.jitter", minimum=0) < 0.5:
            raise ConfigurationError(f"RandomAffine.jitter must be a fraction of the image in [0, 0.5), got {self.jitter!r}")
        scale = self.scale
        if not isinstance(scale, (tuple, list)) or len(scale) != 2:
            raise ConfigurationError(f"RandomAffine.scale must be (low, high), got {scale!r}")
        low, high = (checks.number(s, "RandomAffine.scale", minimum=0.1, maximum=10.0) for s in scale)
        if not low <= high:
            raise ConfigurationError(f"RandomAffine.scale must be (low, high) with 0.1 <= low <= high <= 10, got {scale!r}")
        if checks.number(self.rotate_degrees, "RandomAffine.rotate_degrees", minimum=0) > 180:
            raise ConfigurationError(f"RandomAffine.rotate_degrees must be in [0, 180], got {self.rotate_degrees!r}")

    def sample(
        self, seed: int, channels: Sequence[int], steps: int, shape: Sequence[int]
    ) -> np.ndarray:
        """Projective transform rows, float32 (steps, len(channels), 8), as TensorFlow takes them."""
        height, width = int(shape[0]), int(shape[1])
        rows = np.empty((steps, len(channels), 8), np.float32)
        for i, c in enumerate(channels):
            rng = channel_rng(seed, c, 1)
            shift = rng.uniform(-self.jitter, self.jitter, (steps, 2)) * (height, width)
            scale = rng.uniform(self.scale[0], self.scale[1], steps)
            angle = np.deg2rad(rng.uniform(-self.rotate_degrees, self.rotate_degrees, steps))
            for t in range(steps):
                rows[t, i] = _output_to_input(height, width, shift[t], scale[t], angle[t])
        return rows

    fill_mode = "REFLECT"  # what a shift or rotation brings in from outside the image

    def settings(self) -> dict:
        return {"name": "random_affine", **dataclasses.asdict(self)}


def _lucid_scales() -> tuple:
    return tuple(1 + (i - 5) / 50 for i in range(11))


@dataclasses.dataclass(frozen=True)
class TransformStack:
    """Lucid's standard transforms: pad with gray, jitter, a random scale and rotation from small
    sets, jitter again (values in pixels at 128 px, scaled to the image's size). Composed into
    one affine warp per step at the model's fixed input size, so the padding is the mid-gray
    that shifts, shrinking and rotation bring in at the borders."""

    jitter: float = 8
    scales: tuple = dataclasses.field(default_factory=_lucid_scales)
    angles: tuple = tuple(range(-10, 11))
    jitter_after: float = 4

    fill_mode = "CONSTANT"

    def __post_init__(self) -> None:
        from tb_featviz import checks
        from tb_featviz.errors import ConfigurationError

        for name in ("jitter", "jitter_after"):
            checks.number(getattr(self, name), f"TransformStack.{name}", minimum=0, maximum=64)
        if not self.scales or not all(0.1 <= checks.number(v, "TransformStack.scales") <= 10 for v in self.scales):
            raise ConfigurationError(f"TransformStack.scales must be factors in [0.1, 10], got {self.scales!r}")
        if not self.angles or not all(abs(checks.number(v, "TransformStack.angles")) <= 180 for v in self.angles):
            raise ConfigurationError(f"TransformStack.angles must be degrees in [-180, 180], got {self.angles!r}")

    def sample(self, seed: int, channels: Sequence[int], steps: int, shape: Sequence[int]) -> np.ndarray:
        """Projective transform rows, float32 (steps, len(channels), 8)."""
        height, width = int(shape[0]), int(shape[1])
        unit = min(height, width) / 128.0
        rows = np.empty((steps, len(channels), 8), np.float32)
        for i, c in enumerate(channels):
            rng = channel_rng(seed, c, 1)
            first = rng.uniform(-self.jitter / 2, self.jitter / 2, (steps, 2)) * unit
            scale = rng.choice(np.asarray(self.scales, float), steps)
            angle = np.deg2rad(rng.choice(np.asarray(self.angles, float), steps))
            second = rng.uniform(-self.jitter_after / 2, self.jitter_after / 2, (steps, 2)) * unit
            for t in range(steps):
                cos, sin = math.cos(angle[t]) * scale[t], math.sin(angle[t]) * scale[t]
                # shift, then scale and rotate about the centre, then shift again: one affine map
                shift = np.array([[cos, -sin], [sin, cos]]) @ first[t] + second[t]
                rows[t, i] = _output_to_input(height, width, shift, scale[t], angle[t])
        return rows

    def settings(self) -> dict:
        return {"name": "lucid", "jitter": self.jitter, "scales": list(self.scales),
                "angles": list(self.angles), "jitter_after": self.jitter_after}


def _output_to_input(height, width, shift, scale, angle) -> np.ndarray:
    """The 8 projective coefficients mapping an output pixel (x, y) to its source (x', y').

    Forward: rotate by `angle` and scale by `scale` around the centre, then shift. TensorFlow
    wants the inverse map: source = A (out - centre - shift) + centre, A = R(-angle) / scale.
    """
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    a = np.array([[cos, sin], [-sin, cos]])
    origin = np.array([cx + shift[1], cy + shift[0]])
    offset = np.array([cx, cy]) - a @ origin
    return np.array([a[0, 0], a[0, 1], offset[0], a[1, 0], a[1, 1], offset[1], 0.0, 0.0])


def warp(images, rows, fill_mode: str = "REFLECT"):
    """Apply one affine warp per batch element (`rows`: TensorFlow's 8 projective coefficients,
    output pixel -> source pixel), bilinear; outside the image: reflected (d c b a | a b c d), or
    (fill_mode "CONSTANT") mid-gray, like Lucid's padding.

    Written with gathers, so every backend differentiates it exactly: TensorFlow's own
    ImageProjectiveTransform op has a gradient that only warps the signal back by the inverse
    map, which is not the adjoint of bilinear sampling (pixels a rotation reads twice or not at
    all get the wrong share)."""
    _, height, width, depth = images.shape  # the batch may be unknown while tracing: reshapes use -1
    rows = ops.cast(rows, "float32")
    y, x = ops.meshgrid(ops.arange(height, dtype="float32"), ops.arange(width, dtype="float32"), indexing="ij")
    x, y = x[None], y[None]
    coefficient = [rows[:, i, None, None] for i in range(8)]
    k = coefficient[6] * x + coefficient[7] * y + 1.0
    source_x = (coefficient[0] * x + coefficient[1] * y + coefficient[2]) / k
    source_y = (coefficient[3] * x + coefficient[4] * y + coefficient[5]) / k
    x0, y0 = ops.floor(source_x), ops.floor(source_y)
    wx, wy = source_x - x0, source_y - y0
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    # The four neighbours of every output pixel, gathered at once: (b, 4 * h * w) flat indices.
    corners = [(y0 + dy, x0 + dx, (wy if dy else 1.0 - wy) * (wx if dx else 1.0 - wx))
               for dy in (0, 1) for dx in (0, 1)]
    mapped = [(_index(row, height, fill_mode), _index(col, width, fill_mode), weight) for row, col, weight in corners]
    index = ops.stack([row * width + col for (row, _), (col, _), _ in mapped], axis=1)
    weight = ops.stack([weight for _, _, weight in mapped], axis=1)[..., None]  # (b, 4, h, w, 1)
    # One plain gather of whole pixels over the flattened batch (its gradient a scatter-add): far
    # cheaper under TensorFlow than an indexed gather per channel.
    first_pixel = ops.arange(ops.shape(images)[0], dtype="int32") * (height * width)
    index = ops.reshape(index + ops.reshape(first_pixel, (-1, 1, 1, 1)), (-1,))
    values = ops.reshape(ops.take(ops.reshape(images, (-1, depth)), index, axis=0), (-1, 4, height, width, depth))
    if fill_mode.upper() != "REFLECT":
        inside = ops.stack([ops.logical_and(row_in, col_in) for (_, row_in), (_, col_in), _ in mapped], axis=1)
        values = ops.where(inside[..., None], values, 0.5)
    return ops.sum(weight * values, axis=1)


def _index(index, size: int, fill_mode: str):
    """(an index inside [0, size), whether the original was inside: None for reflect)."""
    if fill_mode.upper() == "REFLECT":
        folded = ops.mod(index, 2 * size)
        return ops.where(folded >= size, 2 * size - 1 - folded, folded), None
    inside = ops.logical_and(index >= 0, index < size)
    return ops.clip(index, 0, size - 1), inside


def gaussian_blur(images, sigma: float):
    """Separable Gaussian blur, per channel, same size (reflect padding)."""
    radius = max(1, int(math.ceil(2.0 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    depth = images.shape[-1]
    padded = ops.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="reflect")
    kernel_y = ops.convert_to_tensor(np.tile(taps[:, None, None, None], (1, 1, depth, 1)))
    kernel_x = ops.convert_to_tensor(np.tile(taps[None, :, None, None], (1, 1, depth, 1)))
    blurred = ops.depthwise_conv(padded, kernel_y, strides=1, padding="valid", data_format="channels_last")
    return ops.depthwise_conv(blurred, kernel_x, strides=1, padding="valid", data_format="channels_last")
