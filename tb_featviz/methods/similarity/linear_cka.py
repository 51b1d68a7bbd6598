"""Linear CKA (Kornblith et al. 2019, "Similarity of Neural Network Representations Revisited"),
in NumPy: how alike two representations of the same examples are, from 0 to 1.

Linear CKA compares layers reliably where CCA does not, and is invariant to orthogonal
transforms and isotropic scaling of either representation. It needs only each representation's
centred Gram matrix K = X Xᵀ (n × n, X: the examples' features with each feature's mean removed),
which is why the similarity records store that (never the features of a wide layer):
CKA = ⟨K_a, K_b⟩_F / (‖K_a‖_F ‖K_b‖_F).
"""

from __future__ import annotations

import numpy as np


def centred_features(x) -> np.ndarray:
    """(n, ...) activations -> (n, features) float64, each feature's mean over the n examples removed."""
    flat = np.asarray(x, dtype=np.float64)
    if flat.ndim < 1 or len(flat) < 2:
        raise ValueError(f"CKA compares representations of at least 2 examples; got an array of shape {flat.shape}")
    flat = flat.reshape(len(flat), -1)
    return flat - flat.mean(axis=0, keepdims=True)


def centred_gram(x) -> np.ndarray:
    """The centred Gram matrix K = X Xᵀ (n × n, float64) of (n, ...) activations: what a
    similarity record stores."""
    features = centred_features(x)
    return features @ features.T


def cka_of_grams(k_a, k_b) -> float:
    """Linear CKA of two centred Gram matrices of the same n examples: ⟨K_a, K_b⟩ / (‖K_a‖ ‖K_b‖).
    NaN when either is zero (a representation that is the same for every example)."""
    k_a, k_b = np.asarray(k_a, np.float64), np.asarray(k_b, np.float64)
    if k_a.shape != k_b.shape or k_a.ndim != 2 or k_a.shape[0] != k_a.shape[1]:
        raise ValueError(f"CKA compares Gram matrices of the same examples: shapes {k_a.shape} and {k_b.shape}")
    norms = _frobenius(k_a) * _frobenius(k_b)
    return float(np.sum(k_a * k_b) / norms) if norms > 0 else float("nan")


def cka_of_features(x, y) -> float:
    """Linear CKA from the features themselves: ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F), columns centred."""
    x, y = centred_features(x), centred_features(y)
    _same_examples(x, y)
    norms = _frobenius(x.T @ x) * _frobenius(y.T @ y)
    return float(_frobenius(y.T @ x) ** 2 / norms) if norms > 0 else float("nan")


def cka(x, y) -> float:
    """Linear CKA of two representations of the same n examples, arrays shaped (n, ...) (e.g. a
    layer's activations on n images, flattened per example):

        CKA(X, Y) = ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F), X and Y with each column's mean removed,

    which equals ⟨K, L⟩_F / (‖K‖_F ‖L‖_F) for the centred Gram matrices K = X Xᵀ and L = Y Yᵀ.
    1 for the same representation up to an orthogonal transform and a scale; near 0 for
    unrelated ones (for independent random features of d columns each, about d / (n + d): CKA
    of wide random layers is high). NaN when either is constant over the examples. Computed in
    float64 by whichever form is cheaper (features when they are fewer than the examples).
    """
    x, y = centred_features(x), centred_features(y)
    _same_examples(x, y)
    n, dx, dy = len(x), x.shape[1], y.shape[1]
    if n * n * (dx + dy) <= n * (dx * dy + dx * dx + dy * dy):
        return cka_of_grams(x @ x.T, y @ y.T)
    return cka_of_features(x, y)


def _frobenius(matrix: np.ndarray) -> float:
    # A plain sum, not np.linalg.norm: its BLAS call can cost milliseconds on a busy machine.
    return float(np.sqrt(np.sum(matrix * matrix)))


def _same_examples(x: np.ndarray, y: np.ndarray) -> None:
    if len(x) != len(y):
        raise ValueError(f"CKA compares representations of the same examples: {len(x)} and {len(y)} rows")
