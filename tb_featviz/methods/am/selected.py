"""Compute only the channels being maximized when the target is a convolution.

Maximizing 16 channels of a 256-filter conv layer needs 16 of its output maps, not 256: the
other 240 are discarded by the objective. For a plain Conv2D target we run the model up to the
layer's input, then convolve with just the kernels of the channels in the batch (sample i sees
its own channel at index i). Values equal the full layer's up to float summation order; the
saving is (filters - batch) / filters of the last layer's forward and backward cost.
"""

from __future__ import annotations

from typing import Optional

import keras
from keras import ops

from tb_featviz.model_access import LayerRef, forward_to


class SelectedChannelsForward:
    """x, channels -> pre-activations (n, h, w, n) of those channels of a Conv2D, one per sample."""

    def __init__(self, ref: LayerRef):
        self._layer = ref.layer
        self._to_input = forward_to(ref, layer_input=True)
        self.filters = int(self._layer.filters)

    @classmethod
    def for_layer(cls, ref: LayerRef) -> Optional["SelectedChannelsForward"]:
        """The fast path where it is exact in meaning: a plain, ungrouped, channels-last Conv2D."""
        layer = ref.layer
        if type(layer) is not keras.layers.Conv2D:
            return None
        if getattr(layer, "groups", 1) != 1 or layer.data_format != "channels_last":
            return None
        if getattr(layer, "lora_enabled", False) or layer.kernel is None:
            return None
        try:
            return cls(ref)
        except Exception:  # layers we cannot split out (shared, multi-input): use the full path
            return None

    def worthwhile(self, batch: int) -> bool:
        return batch * 2 <= self.filters

    def __call__(self, x, channels):
        layer = self._layer
        inputs = self._to_input(x)
        kernel = ops.cast(ops.take(layer.kernel, channels, axis=3), inputs.dtype)
        outputs = ops.conv(inputs, kernel, strides=layer.strides, padding=layer.padding,
                           data_format="channels_last", dilation_rate=layer.dilation_rate)
        if layer.use_bias:
            outputs = outputs + ops.cast(ops.take(layer.bias, channels), outputs.dtype)
        return outputs  # the pre-activation: what AM maximizes (target.py)
