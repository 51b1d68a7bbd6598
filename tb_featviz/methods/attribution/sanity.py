"""The sanity check of Adebayo et al. 2018 ("Sanity checks for saliency maps"), built in.

A map that barely changes when the model's weights are randomized shows the image, not the
model. Training starts from random weights, so the first step a run draws is that randomized
model: each record holds, per image, the Spearman rank correlation of its map with the same
image's map at the first step this runner drew (the reference), and the step it was.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

# A map whose rank correlation with the untrained model's stays above this after training
# started barely differs from it (the dashboard marks it).
BARELY_DIFFERS = 0.9


def ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of a flat array, ties given their average rank (as Spearman's rho needs)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)
    return (last - (counts - 1) / 2.0)[inverse.reshape(-1)]


def spearman(maps: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(n,) Spearman's rho of each map (n, h, w) with the reference map of the same image; NaN
    where a map is constant (no ranking to compare: a Grad-CAM all zero after its ReLU)."""
    rhos = []
    for a, b in zip(np.asarray(maps, np.float64), np.asarray(reference, np.float64)):
        x, y = ranks(a.ravel()), ranks(b.ravel())
        x, y = x - x.mean(), y - y.mean()
        norm = np.sqrt(np.sum(x * x) * np.sum(y * y))
        rhos.append(float(np.sum(x * y) / norm) if norm > 0 else float("nan"))
    return np.array(rhos, np.float64)


class FirstMaps:
    """The reference of one runner: the first finite maps it computed, and at which global step
    (None outside training). A resumed fit's runner starts again: its reference is its first
    step, which its records state (no step-0 reference in that fit)."""

    def __init__(self):
        self.maps: Optional[np.ndarray] = None
        self.step: Optional[int] = None

    def compare(self, maps: np.ndarray, step: Optional[int]) -> np.ndarray:
        """(n,) rho of `maps` with the reference, which `maps` become if there is none yet."""
        if self.maps is None and np.all(np.isfinite(maps)):
            self.maps, self.step = np.array(maps, np.float64), step
        if self.maps is None or self.maps.shape != np.shape(maps):
            return np.full(len(maps), np.nan)
        return spearman(maps, self.maps)

    def describe(self) -> dict:
        """What the record says about its reference."""
        return {"step": self.step, "statistic": "Spearman rank correlation of each map with the same image's map "
                "at the reference step", "barely_differs_above": BARELY_DIFFERS}
