"""A deconv result as a record (docs/FORMAT.md, method "deconv")."""

from __future__ import annotations

import numpy as np

from tb_featviz import imaging, metadata, summary


def deconv_record(layer: str, result) -> summary.Record:
    """A `DeconvResult`: per channel its projections grid and the matching patches grid."""
    projections, patches = result.projection_tiles(), result.patch_tiles()
    rows, cols = imaging.grid_shape(result.top_k) if result.top_k else (0, 0)
    return summary.make_record(
        layer,
        metadata.METHOD_DECONV,
        result.channels,
        [[p, q] for p, q in zip(projections, patches)],
        {
            "activation": result.values[:, 0] if result.top_k else np.zeros(len(result.channels)),
            "dead": [bool(d) for d in result.dead],
            "top_values": result.values.tolist(),
            "top_images": result.image_index.tolist(),
            "top_positions": result.position.tolist(),
            "top_boxes": result.boxes.tolist(),
        },
        settings={**result.settings, "rule": result.rule, "path": result.path,
                  "projected_from": result.projected_from, "contrast": imaging.ABSOLUTE},
        layout={"top_k": result.top_k, "grid": [rows, cols], "gap": 1,
                **summary.planes_layout(result.patches.shape[-1])},
    )
