"""An activation-maximization result as a record (docs/FORMAT.md, method "am")."""

from __future__ import annotations

from tb_featviz import imaging, metadata, summary


def am_record(layer: str, result) -> summary.Record:
    """An `AMResult`: per channel its image (as the model sees it), activation and dead flag."""
    return summary.make_record(
        layer,
        metadata.METHOD_AM,
        result.channels,
        [[tile] for tile in result.tiles()],
        {
            "activation": result.activation,
            "objective": result.objective,
            "start_activation": result.start_activation,
            "dead": [bool(d) for d in result.dead],
            "steps": result.steps_run,
        },
        settings={**result.settings, "maximized": result.maximized, "target": result.target,
                  "dead_test": result.dead_test, "contrast": imaging.ABSOLUTE},
        layout=summary.planes_layout(result.images.shape[-1]),
    )
