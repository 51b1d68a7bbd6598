"""Grad-CAM's options: those every attribution method has (its layer is the planned one)."""

from __future__ import annotations

import dataclasses

from tb_featviz.methods.attribution import AttributionOptions


@dataclasses.dataclass(frozen=True)
class GradcamOptions(AttributionOptions):
    """See `AttributionOptions` (images, target, batch_size)."""
