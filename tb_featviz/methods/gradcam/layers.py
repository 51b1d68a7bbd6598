"""Grad-CAM's layers: which conv layer it weights by default, and a layer's output opened to
gradients (every backend differentiates with respect to an input, not to a tensor inside the
model: the layer's output gets a zero added, whose gradient is the output's)."""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import keras
from keras import ops

from tb_featviz.errors import ConfigurationError
from tb_featviz.model_access import LayerRef, find_layer, iter_layers, operations_before

CONV_LAYERS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D,
               keras.layers.Conv2DTranspose)


def reaches(ref: LayerRef, output: str) -> bool:
    """Whether the model's output (layer `output`) is computed from `ref.layer`."""
    if ref.name == output:
        return True
    try:
        before = operations_before(find_layer(ref.model, output))
    except ConfigurationError:  # a layer used twice on the way: not one Grad-CAM can open
        return False
    return any(op.operation is ref.layer for op in before)


def last_conv_layer(model, output: str) -> Optional[str]:
    """The last conv layer before the output (model order, nested models opened), as Grad-CAM's
    paper takes it; None if the model has none."""
    for ref in reversed(list(iter_layers(model))):
        if isinstance(ref.layer, CONV_LAYERS) and _maps_out(ref.layer) and reaches(ref, output):
            return ref.name
    return None


def _maps_out(layer) -> bool:
    """Whether the layer outputs (batch, height, width, channels) maps (a Conv1D does not)."""
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):  # not called in a graph: its kind says it
        return True


@contextlib.contextmanager
def opened(layer, delta, seen: dict) -> Iterator[None]:
    """Within the block, `layer` outputs its value plus `delta` (zeros: the value itself), kept in
    `seen["maps"]`. Entered inside the traced function, so every trace sees it."""
    had_own = "call" in vars(layer)
    original = layer.call

    def call(*args, **kwargs):
        value = original(*args, **kwargs)
        seen["maps"] = value + ops.cast(delta, value.dtype)
        return seen["maps"]

    layer.call = call
    try:
        yield
    finally:
        if had_own:
            layer.call = original
        else:
            del layer.call
