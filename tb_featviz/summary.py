"""Featviz records: built once, written by the callback's own event writer or with `tf.summary`.

From a custom training loop, write the same records as the callback under the default writer:

    writer = tf.summary.create_file_writer("runs/exp1")
    with writer.as_default(step=int(optimizer.iterations)):
        tb_featviz.summary.activation_maximization("conv1", tb_featviz.maximize_activation(...),
                                                   epoch=epoch + batch / batches_per_epoch)

Each of those functions writes one record (see `tb_featviz.metadata` and docs/FORMAT.md) at the
step (the global training step, the dashboard's step axis) and `epoch` (epochs completed, with
its fraction: the dashboard's epoch axis; without it the dashboard uses steps) and returns what
`tf.summary.write` returns (False when no writer is set).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Mapping, Optional, Sequence

import numpy as np

from tb_featviz import imaging, metadata
from tb_featviz.event_writer import EventFileWriter

EventWriter = EventFileWriter  # what `Record.write_to` writes with, without TensorFlow


@dataclasses.dataclass(frozen=True)
class Record:
    """One (layer, method) visualization, encoded: the header and PNGs of one summary value."""

    layer: str
    method: str
    blobs: tuple  # header JSON, then the PNG images

    @property
    def tag(self) -> str:
        return metadata.make_tag(self.layer, self.method)

    def at(self, position: Mapping) -> "Record":
        """This record with its place in training (`metadata.make_position`) in the header."""
        return dataclasses.replace(self, blobs=(metadata.placed(self.blobs[0], position),) + self.blobs[1:])

    def event(self, step: int, wall_time: Optional[float] = None):
        """The TensorBoard Event holding this record at `step` (no TensorFlow needed)."""
        from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(self.blobs))]),
            string_val=list(self.blobs),
        )
        value = summary_pb2.Summary.Value(
            tag=self.tag, metadata=metadata.create_summary_metadata(self.layer, self.method), tensor=tensor
        )
        return event_pb2.Event(
            wall_time=time.time() if wall_time is None else wall_time,
            step=int(step),
            summary=summary_pb2.Summary(value=[value]),
        )

    def write_to(self, writer, step: int, epoch: Optional[float] = None) -> None:
        """Write with TensorBoard's own event writer, no TensorFlow needed (JAX and PyTorch
        training loops): `writer` is a `tb_featviz.summary.EventWriter(log_dir)`. The record is
        the same, byte for byte apart from the wall time, as `write` puts under `tf.summary`."""
        writer.write(self.at(metadata.make_position(int(step), epoch=epoch)).event(step))

    def write(self, step: Optional[int] = None, epoch: Optional[float] = None) -> bool:
        """Write under the default `tf.summary` writer (custom training loops) at `step` (the
        writer's default step if None) and `epoch` (epochs completed with their fraction).
        Without TensorFlow (JAX, PyTorch), write with `write_to` instead."""
        import tensorflow as tf

        if step is None:
            step = tf.summary.experimental.get_step()
        blobs = self.blobs
        if step is not None:
            blobs = self.at(metadata.make_position(int(step), epoch=epoch)).blobs
        return tf.summary.write(
            tag=self.tag,
            tensor=tf.constant(list(blobs), dtype=tf.string),
            step=step,
            metadata=metadata.create_summary_metadata(self.layer, self.method),
        )


def make_record(
    layer: str,
    method: str,
    channels: Sequence[int],
    images: Sequence[Sequence[np.ndarray]],
    numbers: Mapping[str, Sequence],
    *,
    settings: Optional[Mapping] = None,
    layout: Optional[Mapping] = None,
    roles: Optional[Sequence[str]] = None,
) -> Record:
    """One record: per channel, one uint8 image per role (`roles`: the method's roles, or some of
    them in order), plus per-channel numbers."""
    roles = metadata.check_roles(method, metadata.ROLES[method] if roles is None else roles)
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
        roles=roles,
    )
    return Record(layer, method, tuple([header] + [imaging.encode_png(image) for per in images for image in per]))


def write_record(
    layer: str,
    method: str,
    channels: Sequence[int],
    images: Sequence[Sequence[np.ndarray]],
    numbers: Mapping[str, Sequence],
    *,
    step: Optional[int] = None,
    epoch: Optional[float] = None,
    settings: Optional[Mapping] = None,
    layout: Optional[Mapping] = None,
) -> bool:
    """`make_record`, written under the default `tf.summary` writer."""
    return make_record(layer, method, channels, images, numbers, settings=settings, layout=layout).write(step, epoch)


def am_record(layer: str, result, settings: Optional[Mapping] = None) -> Record:
    """An `AMResult`: per channel its image (as the model sees it), activation and dead flag."""
    return make_record(
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
                  "dead_test": result.dead_test, "contrast": imaging.ABSOLUTE, **dict(settings or {})},
        layout=_planes_layout(result.images.shape[-1]),
    )


def deconv_record(layer: str, result, settings: Optional[Mapping] = None) -> Record:
    """A `DeconvResult`: per channel its projections grid and the matching patches grid."""
    projections, patches = result.projection_tiles(), result.patch_tiles()
    rows, cols = imaging.grid_shape(result.top_k) if result.top_k else (0, 0)
    return make_record(
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
                  "projected_from": result.projected_from, "contrast": imaging.ABSOLUTE, **dict(settings or {})},
        layout={"top_k": result.top_k, "grid": [rows, cols], "gap": 1, **_planes_layout(result.patches.shape[-1])},
    )


def weights_record(layer: str, result, settings: Optional[Mapping] = None) -> Record:
    """A `WeightsResult`: per output channel its filter picture and norm/mean/std."""
    return make_record(
        layer,
        metadata.METHOD_WEIGHTS,
        result.channels,
        [[tile] for tile in result.tiles()],
        {"norm": result.norm, "mean": result.mean, "std": result.std,
         "input_channels": [row[: result.layout()["slices_shown"]].tolist() for row in result.input_channels]},
        settings={**result.settings, **dict(settings or {})},
        layout=result.layout(),
    )


def _planes_layout(channels: int) -> dict:
    """Images of inputs with other than 1 or 3 channels are grids of gray planes (imaging.displayable)."""
    return {} if channels in (1, 3) else {"input_planes": int(channels)}


def activation_maximization(layer: str, result, *, step: Optional[int] = None, epoch: Optional[float] = None,
                            settings: Optional[Mapping] = None) -> bool:
    """Write an `AMResult` under the default `tf.summary` writer."""
    return am_record(layer, result, settings).write(step, epoch)


def deconvnet(layer: str, result, *, step: Optional[int] = None, epoch: Optional[float] = None,
              settings: Optional[Mapping] = None) -> bool:
    """Write a `DeconvResult` under the default `tf.summary` writer."""
    return deconv_record(layer, result, settings).write(step, epoch)


def filter_weights(layer: str, result, *, step: Optional[int] = None, epoch: Optional[float] = None,
                   settings: Optional[Mapping] = None) -> bool:
    """Write a `WeightsResult` under the default `tf.summary` writer."""
    return weights_record(layer, result, settings).write(step, epoch)


def visualization(layer: str, method: str, result, *, step: Optional[int] = None,
                  epoch: Optional[float] = None) -> bool:
    """Write the result of any method (a name in `tb_featviz.methods.REGISTRY`, e.g. "occlusion")
    under the default `tf.summary` writer."""
    from tb_featviz.methods import get

    return get(method).record(layer, result).write(step, epoch)
