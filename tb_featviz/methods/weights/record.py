"""A filter-weights result as a record (docs/FORMAT.md, method "weights")."""

from __future__ import annotations

from tb_featviz import metadata, summary


def weights_record(layer: str, result) -> summary.Record:
    """A `WeightsResult`: per output channel its filter picture and norm/mean/std."""
    return summary.make_record(
        layer,
        metadata.METHOD_WEIGHTS,
        result.channels,
        [[tile] for tile in result.tiles()],
        {"norm": result.norm, "mean": result.mean, "std": result.std,
         "input_channels": [row[: result.layout()["slices_shown"]].tolist() for row in result.input_channels]},
        settings=dict(result.settings),
        layout=result.layout(),
    )
