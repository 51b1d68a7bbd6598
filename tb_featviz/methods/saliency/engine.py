"""Saliency maps (Simonyan et al. 2014): the largest |gradient| of the class score with respect
to the input over the colour channels, per pixel. With SmoothGrad (Smilkov et al. 2017, Eq. 3)
the map is the mean of the maps of N copies of the image with Gaussian noise added.

Every image and noisy copy goes through one traced step in batches. The noise is drawn on the
host from NumPy's generator seeded with (seed, image index): the same for an image at every
step and whatever the batch size, and no random stream of Keras or of training is touched.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from tb_featviz import backend
from tb_featviz.methods.attribution import AttributionResult
from tb_featviz.methods.attribution.batches import in_batches


def noise(options, spec, image: int) -> np.ndarray:
    """(samples, *model_shape) float32: the noise of one image's copies (zeros without SmoothGrad)."""
    shape = (options.samples,) + tuple(spec.model_shape)
    if options.smoothgrad is None:
        return np.zeros(shape, np.float32)
    low, high = spec.value_range
    generator = np.random.default_rng([options.seed, image])
    return generator.normal(0.0, options.noise * (high - low), shape).astype(np.float32)


class SaliencyEngine:
    """Saliency maps of one model's class scores."""

    signed = False
    result_type = AttributionResult

    def __init__(self, score, spec, options, model):
        self.score, self.spec, self.options = score, spec, options
        self._step = backend.compiled(self._maps, model)

    def _maps(self, images, index, noise_rows, selector):
        """One batch of rows (an image's copy each): its map (rows, h, w)."""
        inputs = ops.take(images, index, axis=0) + noise_rows

        def total(x):
            return ops.sum(self.score.of(self.score.logits(x), selector)), None

        gradient = backend.value_and_grad(total)(inputs)[2]
        if self.spec.channels_first:
            gradient = ops.transpose(gradient, (0, 2, 3, 1))
        return ops.max(ops.abs(gradient), axis=-1)

    def __call__(self, images: np.ndarray, selector: np.ndarray, progress=None) -> dict:
        samples = self.options.samples
        index = np.repeat(np.arange(len(images)), samples).astype(np.int32)
        rows = np.concatenate([noise(self.options, self.spec, i) for i in range(len(images))])
        (maps,) = in_batches(self._step, (images,), (index, rows, np.repeat(selector, samples, axis=0)),
                             self.options.batch_size, progress)
        return {"maps": maps.reshape((len(images), samples) + maps.shape[1:]).mean(axis=1)}

    def settings(self) -> dict:
        if self.options.smoothgrad is None:
            return {"map": "max over colour channels of |d score / d input| (Simonyan et al. 2014)"}
        return {"map": f"SmoothGrad (Smilkov et al. 2017): the mean of the saliency maps of {self.options.smoothgrad} "
                       f"copies with Gaussian noise of {self.options.noise:g} x the input range"}
