"""What activation maximization maximizes: small objects that add, subtract and scale.

An objective maps a `Context` to one value per batch element (batch element i visualizes
channel ``channels[i]``), so ``channel() - 0.05 * total_variation()`` is a whole regularized
objective and a new regularizer is one function. Everything is per element: no element's value
depends on another's, which is what lets all channels of a layer be optimized in one batch.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import keras
import numpy as np
from keras import ops


@dataclasses.dataclass(frozen=True)
class Context:
    """What an objective may look at during one optimization step."""

    activations: keras.KerasTensor  # the layer's pre-activation (see target.py), float32: (b, h, w, C) or (b, C)
    channels: keras.KerasTensor  # int32 (b,): the channel each batch element maximizes
    image: keras.KerasTensor  # the parameterized image in [0, 1], (b, H, W, c), before transforms
    copy: Optional[keras.KerasTensor] = None  # int32 (b,): which of its channel's `copies` images an element is
    copies: int = 1  # images per channel (AMOptions.images_per_channel)
    real: Optional[keras.KerasTensor] = None  # bool (b,): False for batch padding and finished elements


class Objective:
    """A per-element scalar function of a Context; supports +, -, unary -, and * by a number."""

    def __init__(self, fn: Callable[[Context], keras.KerasTensor], description: str, *, per_channel: bool = True,
                 across_batch: bool = False, check: Optional[Callable[[tuple], None]] = None,
                 needs_copies: bool = False):
        self._fn = fn
        self.description = description
        self._check = check  # raises ValueError if the objective cannot apply to a layer output of this shape
        self.needs_copies = needs_copies  # only means something with several images per channel
        self.per_channel = per_channel  # depends on the element's channel (else: one image is enough)
        self.across_batch = across_batch  # looks at other elements (diversity): needs the whole layer

    def __call__(self, context: Context) -> keras.KerasTensor:
        return self._fn(context)

    def check(self, shape: tuple) -> None:
        """Raises ValueError when the objective cannot apply to a layer of this output shape
        (without the batch axis): a neuron outside the grid, a direction of the wrong length."""
        if self._check is not None:
            self._check(tuple(shape))

    def _like(self, fn, description: str, *others: "Objective") -> "Objective":
        parts = (self, *others)

        def check(shape):
            for part in parts:
                part.check(shape)

        return Objective(fn, description, per_channel=any(p.per_channel for p in parts),
                         across_batch=any(p.across_batch for p in parts), check=check,
                         needs_copies=any(p.needs_copies for p in parts))

    def _with(self, other: "Objective", fn, description: str) -> "Objective":
        if not isinstance(other, Objective):
            from tb_featviz.errors import ConfigurationError

            raise ConfigurationError(f"objectives combine with objectives, not {type(other).__name__} (multiply by numbers)")
        return self._like(fn, description, other)

    def __add__(self, other: "Objective") -> "Objective":
        return self._with(other, lambda c: self(c) + other(c), f"{self.description} + {other.description}")

    def __sub__(self, other: "Objective") -> "Objective":
        return self._with(other, lambda c: self(c) - other(c), f"{self.description} - {other.description}")

    def __neg__(self) -> "Objective":
        return self._like(lambda c: -self(c), f"-({self.description})")

    def __mul__(self, weight: float) -> "Objective":
        from tb_featviz import checks

        weight = checks.number(weight, "an objective's weight", maximum=1e6)
        return self._like(lambda c: weight * self(c), f"{weight:g} * {self.description}")

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"Objective({self.description})"


def selected_channel(activations: keras.KerasTensor, channels: keras.KerasTensor) -> keras.KerasTensor:
    """Element i's own channel: (b, h, w, C) -> (b, h, w); (b, C) -> (b,)."""
    index = ops.reshape(ops.cast(channels, "int32"), (-1,) + (1,) * (len(activations.shape) - 1))
    return ops.squeeze(ops.take_along_axis(activations, index, axis=-1), axis=-1)


