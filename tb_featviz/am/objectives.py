"""What activation maximization maximizes: small objects that add, subtract and scale.

An objective maps a `Context` to one value per batch element (batch element i visualizes
channel ``channels[i]``), so ``channel() - 0.05 * total_variation()`` is a whole regularized
objective and a new regularizer is one function. Everything is per element: no element's value
depends on another's, which is what lets all channels of a layer be optimized in one batch.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Context:
    """What an objective may look at during one optimization step."""

    activations: tf.Tensor  # the layer's pre-activation (see target.py), float32: (b, h, w, C) or (b, C)
    channels: tf.Tensor  # int32 (b,): the channel each batch element maximizes
    image: tf.Tensor  # the parameterized image in [0, 1], (b, H, W, c), before transforms


class Objective:
    """A per-element scalar function of a Context; supports +, -, unary -, and * by a number."""

    def __init__(self, fn: Callable[[Context], tf.Tensor], description: str):
        self._fn = fn
        self.description = description

    def __call__(self, context: Context) -> tf.Tensor:
        return self._fn(context)

    def __add__(self, other: "Objective") -> "Objective":
        return Objective(lambda c: self(c) + other(c), f"{self.description} + {other.description}")

    def __sub__(self, other: "Objective") -> "Objective":
        return Objective(lambda c: self(c) - other(c), f"{self.description} - {other.description}")

    def __neg__(self) -> "Objective":
        return Objective(lambda c: -self(c), f"-({self.description})")

    def __mul__(self, weight: float) -> "Objective":
        from tb_featviz import checks

        weight = checks.number(weight, "an objective's weight", maximum=1e6)
        return Objective(lambda c: weight * self(c), f"{weight:g} * {self.description}")

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"Objective({self.description})"


def selected_channel(activations: tf.Tensor, channels: tf.Tensor) -> tf.Tensor:
    """Element i's own channel: (b, h, w, C) -> (b, h, w); (b, C) -> (b,)."""
    return tf.gather(activations, channels, axis=-1, batch_dims=1)


def channel(reduction: str = "mean") -> Objective:
    """The chosen channel's activation: its spatial mean, its centre unit ("center") or its
    strongest unit ("max", used to search for any input that makes a channel fire).

    For unit (Dense) outputs all are the unit itself.
    """
    if reduction not in ("mean", "center", "max"):
        raise ValueError(f"reduction must be 'mean', 'center' or 'max', got {reduction!r}")

    def value(context: Context) -> tf.Tensor:
        selected = selected_channel(context.activations, context.channels)
        if selected.shape.rank == 1:
            return selected
        if reduction == "mean":
            return tf.reduce_mean(selected, axis=[1, 2])
        if reduction == "max":
            return tf.reduce_max(selected, axis=[1, 2])
        height, width = tf.shape(selected)[1], tf.shape(selected)[2]
        return selected[:, height // 2, width // 2]

    return Objective(value, f"channel_{reduction}")


def total_variation() -> Objective:
    """Mean absolute difference between neighbouring pixels: penalizes high-frequency noise."""

    def value(context: Context) -> tf.Tensor:
        image = context.image
        dy = tf.reduce_mean(tf.abs(image[:, 1:, :, :] - image[:, :-1, :, :]), axis=[1, 2, 3])
        dx = tf.reduce_mean(tf.abs(image[:, :, 1:, :] - image[:, :, :-1, :]), axis=[1, 2, 3])
        return dy + dx

    return Objective(value, "total_variation")


def l2(center: float = 0.5) -> Objective:
    """Mean squared distance from mid-gray: keeps pixels from saturating without reason."""

    def value(context: Context) -> tf.Tensor:
        return tf.reduce_mean(tf.square(context.image - center), axis=[1, 2, 3])

    return Objective(value, "l2")
