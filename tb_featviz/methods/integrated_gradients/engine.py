"""Integrated gradients (Sundararajan et al. 2017): the image minus the baseline, times the
gradient of the class score averaged along the straight path between them (the paper's Riemann
sum, alpha = k/m for k = 1..m). Completeness says the attributions add up to F(x) - F(baseline);
each record states how far the sum is from it, relative to |F(x) - F(baseline)|.

Each image's whole path goes through one traced step (as many images per call as the batch size
holds, at least one), which returns its attributions: the path's gradients never leave the
device. The baseline's own score is a point of the path too (alpha 0, weight 0), so F(x) and
F(baseline) come from the same step.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
from keras import ops

from tb_featviz import backend
from tb_featviz.methods.attribution import AttributionResult
from tb_featviz.methods.attribution.batches import in_batches
from tb_featviz.methods.integrated_gradients.options import baseline_image


@dataclasses.dataclass
class IntegratedGradientsResult(AttributionResult):
    """`maps`: the attributions summed over the colour channels (signed); `attributions` (n, h,
    w, c) per channel; `input_scores` F(x), `baseline_scores` F(baseline); `completeness_error`
    |sum of attributions - (F(x) - F(baseline))| / |F(x) - F(baseline)| per image."""

    attributions: Optional[np.ndarray] = None
    input_scores: Optional[np.ndarray] = None
    baseline_scores: Optional[np.ndarray] = None
    completeness_error: Optional[np.ndarray] = None

    def numbers(self) -> dict:
        return {**super().numbers(), "completeness_error": self.completeness_error,
                "baseline_score": self.baseline_scores}


class IntegratedGradientsEngine:
    """Integrated gradients of one model's class scores."""

    signed = True
    result_type = IntegratedGradientsResult

    def __init__(self, score, spec, options, model):
        self.score, self.spec, self.options = score, spec, options
        self.baseline = baseline_image(options, spec)  # refused here, before epoch 1, if it does not fit
        self._step = backend.compiled(self._attributions, model)

    def _attributions(self, images, baselines, selector):
        """A batch of images' attributions (channels last) and their scores along the path."""
        m = self.options.steps
        alphas = np.arange(m + 1, dtype=np.float32) / m
        weights = np.array([0.0] + [1.0] * m, np.float32)  # alpha 0: the baseline's score only
        shape = tuple(images.shape[1:])
        along = (1, m + 1) + (1,) * len(shape)
        path = ops.expand_dims(baselines, 1) + ops.reshape(alphas, along) * ops.expand_dims(images - baselines, 1)
        rows = ops.reshape(path, (-1,) + shape)
        row_weights = ops.tile(weights, (ops.shape(images)[0],))

        def total(x):
            scores = self.score.of(self.score.logits(x), ops.repeat(selector, m + 1, axis=0))
            return ops.sum(scores * row_weights), scores

        _, scores, gradient = backend.value_and_grad(total)(rows)
        mean = ops.sum(ops.reshape(gradient, (-1, m + 1) + shape) * ops.reshape(weights, along), axis=1) / m
        attributions = (images - baselines) * mean
        if self.spec.channels_first:
            attributions = ops.transpose(attributions, (0, 2, 3, 1))
        return attributions, ops.reshape(scores, (-1, m + 1))

    def __call__(self, images: np.ndarray, selector: np.ndarray, progress=None) -> dict:
        n = len(images)
        baselines = np.broadcast_to(self.baseline, images.shape).astype(np.float32)
        per_call = max(1, self.options.batch_size // (self.options.steps + 1))  # whole paths: at least one
        attributions, scores = in_batches(self._step, (), (images, baselines, selector), per_call, progress)
        difference = scores[:, -1] - scores[:, 0]
        total = attributions.reshape(n, -1).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            error = np.abs(total - difference) / np.abs(difference)
        return {"maps": attributions.sum(axis=-1), "attributions": attributions.astype(np.float32),
                "input_scores": scores[:, -1], "baseline_scores": scores[:, 0], "completeness_error": error}

    def settings(self) -> dict:
        return {"map": f"integrated gradients (Sundararajan et al. 2017), {self.options.steps} steps from "
                       f"{self.options.describe_baseline()}, summed over the colour channels (signed)",
                "baseline": self.options.describe_baseline(), "steps": self.options.steps}