def channel(reduction: str = "mean") -> Objective:
    """The chosen channel's activation: its spatial mean, its centre unit ("center") or its
    strongest unit ("max", used to search for any input that makes a channel fire).

    For unit (Dense) outputs all are the unit itself.
    """
    if reduction not in ("mean", "center", "max"):
        from tb_featviz.errors import ConfigurationError

        raise ConfigurationError(f"reduction must be 'mean', 'center' or 'max', got {reduction!r}")

    def value(context: Context) -> keras.KerasTensor:
        selected = selected_channel(context.activations, context.channels)
        if len(selected.shape) == 1:
            return selected
        if reduction == "mean":
            return ops.mean(selected, axis=(1, 2))
        if reduction == "max":
            return ops.max(selected, axis=(1, 2))
        height, width = selected.shape[1], selected.shape[2]
        return selected[:, height // 2, width // 2]

    return Objective(value, f"channel_{reduction}")


def total_variation() -> Objective:
    """Mean absolute difference between neighbouring pixels: penalizes high-frequency noise."""

    def value(context: Context) -> keras.KerasTensor:
        image = context.image
        dy = ops.mean(ops.abs(image[:, 1:, :, :] - image[:, :-1, :, :]), axis=(1, 2, 3))
        dx = ops.mean(ops.abs(image[:, :, 1:, :] - image[:, :, :-1, :]), axis=(1, 2, 3))
        return dy + dx

    return Objective(value, "total_variation")


def l2(center: float = 0.5) -> Objective:
    """Mean squared distance from mid-gray: keeps pixels from saturating without reason."""

    def value(context: Context) -> keras.KerasTensor:
        return ops.mean(ops.square(context.image - center), axis=(1, 2, 3))

    return Objective(value, "l2")


def fixed_channel(index: int, reduction: str = "mean") -> Objective:
    """Channel `index`'s activation for every element, whatever channel the element is for:
    the other end of an `interpolate` from each channel to one fixed channel."""
    from tb_featviz import checks

    index = checks.integer(index, "fixed_channel index", 0)
    base = channel(reduction)

    def value(context: Context) -> keras.KerasTensor:
        if index >= context.activations.shape[-1]:
            raise ValueError(f"channel {index} is out of range for a layer of {context.activations.shape[-1]} channels")
        fixed = ops.full_like(context.channels, index)
        return base(dataclasses.replace(context, channels=fixed))

    def check(shape):
        if index >= shape[-1]:
            raise ValueError(f"fixed_channel({index}) is out of range for a layer of {shape[-1]} channels "
                             f"(valid: 0..{shape[-1] - 1})")

    return Objective(value, f"channel_{index}_{reduction}", per_channel=False, check=check)


def neuron(row: int, col: int) -> Objective:
    """The chosen channel's unit at (row, col) of the layer's output grid (negative counts from
    the end, like Python indexing): what one position of the feature map responds to."""
    from tb_featviz.errors import ConfigurationError

    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or abs(v) > 10**6 for v in (row, col)):
        raise ConfigurationError(f"neuron(row, col) takes whole numbers (negative counts from the end), got {row!r}, {col!r}")
    row, col = int(row), int(col)

    def value(context: Context) -> keras.KerasTensor:
        selected = selected_channel(context.activations, context.channels)
        if len(selected.shape) == 1:
            raise ValueError("neuron(row, col) needs a layer with a spatial output; this one has units")
        height, width = selected.shape[1], selected.shape[2]
        if not (-height <= row < height and -width <= col < width):
            raise ValueError(f"neuron({row}, {col}) is outside the layer's {height} x {width} output grid")
        return selected[:, row % height, col % width]

    def check(shape):
        if len(shape) != 3:
            raise ValueError("neuron(row, col) needs a layer with a spatial output; this one has units")
        if not (-shape[0] <= row < shape[0] and -shape[1] <= col < shape[1]):
            raise ValueError(f"neuron({row}, {col}) is outside the layer's {shape[0]} x {shape[1]} output grid "
                             f"(rows 0..{shape[0] - 1}, columns 0..{shape[1] - 1})")

    return Objective(value, f"neuron_{row}_{col}", check=check)


