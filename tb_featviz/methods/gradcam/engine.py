"""Grad-CAM (Selvaraju et al. 2017): a conv layer's feature maps A_k weighted by the spatially
averaged gradient of the class score, alpha_k = mean_ij d score / d A_k,ij; the map is
ReLU(sum_k alpha_k A_k), upsampled (bilinear) to the image. Every image goes through one traced
step in batches; the map at the layer's own resolution is kept too (`GradcamResult.cams`)."""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
from keras import ops

from tb_featviz import backend
from tb_featviz.methods.attribution import AttributionResult
from tb_featviz.methods.attribution.batches import in_batches
from tb_featviz.methods.gradcam.layers import opened
from tb_featviz.model_access import forward_to


@dataclasses.dataclass
class GradcamResult(AttributionResult):
    """`maps` at the image's size; `cams` (n, h, w) at the layer's; `layer` the conv layer."""

    cams: Optional[np.ndarray] = None
    layer: str = ""


class GradcamEngine:
    """Grad-CAM of one layer (`ref`) for one model's class scores."""

    signed = False
    result_type = GradcamResult

    def __init__(self, score, spec, options, model, ref):
        self.score, self.spec, self.options, self.ref = score, spec, options, ref
        gray = backend.tensor(np.full((1,) + spec.shape, 0.5, np.float32))
        self.shape = tuple(backend.numpy(forward_to(ref)(spec.to_model(gray))).shape[1:])  # as the layer gives it
        self._step = backend.compiled(self._cams, model)

    def _cams(self, images, selector, delta):
        seen: dict = {}

        def total(zero, x):
            with opened(self.ref.layer, zero, seen):
                logits = self.score.logits(x)
            return ops.sum(self.score.of(logits, selector)), seen["maps"]

        _, maps, gradient = backend.value_and_grad(total)(delta, images)
        if self.spec.channels_first:
            maps, gradient = ops.transpose(maps, (0, 2, 3, 1)), ops.transpose(gradient, (0, 2, 3, 1))
        weights = ops.mean(ops.cast(gradient, "float32"), axis=(1, 2))
        cams = ops.relu(ops.sum(ops.cast(maps, "float32") * weights[:, None, None, :], axis=-1))
        size = (self.spec.height, self.spec.width)
        upsampled = ops.image.resize(cams[..., None], size, interpolation="bilinear", data_format="channels_last")
        return upsampled[..., 0], cams

    def __call__(self, images: np.ndarray, selector: np.ndarray, progress=None) -> dict:
        delta = np.zeros((len(images),) + self.shape, np.float32)
        maps, cams = in_batches(self._step, (), (images, selector, delta), self.options.batch_size, progress)
        return {"maps": maps, "cams": cams.astype(np.float32), "layer": self.ref.name}

    def settings(self) -> dict:
        return {"map": f"Grad-CAM (Selvaraju et al. 2017) of layer {self.ref.name!r}: ReLU of its feature maps "
                       "weighted by the spatial mean of the score's gradient, upsampled bilinearly to the image",
                "layer_shape": list(self.shape)}
