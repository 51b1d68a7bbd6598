"""Featviz records: built once, written by the callback's own event writer or with `tf.summary`.

From a custom training loop, write the same records as the callback under the default writer:

    writer = tf.summary.create_file_writer("runs/exp1")
    with writer.as_default(step=int(optimizer.iterations)):
        tb_featviz.summary.write("conv1", tb_featviz.maximize_activation(...),
                                 epoch=epoch + batch / batches_per_epoch)

`write` writes one record (see `tb_featviz.metadata` and docs/FORMAT.md) at the step (the global
training step, the dashboard's step axis) and `epoch` (epochs completed, with its fraction: the
dashboard's epoch axis; without it the dashboard uses steps) and returns what `tf.summary.write`
returns (False when no writer is set). This module knows records, not methods: each method's
package builds its records with `make_record`.
"""

from __future__ import annotations

import dataclasses
import io
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
    blobs: tuple  # header JSON, then the PNG images (or arrays: `metadata.ARRAY`)
    format: Optional[metadata.MethodFormat] = None  # None: the built-in method's

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
            tag=self.tag, metadata=metadata.create_summary_metadata(self.layer, self.method, self.format), tensor=tensor
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
            metadata=metadata.create_summary_metadata(self.layer, self.method, self.format),
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
    format: Optional[metadata.MethodFormat] = None,
) -> Record:
    """One record: per channel, one uint8 image per role (`roles`: the method's roles, or some of
    them in order), plus per-channel numbers. `format`: a method of one's own's `MethodFormat`
    (the built-in methods' are known). A format whose elements are arrays (`metadata.ARRAY`)
    takes a float array per role instead of an image, stored as float32."""
    format = metadata.format_of(method, format)
    roles = metadata.check_roles(format, format.roles if roles is None else roles)
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
        format=format,
    )
    encode = imaging.encode_png if format.elements == metadata.PNG else encode_array
    elements = [encode(image) for per in images for image in per]
    return Record(layer, method, tuple([header] + elements), format)


def encode_array(values) -> bytes:
    """An array element (`metadata.ARRAY`): the .npy bytes of a C-ordered little-endian float32 array."""
    array = np.ascontiguousarray(values, dtype=metadata.ARRAY_DTYPE)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=(1, 0), allow_pickle=False)
    return buffer.getvalue()


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


def planes_layout(channels: int) -> dict:
    """Images of inputs with other than 1 or 3 channels are grids of gray planes (imaging.displayable)."""
    return {} if channels in (1, 3) else {"input_planes": int(channels)}


def write(layer: str, result, *, step: Optional[int] = None, epoch: Optional[float] = None) -> bool:
    """Write the result of any method's notebook call (`tb_featviz.maximize_activation`,
    `deconvnet`, `filter_weights`, `occlusion`, ...; each result makes its own record) under the
    default `tf.summary` writer."""
    return result.record(layer).write(step, epoch)