def direction(vector: Sequence[float]) -> Objective:
    """The layer's activation along a direction in channel space (Olah et al.: a combination of
    channels, e.g. a difference of two), its spatial mean: the same for every batch element."""
    from tb_featviz.errors import ConfigurationError

    try:
        weights = np.asarray(vector, np.float64)
    except (TypeError, ValueError):
        raise ConfigurationError("direction needs a vector of numbers, one weight per channel") from None
    if (weights.ndim != 1 or not weights.size or not np.all(np.isfinite(weights)) or not np.any(weights)
            or np.abs(weights).max() > 1e6):
        raise ConfigurationError("direction needs a 1-D, finite, non-zero vector (weights at most 1e6), one weight "
                                 f"per channel; got shape {weights.shape}")
    weights = weights.astype(np.float32)

    def value(context: Context) -> keras.KerasTensor:
        activations = context.activations
        if activations.shape[-1] != weights.size:
            raise ValueError(f"direction has {weights.size} weights for a layer of {activations.shape[-1]} channels")
        along = ops.tensordot(activations, ops.convert_to_tensor(weights), axes=[[len(activations.shape) - 1], [0]])
        return along if len(along.shape) == 1 else ops.mean(along, axis=(1, 2))

    def check(shape):
        if shape[-1] != weights.size:
            raise ValueError(f"direction has {weights.size} weights for a layer of {shape[-1]} channels")

    return Objective(value, f"direction({weights.size} channels)", per_channel=False, check=check)


def diversity() -> Objective:
    """Lucid's diversity term: minus the mean cosine similarity between an image's Gram matrix
    (channel correlations of the layer's pre-activations) and those of the other images of the
    same channel, so `channel() + w * diversity()` asks for several different images per channel
    (AMOptions.images_per_channel). Zero for an image with no sibling."""

    def value(context: Context) -> keras.KerasTensor:
        activations = context.activations
        depth = activations.shape[-1]
        positions = int(np.prod(activations.shape[1:-1]))  # static; the batch may be unknown when traced
        flat = ops.reshape(activations, (-1, positions, depth))
        gram = ops.matmul(ops.transpose(flat, (0, 2, 1)), flat) / float(positions)
        vectors = ops.normalize(ops.reshape(gram, (-1, depth * depth)), axis=1)
        similarity = ops.matmul(vectors, ops.transpose(vectors))
        same = ops.equal(context.channels[:, None], context.channels[None, :])
        order = ops.cumsum(ops.ones_like(context.channels), axis=0)  # 1..batch: which pairs are an element itself
        others = ops.logical_and(same, ops.not_equal(order[:, None], order[None, :]))
        if context.real is not None:
            others = ops.logical_and(others, context.real[None, :])
        mask = ops.cast(others, similarity.dtype)
        count = ops.sum(mask, axis=1)
        return -ops.divide_no_nan(ops.sum(similarity * mask, axis=1), count)

    # Not an objective of the channel by itself: with a channel-free objective it is refused.
    return Objective(value, "diversity", per_channel=False, across_batch=True, needs_copies=True)


def interpolate(first: Objective, second: Objective) -> Objective:
    """From `first` to `second` across a channel's images: image k of n maximizes
    (1 - k/(n-1)) * first + k/(n-1) * second (AMOptions.images_per_channel = n)."""

    def value(context: Context) -> keras.KerasTensor:
        if context.copy is None or context.copies < 2:
            return first(context)
        alpha = ops.cast(context.copy, "float32") / float(context.copies - 1)
        return (1.0 - alpha) * first(context) + alpha * second(context)

    combined = first._like(value, f"interpolate({first.description}, {second.description})", second)
    combined.needs_copies = True
    return combined
