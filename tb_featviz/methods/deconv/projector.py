"""Deconvnet projections (Zeiler & Fergus 2013) and guided backprop.

For each channel: its top-k activations over a fixed probe set (images x positions), each kept
alone and projected back to pixel space. The deconvnet's three steps — unpool with the forward
pass's switches, rectify, filter with the transposed kernels — are exactly backprop through the
model with every ReLU's backward rule replaced by relu(upstream): max-pool's gradient routes
through the switches and a convolution's input gradient is the transposed convolution. So the
projection runs the model's own graph (nested models, BatchNorm in inference, residual adds)
under the backward rules of `tb_featviz.backward`. The projection is cropped to the unit's receptive field and shown
beside the image patch under it.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np
from keras import ops

from tb_featviz import backend, backward, imaging, liveness
from tb_featviz.backward import RULES
from tb_featviz.receptive_field import Field
from tb_featviz.target import Target


@dataclasses.dataclass
class DeconvResult:
    """Per chosen channel, its k strongest units on the probe set and their projections."""

    channels: np.ndarray  # (n,)
    values: np.ndarray  # (n, k) activation of each top unit, strongest first
    image_index: np.ndarray  # (n, k) which probe image
    position: np.ndarray  # (n, k, 2) row, col in the layer's output (0, 0 for unit layers)
    boxes: np.ndarray  # (n, k, 4) top, left, bottom, right in input pixels (may exceed the image)
    projections: np.ndarray  # (n, k, ph, pw, c) float, cropped to the receptive field
    patches: np.ndarray  # (n, k, ph, pw, c) the probe image under it (outside the image: 0)
    dead: np.ndarray  # (n,) bool: the same value at every position of every probe image
    rule: str = backward.DECONVNET
    path: list = dataclasses.field(default_factory=list)  # each nonlinearity on the path and its rule
    value_range: tuple = (0.0, 1.0)  # of the probe images, for showing patches as the model sees them
    projected_from: str = "output"  # target.PRE_ACTIVATION or OUTPUT
    settings: dict = dataclasses.field(default_factory=dict)  # how it was made, for the record

    @property
    def top_k(self) -> int:
        return self.values.shape[1]

    def record(self, layer: str):
        """This result as the record FeatVizCallback writes (`tb_featviz.summary.write`)."""
        from tb_featviz.methods.deconv.record import deconv_record

        return deconv_record(layer, self)

    def projection_tiles(self, gap: int = 1) -> np.ndarray:
        """(n, H, W, 1|3) uint8: each channel's k projections in a near-square grid (gray = 0,
        each projection on its own symmetric scale: a projection's units are arbitrary)."""
        return np.stack([
            imaging.mosaic(np.stack([imaging.displayable(imaging.signed_uint8(p)) for p in row]), gap)
            for row in self.projections
        ])

    def patch_tiles(self, gap: int = 1, contrast: str = imaging.ABSOLUTE) -> np.ndarray:
        """(n, H, W, 1|3) uint8: the matching image patches, in the same grid, as the model sees
        them (the input range to black..white) or, with contrast="stretch", stretched per patch."""
        low, high = self.value_range
        return np.stack([
            imaging.mosaic(np.stack([
                imaging.displayable(imaging.to_uint8((p - low) / (high - low), contrast)) for p in row
            ]), gap)
            for row in self.patches
        ])


