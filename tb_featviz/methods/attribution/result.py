"""An attribution result: a map per probe image, with the class it explains and how it compares
with the run's first maps; drawn as tiles over the gray image, written as a record."""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from tb_featviz import imaging, summary

ROLES = ("overlay", "map")  # the map over the gray image, and the map alone


@dataclasses.dataclass
class AttributionResult:
    """Per probe image (arrays of length n): `maps` (n, height, width) float32; the class each
    explains (`classes`: the true one or the predicted one), its `scores` (logits), the true
    `labels` (None when not given), the model's `predicted` class, and `spearman` (rho with the
    same image's map at `reference_step`, the first step drawn; see `sanity`). `signed` maps
    (integrated gradients) are drawn diverging around 0; the others from 0 up."""

    method: str
    images: np.ndarray  # (n, h, w, c) in [0, 1], for display
    maps: np.ndarray
    classes: np.ndarray
    scores: np.ndarray
    predicted: np.ndarray
    labels: Optional[np.ndarray] = None
    spearman: Optional[np.ndarray] = None
    reference_step: Optional[int] = None
    signed: bool = False
    settings: dict = dataclasses.field(default_factory=dict)

    def scales(self) -> np.ndarray:
        """(n, 2) ends of each map's colour scale: 0 to its largest value, or for a signed map
        symmetric around 0, to its largest magnitude (a map of zeros: 0 to 1)."""
        flat = np.abs(self.maps.reshape(len(self.maps), -1)) if self.signed else self.maps.reshape(len(self.maps), -1)
        top = np.max(flat, axis=1) if flat.size else np.zeros(len(self.maps))
        top = np.where(top > 0, top, 1.0)
        return np.stack([-top if self.signed else np.zeros_like(top), top], axis=1)

    def colours(self) -> tuple:
        return imaging.DIVERGING if self.signed else imaging.HEATMAP

    def map_tiles(self) -> np.ndarray:
        """(n, h, w, 3) uint8: each map alone on its colour scale."""
        return np.round(self._coloured()).astype(np.uint8)

    def overlay_tiles(self) -> np.ndarray:
        """(n, h, w, 3) uint8: each map's colours over its image, drawn gray."""
        return np.stack([imaging.overlay(image, colours) for image, colours in zip(self.images, self._coloured())])

    def _coloured(self) -> np.ndarray:
        low, high = self.scales().T
        unit = (self.maps - low[:, None, None]) / (high - low)[:, None, None]
        return imaging.heatmap_colours(unit, self.colours())

    def numbers(self) -> dict:
        """Per-image numbers of the record (docs/FORMAT.md); methods add their own."""
        numbers = {"score": self.scores, "class": self.classes.tolist(), "predicted": self.predicted.tolist(),
                   "spearman_vs_first": self.spearman if self.spearman is not None else [None] * len(self.maps),
                   "scale": self.scales().tolist()}
        if self.labels is not None:
            numbers["label"] = self.labels.tolist()
        return numbers

    def record(self, layer: str) -> summary.Record:
        """This result as the record FeatVizCallback writes (`tb_featviz.summary.write`)."""
        layout = {"item": "image", "colormap": [list(c) for c in self.colours()], "signed": self.signed,
                  "overlay_alpha": imaging.OVERLAY_ALPHA}
        images = [[overlay, alone] for overlay, alone in zip(self.overlay_tiles(), self.map_tiles())]
        settings = {**self.settings, "reference": {**self.settings.get("reference", {}), "step": self.reference_step}}
        return summary.make_record(layer, self.method, list(range(len(self.maps))), images, self.numbers(),
                                   settings=settings, layout=layout, roles=ROLES)
