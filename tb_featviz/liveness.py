"""Which channels are dead: their output is the same value wherever and whatever they look at.

A dead channel carries no information: for a ReLU that is "never positive" (always 0), for a
capped relu6 also "always 6". The test runs the layer on real images where there are any (the
probe images: dead *on the data*, the dying-ReLU sense) and otherwise on a fixed set of varied
test images plus the final AM images. A constant start image is never enough: a channel that
does not fire on flat gray can fire strongly on photographs. Without probe images, a channel
that is constant on all of those gets one more chance before it is called dead: gradient ascent
on its strongest unit from several varied starts (`SEARCH_STARTS`). Only a layer with its own
ReLU-family nonlinearity is judged without probes: behind a silent ReLU (a pooling or dropout
layer after it) the output is flat and ties everywhere, and no search can tell dead from
rarely firing.

"The same value" is judged up to float32 rounding (`is_constant`), so every CPU calls the same
channels dead.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from tb_featviz import backend

TEST_IMAGES = 24
SEARCH_STEPS = 48
SEARCH_STARTS = 8
DEAD_TEST_WITHOUT_PROBES = (
    f"{TEST_IMAGES} varied test images, the AM images and a {SEARCH_STEPS}-step search from "
    f"{SEARCH_STARTS} starts"
)
NO_DEAD_TEST = "nothing: without probe images only layers with their own ReLU are tested"
# A channel is constant when its range is at most this fraction of its largest magnitude. Why not
# exact equality: float32 keeps 24 bits (one ulp is 6e-8 to 1.2e-7 of a value), and CPUs sum a
# channel's terms in different orders (AVX-512 vs AVX2 kernels, oneDNN vs Eigen, the batch size),
# so values that no input really changes differ in their last bits on one CPU and not on another.
# Measured: MobileNetV3Small's logits after one epoch (the input's share ~1e-11 of a -0.0045 bias)
# range over 0 to 3 ulps (up to 3e-7 of the value) depending on the CPU. 1e-5 (~80 ulps) is far above
# that noise and far below any channel that carries a signal (a live channel's range is typically
# 1e-2 to 1 of its magnitude); a ReLU that never fires (all exact zeros) is constant at any tolerance.
CONSTANT_RTOL = 1e-5


def is_constant(low, high) -> np.ndarray:
    """True where a channel's values, from `low` to `high`, are one value up to float rounding
    (`CONSTANT_RTOL` of its magnitude). No values at all (low = inf, high = -inf) counts as constant."""
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    return ~(high - low > CONSTANT_RTOL * np.maximum(np.abs(low), np.abs(high)))


def constant_channels(outputs: Callable, batches: Iterable[np.ndarray], channels: np.ndarray,
                      batch_size: int = 64) -> np.ndarray:
    """(n,) bool: True where channel `channels[i]` has one value (`is_constant`) at every position
    of every image.

    `outputs(images, channels)` -> (b, ..., n) values of those channels; images in model layout.
    """
    channels_t = backend.tensor(channels, np.int32)
    low = np.full(len(channels), np.inf)
    high = np.full(len(channels), -np.inf)
    for images in batches:
        for start in range(0, len(images), batch_size):
            values = backend.numpy(outputs(backend.tensor(images[start : start + batch_size]), channels_t))
            if not np.all(np.isfinite(values)):
                raise FloatingPointError("the layer outputs NaN or infinity")
            flat = values.reshape(-1, len(channels))
            if len(flat):
                low, high = np.minimum(low, flat.min(axis=0)), np.maximum(high, flat.max(axis=0))
    return is_constant(low, high)


def search_starts(shape) -> np.ndarray:
    """`SEARCH_STARTS` of the test images, as different from each other as the set allows."""
    return test_images(shape)[[1, 3, 6, 7, 8, 12, 18, 19]]


def test_images(shape, seed: int = 0) -> np.ndarray:
    """`TEST_IMAGES` varied images in [0, 1], (n, h, w, c): flat levels, noise, smooth noise at
    three scales, gratings in four orientations and two frequencies, edges, spots and ramps. Fixed by `seed`, so the same channels are tested at every epoch."""
    height, width, depth = (int(s) for s in shape)
    rng = np.random.default_rng((seed, 7919))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    images = []
    for level in (0.0, 0.5, 1.0):
        images.append(np.full((height, width, depth), level))
    images.append(rng.random((height, width, depth)))
    images.append((rng.random((height, width, depth)) > 0.5).astype(np.float64))
    for scale in (2, 4, 8):
        coarse = rng.random((height // scale + 2, width // scale + 2, depth))
        smooth = np.kron(coarse, np.ones((scale, scale, 1)))[:height, :width]
        images.append((smooth - smooth.min()) / max(np.ptp(smooth), 1e-9))
    for period in (4.0, max(8.0, min(height, width) / 3)):
        for angle in (0.0, 45.0, 90.0, 135.0):
            theta = np.deg2rad(angle)
            phase = (np.cos(theta) * xx + np.sin(theta) * yy) * 2 * np.pi / period
            grating = 0.5 + 0.5 * np.sin(phase)
            images.append(np.repeat(grating[..., None], depth, axis=2))
    for axis in (0, 1):
        edge = (yy if axis == 0 else xx) >= (height if axis == 0 else width) / 2
        images.append(np.repeat(edge[..., None].astype(np.float64), depth, axis=2))
    for value in (1.0, 0.0):
        spot = np.full((height, width), 1.0 - value)
        spot[height // 2 - max(1, height // 8) : height // 2 + max(1, height // 8),
             width // 2 - max(1, width // 8) : width // 2 + max(1, width // 8)] = value
        images.append(np.repeat(spot[..., None], depth, axis=2))
    for ramp in (xx / max(width - 1, 1), yy / max(height - 1, 1)):
        images.append(np.repeat(ramp[..., None], depth, axis=2))
    images.append(rng.random((height, width, depth)) * 0.2 + 0.4)
    images.append(np.clip(rng.normal(0.5, 0.3, (height, width, depth)), 0, 1))
    assert len(images) == TEST_IMAGES
    return np.stack(images).astype(np.float32)
