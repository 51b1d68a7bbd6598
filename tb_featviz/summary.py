"""Writing featviz records with `tf.summary` — the callback uses this, and so can a custom loop.

    writer = tf.summary.create_file_writer("runs/exp1")
    with writer.as_default(step=epoch):
        tb_featviz.summary.activation_maximization("conv1", tb_featviz.maximize_activation(...))

Each function writes one record (see `tb_featviz.metadata` and docs/FORMAT.md) under the default
writer and returns what `tf.summary.write` returns (False when no writer is set).
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from tb_featviz import imaging, metadata


def write_record(
    layer: str,
    method: str,
    channels: Sequence[int],
    images: Sequence[Sequence[np.ndarray]],
    numbers: Mapping[str, Sequence],
    *,
    step: Optional[int] = None,
    settings: Optional[Mapping] = None,
    layout: Optional[Mapping] = None,
) -> bool:
    """One record: per channel, one uint8 image per role of `method`, plus per-channel numbers."""
    roles = metadata.ROLES[method]
    if len(images) != len(channels) or any(len(per) != len(roles) for per in images):
        raise ValueError(f"{method} records need {len(roles)} image(s) per channel ({roles})")
    first = np.asarray(images[0][0]) if len(images) else np.zeros((0, 0, 0))
    header = metadata.encode_header(
        layer=layer,
        method=method,
        channels=channels,
        numbers=numbers,
        image_shape=first.shape,
        settings=settings,
        layout=layout,
    )
    blobs = [header] + [imaging.encode_png(image) for per in images for image in per]
    return tf.summary.write(
        tag=metadata.make_tag(layer, method),
        tensor=tf.constant(blobs, dtype=tf.string),
        step=step,
        metadata=metadata.create_summary_metadata(layer, method),
    )


def activation_maximization(layer: str, result, *, step: Optional[int] = None, settings: Optional[Mapping] = None) -> bool:
    """Write an `AMResult`: per channel its image, activation reached and dead flag."""
    tiles = result.tiles()
    return write_record(
        layer,
        metadata.METHOD_AM,
        result.channels,
        [[tile] for tile in tiles],
        {
            "activation": result.activation,
            "start_activation": result.start_activation,
            "dead": [bool(d) for d in result.dead],
            "steps": result.steps_run,
        },
        step=step,
        settings=settings,
    )


def deconvnet(layer: str, result, *, step: Optional[int] = None, settings: Optional[Mapping] = None) -> bool:
    """Write a `DeconvResult`: per channel its projections grid and the matching patches grid."""
    projections, patches = result.projection_tiles(), result.patch_tiles()
    rows, cols = imaging.grid_shape(result.top_k) if result.top_k else (0, 0)
    return write_record(
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
        step=step,
        settings={"rule": result.rule, **dict(settings or {})},
        layout={"top_k": result.top_k, "grid": [rows, cols], "gap": 1},
    )


def filter_weights(layer: str, result, *, step: Optional[int] = None, settings: Optional[Mapping] = None) -> bool:
    """Write a `WeightsResult`: per output channel its filter picture and norm/mean/std."""
    return write_record(
        layer,
        metadata.METHOD_WEIGHTS,
        result.channels,
        [[tile] for tile in result.tiles()],
        {"norm": result.norm, "mean": result.mean, "std": result.std},
        step=step,
        settings=settings,
        layout={"kernel_shape": list(result.kernels.shape[1:])},
    )
