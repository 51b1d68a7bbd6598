"""A layer's channels as every method sees them: before and after the layer's own nonlinearity.

Activation maximization ascends, and a deconv projection starts from, the channel's value
*before* the layer's elementwise nonlinearity (its pre-activation): through a ReLU the gradient
of a channel that is not firing at the start is exactly zero, so maximizing the output would
leave it unexplored, and Lucid maximizes pre-ReLU values for the same reason. What a method
reports as the channel's activation is the layer's real output. For a softmax or sigmoid layer
the pre-activation is the logit.

The pre-activation is the layer's output with its fused activation set to linear
(``Conv2D(activation="relu")``), or the input of a layer that is only a nonlinearity (``ReLU``,
``Activation("gelu")``, ...). Every function here takes a batch as the model takes it and
returns (batch, height, width, channels) or (batch, units), whatever the model's layout.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable, Iterator, Optional

import keras
from keras import ops

from tb_featviz import nonlinearity
from tb_featviz.model_access import LayerRef, forward_to
from tb_featviz.nonlinearity import Nonlinearity

OUTPUT = "output"
PRE_ACTIVATION = "pre_activation"

_ACTIVATION_LAYERS = (
    keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.PReLU, keras.layers.ELU,
    keras.layers.Softmax, keras.layers.Activation,
)


@dataclasses.dataclass(frozen=True)
class Target:
    """How to compute one layer's pre-activation and output from the model input."""

    ref: LayerRef
    pre: Callable  # model input -> pre-activation (float32, channels last)
    output: Callable  # model input -> the layer's output (float32, channels last)
    nonlinearity: Optional[Nonlinearity]  # what turns `pre` into `output`; None when they are the same
    activate: Callable  # pre-activation -> output (channels last)

    @property
    def maximized(self) -> str:
        """What AM maximizes and deconv projects from: PRE_ACTIVATION or OUTPUT."""
        return OUTPUT if self.nonlinearity is None else PRE_ACTIVATION

    def describe(self) -> str:
        if self.nonlinearity is None:
            return "layer output"
        return f"pre-activation (before {self.nonlinearity.name})"


def for_layer(ref: LayerRef, channels_first: bool = False) -> Target:
    """The Target of `ref.layer` (see the module docstring)."""
    layer = ref.layer
    to_output = forward_to(ref)
    found = None if isinstance(layer, keras.Model) else nonlinearity.of_layer(layer)
    if found is None:
        output = _channels_last(to_output, channels_first)
        return Target(ref, output, output, None, lambda pre: pre)
    if isinstance(layer, _ACTIVATION_LAYERS):  # a layer that is only its nonlinearity
        to_pre = forward_to(ref, layer_input=True)

        def pre(x):
            return to_pre(x)

        def apply(values):
            return layer(values)
    else:  # a fused activation
        def pre(x):
            with linear_activation(layer):
                return to_output(x)

        def apply(values):
            return found.function(values)

    def activate(pre_values):
        """Channels-last pre-activations -> outputs (the nonlinearity in the model's layout)."""
        if channels_first and len(pre_values.shape) == 4:
            return _to_channels_last(apply(ops.transpose(pre_values, (0, 3, 1, 2))))
        return ops.cast(apply(pre_values), "float32")

    return Target(ref, _channels_last(pre, channels_first), _channels_last(to_output, channels_first), found, activate)


@contextlib.contextmanager
def linear_activation(layer) -> Iterator[None]:
    """Within the block, `layer` computes its pre-activation (its fused activation is linear).

    Entered inside the functions that run the model, so a traced function sees the same graph
    whenever it is traced.
    """
    activation = layer.activation
    layer.activation = keras.activations.linear
    try:
        yield
    finally:
        layer.activation = activation


def _channels_last(function: Callable, channels_first: bool) -> Callable:
    def run(x):
        values = ops.cast(function(x), "float32")
        return _to_channels_last(values) if channels_first else values

    return run


def _to_channels_last(values):
    values = ops.cast(values, "float32")
    return ops.transpose(values, (0, 2, 3, 1)) if len(values.shape) == 4 else values
