"""Filter weights as pictures: what each convolution kernel looks for, directly.

A first-layer filter over a colour input is itself a small RGB picture. A deeper filter has one
(kh, kw) slice per input channel; its tile lays those slices out in a grid (row-major, input
channel 0 first), gray = 0, white positive, black negative, all slices of a filter on one scale
so their strengths compare.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from tb_featviz import imaging
from tb_featviz.errors import ConfigurationError

MAX_SLICES = 64


@dataclasses.dataclass
class WeightsResult:
    channels: np.ndarray  # (n,) output channels
    kernels: np.ndarray  # (n, kh, kw, in) float
    norm: np.ndarray  # (n,) L2 norm of each filter
    mean: np.ndarray
    std: np.ndarray

    def tiles(self, gap: int = 1) -> np.ndarray:
        """(n, H, W, 1 or 3) uint8 pictures of the filters (see module docstring)."""
        if self.kernels.shape[-1] == 3:
            return np.stack([imaging.signed_uint8(k) for k in self.kernels])
        tiles = []
        for kernel in self.kernels:
            picture = imaging.signed_uint8(kernel[..., :MAX_SLICES])
            slices = np.moveaxis(picture, -1, 0)[..., None]  # (in, kh, kw, 1)
            tiles.append(imaging.tile_grid(slices, gap, fill=imaging.MID_GRAY) if len(slices) > 1 else slices[0])
        return np.stack(tiles)


def kernel_of(layer) -> np.ndarray:
    """The layer's convolution kernel as (kh, kw, in, out); depthwise kernels as (kh, kw, 1, in*m)."""
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        kernel = getattr(layer, "depthwise_kernel", None)
        if kernel is not None:
            value = np.asarray(kernel)
            kh, kw, cin, multiplier = value.shape
            return value.reshape(kh, kw, 1, cin * multiplier)
    value = None if kernel is None else np.asarray(kernel)
    if value is None or value.ndim != 4:
        raise ConfigurationError(
            f"layer {layer.name!r} has no 2-D convolution kernel; method 'weights' applies to "
            "Conv2D, DepthwiseConv2D and SeparableConv2D layers"
        )
    return value


def filter_weights(layer, channels: Sequence[int]) -> WeightsResult:
    """The chosen output channels' filters of a convolution layer, with per-filter numbers."""
    kernel = kernel_of(layer).astype(np.float32)
    channels = np.asarray(list(channels), dtype=np.int32)
    kernels = np.moveaxis(kernel, -1, 0)[channels]
    flat = kernels.reshape(len(channels), -1)
    return WeightsResult(
        channels=channels,
        kernels=kernels,
        norm=np.sqrt(np.sum(flat.astype(np.float64) ** 2, axis=1)),
        mean=flat.mean(axis=1) if flat.size else np.zeros(len(channels)),
        std=flat.std(axis=1) if flat.size else np.zeros(len(channels)),
    )
