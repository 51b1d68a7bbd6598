"""Filter weights as pictures: for each output channel, the filter the layer really applies.

Keras 3 stores each convolution type's weights differently; what a user wants to see is, per
output channel, the weights that connect it to each input channel:

* ``Conv2D`` (kh, kw, in/groups, out): output channel o reads only its group's input channels;
  a dilated kernel is shown with its holes (the taps where they fall on the input).
* ``DepthwiseConv2D`` (kh, kw, in, multiplier): output channel ``c * multiplier + m`` reads input
  channel c alone: one kh x kw slice.
* ``SeparableConv2D`` (depthwise then pointwise): the effective kh x kw x in filter,
  ``sum_m depthwise[:, :, c, m] * pointwise[c * multiplier + m, o]``.
* ``Conv2DTranspose`` (kh, kw, **out, in**): what one input unit adds to output channel o
  around it ("stamp"); for the others the tile's (y, x) is the input offset the weight
  multiplies ("template").

All four are checked against the layer's own response to impulse inputs in the tests. A first
layer over colour input is an RGB picture; otherwise each input-channel slice is a gray tile in
a row-major grid (at most `MAX_SLICES`, gaps in `imaging.GAP_COLOUR`), gray = 0, white positive,
black negative, all slices of a filter on one scale so their strengths compare.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import keras
import numpy as np

from tb_featviz import imaging
from tb_featviz.errors import ConfigurationError

MAX_SLICES = 64
TEMPLATE = "template"
STAMP = "stamp"


@dataclasses.dataclass
class WeightsResult:
    channels: np.ndarray  # (n,) output channels
    kernels: np.ndarray  # (n, kh, kw, slices) float: each output channel's effective filter
    input_channels: np.ndarray  # (n, slices) the input channel each slice reads
    norm: np.ndarray  # (n,) L2 norm of each filter
    mean: np.ndarray
    std: np.ndarray
    orientation: str = TEMPLATE
    colour: bool = False  # slices are the model input's red, green and blue
    settings: dict = dataclasses.field(default_factory=dict)  # how it was made, for the record

    def record(self, layer: str):
        """This result as the record FeatVizCallback writes (`tb_featviz.summary.write`)."""
        from tb_featviz.methods.weights.record import weights_record

        return weights_record(layer, self)

    def tiles(self, gap: int = 1) -> np.ndarray:
        """(n, H, W, 1 or 3) uint8 pictures of the filters (see module docstring)."""
        if self.colour:
            return np.stack([imaging.signed_uint8(k) for k in self.kernels])
        tiles = []
        for kernel in self.kernels:
            picture = imaging.signed_uint8(kernel[..., :MAX_SLICES])
            tiles.append(imaging.mosaic(np.moveaxis(picture, -1, 0)[..., None], gap))  # (in, kh, kw, 1)
        return np.stack(tiles)

    def layout(self) -> dict:
        shown = min(self.kernels.shape[-1], MAX_SLICES)
        return {
            "kernel_shape": list(self.kernels.shape[1:]),
            "orientation": self.orientation,
            "colour": self.colour,
            "slices_shown": shown,
        }


@dataclasses.dataclass(frozen=True)
class EffectiveFilters:
    """Every output channel's filter over the input channels it reads."""

    kernels: np.ndarray  # (out, kh, kw, slices)
    input_channels: np.ndarray  # (out, slices)
    orientation: str


SUPPORTED = "Conv2D (grouped and dilated too), DepthwiseConv2D, SeparableConv2D, Conv2DTranspose"


