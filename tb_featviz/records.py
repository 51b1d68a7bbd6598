"""Reading featviz records back from event files (notebooks, the demo, tests, resumed fits), on
any Keras backend: the files are read by `tb_featviz.gfile`, their records framed here.

The TensorBoard plugin reads the same records through TensorBoard's data provider instead.
"""

from __future__ import annotations

import io
import os
import struct
from typing import Optional

import numpy as np

from tb_featviz import gfile, metadata


def read_records(logdir: str) -> dict:
    """{(layer, method): {step: (header, [png bytes, ...])}} from the event files of one run
    (arrays' .npy bytes for a method whose elements are arrays: `decode_array`).

    A step written twice (a resumed run) keeps its last record; a truncated file keeps what
    was complete.
    """
    from tensorboard.compat.proto import event_pb2
    from tensorboard.util import tensor_util

    records: dict = {}
    files = gfile.for_path(logdir)  # not glob: logdirs may live on any TensorFlow file system (gs://, ...)
    for path in sorted(files.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        if files.isdir(path):
            continue
        for event in _events(files, event_pb2, path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != metadata.PLUGIN_NAME:
                    continue
                info = metadata.parse_plugin_content(value.metadata.plugin_data.content)
                blobs = list(tensor_util.make_ndarray(value.tensor).reshape(-1))
                header = metadata.decode_header(blobs[0], info["format"])
                records.setdefault((info["layer"], info["method"]), {})[event.step] = (header, blobs[1:])
    return records


def steps_since(logdir: str, since: int) -> dict:
    """{(layer, method): {steps >= since}} of the featviz records already in a run's directory:
    what a resumed fit need not write again. Newest file first, stopping at a file that reaches
    back before `since` (older files hold older steps), so a long log is not read again in full
    at every resumed fit. A file that cannot be read (a folder, a pipe, junk) is passed over."""
    import stat

    from tensorboard.compat.proto import event_pb2

    found: dict = {}
    files = gfile.for_path(logdir)
    for path in sorted(files.glob(os.path.join(logdir, "events.out.tfevents.*")), reverse=True):
        try:
            if "://" not in path and not stat.S_ISREG(os.stat(path).st_mode):
                continue  # a pipe would block the read, a folder fail it
            earliest = None
            for event in _events(files, event_pb2, path):
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name != metadata.PLUGIN_NAME:
                        continue
                    earliest = event.step if earliest is None else min(earliest, event.step)
                    if event.step >= since:
                        info = metadata.parse_plugin_content(value.metadata.plugin_data.content)
                        found.setdefault((info["layer"], info["method"]), set()).add(event.step)
        except Exception:  # noqa: BLE001 - an unreadable file holds nothing we can rely on
            continue
        if earliest is not None and earliest < since:
            break
    return found


def _events(files, event_pb2, path: str):
    """Events of one file (TFRecord frames: length, its CRC, data, its CRC); a truncated tail (a
    killed writer) or junk ends the file instead of failing. A length is read only when the file
    still holds that many bytes (TensorFlow's GFile crashes the process on a read of 2**60)."""
    from google.protobuf.message import DecodeError
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    left = files.stat(path).length
    with files.GFile(path, "rb") as stream:
        while left >= 16:
            head = stream.read(12)
            if len(head) < 12:
                return
            (length,) = struct.unpack("<Q", head[:8])
            if struct.unpack("<I", head[8:])[0] != masked_crc32c(head[:8]) or length > left - 16:
                return  # not a record's length (junk), or a file cut inside a record
            data = stream.read(length)
            if len(data) < length or len(stream.read(4)) < 4:
                return
            left -= 16 + length
            try:
                event = event_pb2.Event.FromString(data)
            except DecodeError:
                return
            yield event


def decode_images(pngs) -> np.ndarray:
    """PNG bytes -> uint8 array (n, h, w, c). A record's images are channel-major: for deconv
    (roles projections, patches) they alternate, so take every `len(header["roles"])`-th one."""
    from tb_featviz import imaging

    return np.stack([imaging.decode_png(png) for png in pngs])



def decode_array(data: bytes, shape: Optional[tuple] = None) -> np.ndarray:
    """An array element (`metadata.ARRAY`: .npy bytes) -> its float32 array (read-only), or
    ValueError saying why it is not one (or not of `shape`, when given). Its header is checked
    before anything is read, so a crafted one never makes it allocate what its bytes do not hold."""
    data = bytes(data)
    if not data.startswith(metadata.ARRAY_MAGIC):
        raise ValueError("not an array element (.npy bytes): no .npy magic")
    stream = io.BytesIO(data)
    try:
        if np.lib.format.read_magic(stream) != (1, 0):
            raise ValueError("not .npy version 1.0")
        found, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    except (ValueError, TypeError, SyntaxError) as error:
        raise ValueError(f"not an array element (.npy bytes): {str(error)[:120]}") from None
    if dtype != np.dtype(metadata.ARRAY_DTYPE) or fortran:
        raise ValueError(f"an array element holds {dtype}{' (Fortran order)' if fortran else ''}, not float32")
    if shape is not None and tuple(found) != tuple(shape):
        raise ValueError(f"an array element of shape {tuple(found)}, where {tuple(shape)} was expected")
    count = int(np.prod(found, dtype=object))
    if count < 0 or len(data) - stream.tell() != 4 * count:
        raise ValueError(f"an array element of shape {tuple(found)} holds {len(data) - stream.tell()} bytes")
    return np.frombuffer(data, dtype, count, offset=stream.tell()).reshape(found)
