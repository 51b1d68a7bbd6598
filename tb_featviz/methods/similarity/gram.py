"""A layer's representation of the probe images, kept as its centred Gram matrix.

The activations of the n probe images are flattened per image (every unit of every feature map
is a feature), each feature's mean over the probes removed, and K = X Xᵀ (n × n) is kept: all
that linear CKA needs to compare this layer with itself at another step, with another layer,
or with another run on the same probes (`linear_cka.py`). Everything runs on the backend (any of
TensorFlow, JAX, PyTorch); only the n × n matrix comes back.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Optional

import numpy as np
from keras import ops

from tb_featviz import backend
from tb_featviz.methods.similarity import linear_cka

@dataclasses.dataclass
class SimilarityResult:
    """`gram`: the centred Gram matrix (n × n, float64) of a layer's activations on n probe
    images; `features`: values per image (h × w × channels, or units); `factor`: for a layer with
    fewer features than half the probes, its centred features (n × features), K = F Fᵀ, which
    its record stores instead (smaller, and as exact)."""

    gram: np.ndarray
    features: int
    factor: Optional[np.ndarray] = None
    settings: dict = dataclasses.field(default_factory=dict)

    @property
    def probes(self) -> int:
        return len(self.gram)

    def variance(self) -> float:
        """The layer's total variance over the probe images: trace(K) / n."""
        return float(np.trace(self.gram) / self.probes)

    def cka(self, other: "SimilarityResult") -> float:
        """Linear CKA with another result on the same probe images (another step, layer or run)."""
        return linear_cka.cka_of_grams(self.gram, other.gram)

    def stored(self) -> tuple:
        """(form, float32-to-be array) as the record holds it (`metadata.GRAM_FORMS`): the factor
        when it is smaller than the upper triangle, else the upper triangle, row by row."""
        n = self.probes
        if self.factor is not None and self.factor.size < n * (n + 1) // 2:
            return "factor", self.factor
        return "upper", self.gram[np.triu_indices(n)]

    def record(self, layer: str):
        """This result as the record FeatVizCallback writes (`tb_featviz.summary.write`)."""
        from tb_featviz.methods.similarity.record import similarity_record

        return similarity_record(layer, self)


def fingerprint(probes: np.ndarray) -> str:
    """Which probe images these are (dtype, shape and values): runs compare only on the same ones."""
    array = np.ascontiguousarray(probes)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()[:16]


class GramRecorder:
    """The centred Gram matrix of one layer on fixed probe images, at whatever weights the model
    has when `run` is called. `target`: the layer's `target.Target` (its output is computed from
    its pre-activation, which must be finite: a compiled TensorFlow graph fuses conv and ReLU, and
    its fused kernel turns NaN into 0, so a layer with NaN weights would look fine after the ReLU).

    The activations stay on the backend's device and the product is float32 there (a BLAS or
    oneDNN product: on this machine's CPU ~20x faster than NumPy's beside TensorFlow's threads);
    the matrix is stored as float32 anyway, and its CKA agrees with float64 to about 1e-7."""

    def __init__(self, target, model, batch_size: int = 64, settings: Optional[dict] = None):
        self._target = target
        self._batch_size = int(batch_size)
        self.settings = dict(settings or {})
        self._features = backend.compiled(self._flat, model)  # model: whose weights it reads
        self._gram = backend.compiled(_centred_gram)

    def _flat(self, x):
        pre = self._target.pre(x)
        values = self._target.activate(pre)
        return ops.reshape(values, (-1, int(np.prod(values.shape[1:])))), ops.all(ops.isfinite(pre))

    def run(self, images: np.ndarray) -> SimilarityResult:
        """`images` as the model takes them (layout and values), in batches (a last short batch
        padded with its first image, so every call has one shape)."""
        parts = []
        for start in range(0, len(images), self._batch_size):
            batch = images[start : start + self._batch_size]
            real = len(batch)
            if real < self._batch_size and start > 0:
                batch = np.concatenate([batch, np.repeat(batch[:1], self._batch_size - real, axis=0)])
            values, finite = self._features(backend.tensor(batch))
            if not bool(backend.numpy(finite)):
                raise FloatingPointError(f"layer {self._target.ref.name!r} computes NaN or infinity")
            parts.append(values[:real])
        flat = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=0)
        n, features = (int(d) for d in flat.shape)
        gram = backend.numpy(self._gram(flat)).astype(np.float64)
        gram = (gram + gram.T) / 2  # a float32 product need not be exactly symmetric
        factor = None
        if features < (n + 1) / 2:  # stored as the centred features: fewer numbers than the triangle
            factor = backend.numpy(flat).astype(np.float64)
            factor -= factor.mean(axis=0, keepdims=True)
            gram = factor @ factor.T  # from the features themselves: the record and `gram` agree
        return SimilarityResult(gram, features, factor, dict(self.settings))


def _centred_gram(flat):
    """(n, features) -> the n x n Gram matrix of the features with each one's mean removed."""
    centred = flat - ops.mean(flat, axis=0, keepdims=True)
    return ops.matmul(centred, ops.transpose(centred))