def effective_filters(layer) -> EffectiveFilters:
    """The filters `layer` applies, per output channel (see the module docstring)."""
    kind = _kind(layer)
    if kind is None:
        raise ConfigurationError(
            f"layer {layer.name!r} ({type(layer).__name__}) has no 2-D convolution filters tb-featviz "
            f"can show; method 'weights' applies to {SUPPORTED}"
        )
    if kind == "transpose":
        kernel = _value(layer.kernel)  # (kh, kw, out, in)
        kernels = np.moveaxis(kernel, 2, 0)  # (out, kh, kw, in)
        inputs = np.broadcast_to(np.arange(kernel.shape[3]), (kernel.shape[2], kernel.shape[3]))
        return EffectiveFilters(_dilate(kernels, layer.dilation_rate), np.array(inputs), STAMP)
    if kind == "depthwise":
        kernel = _value(layer.kernel)  # (kh, kw, in, multiplier)
        kh, kw, cin, multiplier = kernel.shape
        kernels = kernel.reshape(kh, kw, cin * multiplier)  # output channel c * multiplier + m
        kernels = np.moveaxis(kernels, -1, 0)[..., None]
        inputs = np.repeat(np.arange(cin), multiplier)[:, None]
        return EffectiveFilters(_dilate(kernels, layer.dilation_rate), inputs, TEMPLATE)
    if kind == "separable":
        depthwise = _value(layer.depthwise_kernel)  # (kh, kw, in, multiplier)
        pointwise = _value(layer.pointwise_kernel)[0, 0]  # (in * multiplier, out)
        kh, kw, cin, multiplier = depthwise.shape
        effective = np.einsum("hwcm,cmo->ohwc", depthwise, pointwise.reshape(cin, multiplier, -1))
        inputs = np.broadcast_to(np.arange(cin), (effective.shape[0], cin))
        return EffectiveFilters(_dilate(effective, layer.dilation_rate), np.array(inputs), TEMPLATE)
    kernel = _value(layer.kernel)  # (kh, kw, in / groups, out)
    groups = int(getattr(layer, "groups", 1) or 1)
    per_group_in, out = kernel.shape[2], kernel.shape[3]
    group = np.arange(out) // (out // groups)
    inputs = group[:, None] * per_group_in + np.arange(per_group_in)[None, :]
    return EffectiveFilters(_dilate(np.moveaxis(kernel, -1, 0), layer.dilation_rate), inputs, TEMPLATE)


def supports(layer) -> bool:
    return _kind(layer) is not None


def _kind(layer):
    """The convolution type whose computation tb-featviz knows: the Keras class itself, or a
    subclass that leaves the computation (`call`) alone."""
    kinds = (
        (keras.layers.Conv2DTranspose, "transpose"),
        (keras.layers.DepthwiseConv2D, "depthwise"),
        (keras.layers.SeparableConv2D, "separable"),
        (keras.layers.Conv2D, "conv"),
    )
    for cls, kind in kinds:
        if isinstance(layer, cls):
            if type(layer).call is not cls.call or getattr(layer, "kernel", None) is None and kind != "separable":
                return None
            if kind == "separable" and getattr(layer, "depthwise_kernel", None) is None:
                return None
            return kind
    return None


def _value(variable) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float32)


def _dilate(kernels: np.ndarray, dilation) -> np.ndarray:
    """(out, kh, kw, in) taps -> the filter over input pixels, zeros between dilated taps."""
    dy, dx = (int(d) for d in dilation)
    if dy == dx == 1:
        return kernels
    out, kh, kw, cin = kernels.shape
    spread = np.zeros((out, dy * (kh - 1) + 1, dx * (kw - 1) + 1, cin), kernels.dtype)
    spread[:, ::dy, ::dx] = kernels
    return spread


def filter_weights(layer, channels: Sequence[int], colour: bool = False) -> WeightsResult:
    """The chosen output channels' filters of a convolution layer, with per-filter numbers.

    `colour`: the layer reads the model's RGB input directly (its filters are RGB pictures).
    """
    filters = effective_filters(layer)
    channels = np.asarray(list(channels), dtype=np.int32)
    kernels = filters.kernels[channels]
    flat = kernels.reshape(len(channels), -1).astype(np.float64)
    return WeightsResult(
        channels=channels,
        kernels=kernels,
        input_channels=filters.input_channels[channels],
        norm=np.sqrt(np.sum(flat**2, axis=1)),
        mean=flat.mean(axis=1) if flat.size else np.zeros(len(channels)),
        std=flat.std(axis=1) if flat.size else np.zeros(len(channels)),
        orientation=filters.orientation,
        colour=colour and kernels.shape[-1] == 3,
    )


def output_channels(layer) -> int:
    return int(effective_filters(layer).kernels.shape[0])
