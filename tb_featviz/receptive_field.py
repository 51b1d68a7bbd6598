"""Which input pixels a unit of a layer can see, from the layers' own geometry.

Per image axis the field of output unit i is ``[offset + i * stride, offset + i * stride + size)``
in input pixels. It is composed layer by layer (kernel, stride, dilation, 'same'/'valid'
padding, zero padding, cropping); element-wise layers pass it through, merges (Add, Concatenate,
...) take the union. A layer this module does not know (Flatten, Dense, resizing, ...) makes the
field the whole image, which is always correct, just not tight.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import keras

from tb_featviz.model_access import IDENTITY_AT_INFERENCE, LayerRef, nodes_in
from tb_featviz.nonlinearity import computes_as


@dataclasses.dataclass(frozen=True)
class Axis:
    """One axis of a feature map: its length and the field of its unit 0 and spacing."""

    length: int
    size: int = 1
    stride: int = 1
    offset: int = 0

    def window(self, kernel: int, stride: int, dilation: int, padding: str) -> "Axis":
        extent = dilation * (kernel - 1) + 1
        if padding == "same":
            out = math.ceil(self.length / stride)
            pad_before = max((out - 1) * stride + extent - self.length, 0) // 2
        else:
            out = (self.length - extent) // stride + 1
            pad_before = 0
        return Axis(
            length=max(out, 0),
            size=self.size + (extent - 1) * self.stride,
            stride=self.stride * stride,
            offset=self.offset - pad_before * self.stride,
        )

    def shifted(self, before: int, after: int) -> "Axis":
        """Zero padding (positive) or cropping (negative) of `before`/`after` units."""
        return Axis(self.length + before + after, self.size, self.stride, self.offset - before * self.stride)


@dataclasses.dataclass(frozen=True)
class Field:
    """The receptive field geometry of a layer's units; `box` gives one unit's pixel box."""

    y: Axis
    x: Axis

    def box(self, row: int, col: int) -> tuple:
        """(top, left, bottom, right) in input pixels, bottom/right exclusive; may exceed the image."""
        top = self.y.offset + row * self.y.stride
        left = self.x.offset + col * self.x.stride
        return (top, left, top + self.y.size, left + self.x.size)


class _Unknown(Exception):
    pass


_ELEMENTWISE = (
    keras.layers.InputLayer,
    keras.layers.BatchNormalization,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.PReLU,
    keras.layers.ELU,
    keras.layers.Dropout,
    keras.layers.SpatialDropout2D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.Rescaling,
    keras.layers.Normalization,
    keras.layers.Identity,
) + IDENTITY_AT_INFERENCE
_MERGE = (
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Multiply,
    keras.layers.Average,
    keras.layers.Maximum,
    keras.layers.Minimum,
    keras.layers.Concatenate,
)


def receptive_field(ref: LayerRef, height: int, width: int) -> Optional[Field]:
    """The field of `ref.layer`'s units for a model input of (height, width); None = whole image."""
    try:
        state = (Axis(height), Axis(width))
        for container, target, last, _ in ref.descent():
            state = _through(container, target, state, include_target=last)
        return Field(*state)
    except _Unknown:
        return None


def _through(container, target, state, include_target):
    """Field state at `target`'s output (or input, for a nested model on the path)."""
    if isinstance(container, keras.Sequential):
        for layer in container.layers:
            if layer is target and not include_target:
                return state
            state = _layer(layer, [state])
            if layer is target:
                return state
        raise _Unknown()
    memo = {}

    def tensor_state(tensor):
        key = id(tensor)
        if key not in memo:
            operation, node_index, _ = tensor._keras_history
            if isinstance(operation, keras.layers.InputLayer):
                memo[key] = state
            else:
                node = operation._inbound_nodes[node_index]
                memo[key] = _layer(operation, [tensor_state(t) for t in node.input_tensors])
        return memo[key]

    nodes = nodes_in(container, target)
    if len(nodes) != 1:
        raise _Unknown()
    if include_target:
        return _layer(target, [tensor_state(t) for t in nodes[0].input_tensors])
    inputs = nodes[0].input_tensors
    if len(inputs) != 1:
        raise _Unknown()
    return tensor_state(inputs[0])


def _layer(layer, states):
    if not states:
        raise _Unknown()
    if isinstance(layer, keras.Model):  # a nested model: its whole field, composed
        if len(states) != 1:
            raise _Unknown()
        if isinstance(layer, keras.Sequential):
            return _through(layer, layer.layers[-1], states[0], include_target=True)
        if len(layer.outputs) != 1:
            raise _Unknown()
        return _through(layer, layer.outputs[0]._keras_history.operation, states[0], include_target=True)
    if isinstance(layer, _MERGE):
        return tuple(_union([s[axis] for s in states]) for axis in (0, 1))
    if len(states) != 1:
        raise _Unknown()
    y, x = states[0]
    if _pointwise(layer):
        return y, x
    if any(computes_as(layer, cls) for cls in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
                                               keras.layers.SeparableConv2D)):
        kernel, strides, dilation = layer.kernel_size, layer.strides, layer.dilation_rate
        return tuple(
            axis.window(kernel[i], strides[i], dilation[i], layer.padding) for i, axis in enumerate((y, x))
        )
    if any(computes_as(layer, cls) for cls in (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        pool, strides = layer.pool_size, layer.strides
        return tuple(axis.window(pool[i], strides[i], 1, layer.padding) for i, axis in enumerate((y, x)))
    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, bottom), (left, right) = layer.padding
        return y.shifted(top, bottom), x.shifted(left, right)
    if isinstance(layer, keras.layers.Cropping2D):
        (top, bottom), (left, right) = layer.cropping
        return y.shifted(-top, -bottom), x.shifted(-left, -right)
    raise _Unknown()


def _pointwise(layer) -> bool:
    """A layer whose every output position depends on the same input position only. Layer
    norms and softmax qualify only over the channel axis; group norms never (they pool over
    the image)."""
    if any(computes_as(layer, cls) for cls in _ELEMENTWISE):
        return True
    if computes_as(layer, keras.layers.LayerNormalization) or computes_as(layer, keras.layers.Softmax):
        axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        return list(axes) in ([-1], [3])
    return False


def _union(axes):
    strides = {a.stride for a in axes}
    lengths = {a.length for a in axes}
    if len(strides) != 1 or len(lengths) != 1:
        raise _Unknown()
    start = min(a.offset for a in axes)
    end = max(a.offset + a.size for a in axes)
    return Axis(axes[0].length, end - start, axes[0].stride, start)