class DeconvProjector:
    """Top-k search and projection for one layer; reusable across epochs (traces once).

    `target` says what the top units are ranked by (the layer output) and where projections
    start (the pre-activation); `steps` are the nonlinearities on the path (`backward`).
    """

    def __init__(
        self,
        target: Target,
        steps: list,
        field: Optional[Field],
        rule: str = backward.DECONVNET,
        *,
        value_range: tuple = (0.0, 1.0),
        channels_first: bool = False,
        batch_size: int = 128,
        settings: Optional[dict] = None,
    ):
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        self._target = target
        self._steps = steps
        self._field = field
        self._rule = rule
        self._value_range = tuple(value_range)
        self._channels_first = channels_first
        self._batch_size = int(batch_size)
        self._settings = dict(settings or {})
        model = target.ref.model
        self._activations_fn = backend.compiled(self._activations, model)
        self._project_fn = backend.compiled(self._project, model)
        self._gradient = backend.value_and_grad(self._objective)

    def run(self, images: np.ndarray, channels: Sequence[int], top_k: int = 9) -> DeconvResult:
        """`images`: (n, h, w, c) float32, channels last, in the model's value range."""
        images = np.asarray(images, dtype=np.float32)
        channels = np.asarray(list(channels), dtype=np.int32)
        values, flat_index, spatial, dead = self._top_units(images, channels, top_k)
        k = values.shape[1]
        if spatial:
            image_index, rows, cols = np.unravel_index(flat_index, (len(images),) + spatial)
        else:  # a unit layer: one "position" per image
            image_index, rows, cols = flat_index, np.zeros_like(flat_index), np.zeros_like(flat_index)
        gradients = np.zeros((len(channels), k) + images.shape[1:], np.float32)
        live = [(i, j) for i in range(len(channels)) for j in range(k) if values[i, j] != 0 and not dead[i]]
        with backward.applied(self._steps, self._rule):
            for start in range(0, len(live), self._batch_size):
                batch = live[start : start + self._batch_size]
                real = len(batch)
                # Pad to a multiple of 8 (zero-valued copies) so epochs reuse one trace.
                batch = batch + [batch[0]] * (min(self._batch_size, -(-real // 8) * 8) - real)
                selection = np.zeros((len(batch), 4), np.int32)
                for b, (i, j) in enumerate(batch):
                    selection[b] = (rows[i, j], cols[i, j], channels[i], 0)
                grads = backend.numpy(self._project_fn(
                    backend.tensor(images[[image_index[i, j] for i, j in batch]]),
                    backend.tensor(selection),
                    backend.tensor([values[i, j] if b < real else 0.0 for b, (i, j) in enumerate(batch)], np.float32),
                ))
                for b, (i, j) in enumerate(batch[:real]):
                    gradients[i, j] = grads[b]
        if not np.all(np.isfinite(gradients)):
            raise FloatingPointError("deconv projection contains NaN or infinity")
        boxes = self._boxes(rows, cols, images.shape[1:3])
        projections = _crop_all(gradients, boxes)
        patches = _crop_all(images[image_index], boxes)
        position = np.stack([rows, cols], axis=-1) if spatial else np.zeros(values.shape + (2,), np.int64)
        return DeconvResult(
            channels, values, image_index, position, boxes, projections, patches, dead, self._rule,
            backward.record(self._steps, self._rule), self._value_range, self._target.maximized,
            dict(self._settings),
        )

    def _model_input(self, images):
        return ops.transpose(images, (0, 3, 1, 2)) if self._channels_first else images

    def _activations(self, images, channels):
        return ops.take(self._target.output(self._model_input(images)), channels, axis=-1)

    def _top_units(self, images, channels, top_k):
        """Per channel, the k largest activations over all images and positions, merged per
        batch, and whether the channel is constant (dead) over them all."""
        best_values = best_index = spatial = None
        low = np.full(len(channels), np.inf, np.float32)
        high = np.full(len(channels), -np.inf, np.float32)
        offset = 0
        for start in range(0, len(images), self._batch_size):
            chunk = backend.numpy(self._activations_fn(backend.tensor(images[start : start + self._batch_size]),
                                                       backend.tensor(channels)))
            if not np.all(np.isfinite(chunk)):
                raise FloatingPointError(f"layer {self._target.ref.name!r} outputs NaN or infinity on the probe images")
            spatial = chunk.shape[1:-1]
            flat = chunk.reshape(chunk.shape[0] * int(np.prod(spatial, dtype=np.int64)), len(channels)).T
            low, high = np.minimum(low, flat.min(axis=1)), np.maximum(high, flat.max(axis=1))
            index = np.arange(flat.shape[1]) + offset
            offset += flat.shape[1]
            if best_values is not None:
                flat = np.concatenate([best_values, flat], axis=1)
                index = np.concatenate([best_index, np.broadcast_to(index, (len(channels), len(index)))], axis=1)
            else:
                index = np.broadcast_to(index, flat.shape)
            order = _top_k_order(flat, top_k)
            best_values = np.take_along_axis(flat, order, axis=1)
            best_index = np.take_along_axis(index, order, axis=1)
        if best_values is None:
            empty = np.zeros((len(channels), 0))
            return empty.astype(np.float32), empty.astype(np.int64), (), np.ones(len(channels), bool)
        return best_values, best_index, tuple(spatial), liveness.is_constant(low, high)

    def _project(self, images, selection, values):
        """Gradient of (value * the selected unit's pre-activation) w.r.t. the input, one unit
        per batch element."""
        return self._gradient(images, selection, values)[2]

    def _objective(self, images, selection, values):
        activations = self._target.pre(self._model_input(images))
        if len(activations.shape) == 4:  # the unit at (row, col, channel): its index in the flat map
            _, height, width, depth = activations.shape
            unit = (selection[:, 0] * width + selection[:, 1]) * depth + selection[:, 2]
            flat = ops.reshape(activations, (-1, height * width * depth))  # the batch may be unknown when traced
        else:
            unit, flat = selection[:, 2], activations
        picked = ops.squeeze(ops.take_along_axis(flat, ops.expand_dims(unit, 1), axis=1), 1)
        return ops.sum(picked * values), None

    def _boxes(self, rows, cols, image_hw) -> np.ndarray:
        height, width = image_hw
        boxes = np.zeros(rows.shape + (4,), np.int64)
        for index in np.ndindex(rows.shape):
            if self._field is None:
                boxes[index] = (0, 0, height, width)
            else:
                top, left, bottom, right = self._field.box(int(rows[index]), int(cols[index]))
                # A field larger than the image shows the image, not mostly padding.
                if bottom - top >= height:
                    top, bottom = 0, height
                if right - left >= width:
                    left, right = 0, width
                boxes[index] = (top, left, bottom, right)
        return boxes


def _top_k_order(values: np.ndarray, k: int) -> np.ndarray:
    """Per row, the positions of the k largest values, largest first; ties go to the earliest
    position (rows hold earlier images and positions first). Same result as a stable argsort
    of -values cut at k, without sorting whole rows: partition, then sort the few candidates."""
    rows, width = values.shape
    k = min(k, width)
    if k == 0:
        return np.zeros((rows, 0), np.int64)
    kth = -np.partition(-values, k - 1, axis=1)[:, k - 1]  # the k-th largest value per row
    order = np.empty((rows, k), np.int64)
    for row in range(rows):
        above = np.flatnonzero(values[row] > kth[row])
        ties = np.flatnonzero(values[row] == kth[row])[: k - len(above)]
        candidates = np.concatenate([above, ties])
        order[row] = candidates[np.argsort(-values[row, candidates], kind="stable")]
    return order


def _crop_all(images: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Crop (..., H, W, c) images at (..., 4) boxes of equal size; outside the image is 0."""
    lead = boxes.shape[:-1]
    if not np.prod(lead, dtype=np.int64):
        return np.zeros(lead + (0, 0, images.shape[-1]), np.float32)
    sizes = boxes[..., 2:] - boxes[..., :2]
    height, width = int(sizes[..., 0].max()), int(sizes[..., 1].max())
    out = np.zeros(lead + (height, width, images.shape[-1]), np.float32)
    full_h, full_w = images.shape[-3], images.shape[-2]
    for index in np.ndindex(lead):
        top, left, bottom, right = (int(v) for v in boxes[index])
        src_top, src_left = max(top, 0), max(left, 0)
        src_bottom, src_right = min(bottom, full_h), min(right, full_w)
        if src_bottom <= src_top or src_right <= src_left:
            continue
        out[index][src_top - top : src_bottom - top, src_left - left : src_right - left] = images[index][
            src_top:src_bottom, src_left:src_right
        ]
    return out
