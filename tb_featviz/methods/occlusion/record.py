"""An occlusion result as a record (docs/FORMAT.md, method "occlusion")."""

from __future__ import annotations

from tb_featviz import imaging, metadata, summary
from tb_featviz.methods.occlusion.colours import OTHER_COLOUR


def occlusion_record(layer: str, result) -> summary.Record:
    """An `OcclusionResult` as a record: per probe image its heatmap (and class map on the output
    layer), the scores at every position and the colour scales the pictures use."""
    values, unoccluded, what = result.scores()
    n = len(values)
    numbers = {
        "score": unoccluded,
        "min_score": values.reshape(n, -1).min(axis=1),
        "scores": values.tolist(),
        "scale": result.score_scales().tolist(),
        "label": result.labels.tolist(),
    }
    layout = {
        "item": "image", "grid": list(values.shape[1:]), "size": result.size, "stride": result.stride,
        "boxes": result.boxes.reshape(-1, 4).tolist(), "colormap": [list(c) for c in imaging.HEATMAP],
        "overlay_alpha": imaging.OVERLAY_ALPHA,
    }
    heatmaps = result.heatmap_tiles()
    if result.activation is None:
        colours = result.class_colours()
        numbers.update(predicted=result.unoccluded_class.tolist(), classes=result.predicted_class.tolist())
        layout.update(class_colours={str(c): list(rgb) for c, rgb in colours.items()}, other_colour=list(OTHER_COLOUR))
        images = [[h, c] for h, c in zip(heatmaps, result.class_tiles(colours))]
        roles = ("heatmap", "classes")
    else:
        numbers["feature"] = result.feature.tolist()
        images = [[h] for h in heatmaps]
        roles = ("heatmap",)
    settings = {**result.settings, "score": what, "contrast": imaging.ABSOLUTE}
    return summary.make_record(layer, metadata.METHOD_OCCLUSION, list(range(n)), images, numbers,
                               settings=settings, layout=layout, roles=roles)
