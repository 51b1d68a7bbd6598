"""Reading featviz records back from event files, with TensorFlow (notebooks, the demo, tests).

The TensorBoard plugin reads the same records through TensorBoard's data provider instead.
"""

from __future__ import annotations

import os

import numpy as np

from tb_featviz import metadata


def read_records(logdir: str) -> dict:
    """{(layer, method): {step: (header, [png bytes, ...])}} from the event files of one run.

    A step written twice (a resumed run) keeps its last record; a truncated file keeps what
    was complete.
    """
    import tensorflow as tf
    from tensorboard.compat.proto import event_pb2

    records: dict = {}
    # tf.io.gfile, not glob: logdirs may live on any TensorFlow file system (gs://, ram://, ...).
    for path in sorted(tf.io.gfile.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        for event in _events(tf, event_pb2, path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != metadata.PLUGIN_NAME:
                    continue
                info = metadata.parse_plugin_content(value.metadata.plugin_data.content)
                blobs = list(tf.make_ndarray(value.tensor))
                header = metadata.decode_header(blobs[0])
                records.setdefault((info["layer"], info["method"]), {})[event.step] = (header, blobs[1:])
    return records


def steps_since(logdir: str, since: int) -> dict:
    """{(layer, method): {steps >= since}} of the featviz records already in a run's directory:
    what a resumed fit need not write again. Newest file first, stopping at a file that reaches
    back before `since` (older files hold older steps), so a long log is not read again in full
    at every resumed fit. A file that cannot be read (a folder, a pipe, junk) is passed over."""
    import stat

    import tensorflow as tf
    from tensorboard.compat.proto import event_pb2

    found: dict = {}
    for path in sorted(tf.io.gfile.glob(os.path.join(logdir, "events.out.tfevents.*")), reverse=True):
        try:
            if "://" not in path and not stat.S_ISREG(os.stat(path).st_mode):
                continue  # a pipe would block the read, a folder fail it
            earliest = None
            for event in _events(tf, event_pb2, path):
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


def _events(tf, event_pb2, path: str):
    """Events of one file; a truncated tail (a killed writer) ends the file instead of failing."""
    try:
        for record in tf.data.TFRecordDataset(path):
            yield event_pb2.Event.FromString(record.numpy())
    except tf.errors.DataLossError:
        return


def decode_images(pngs) -> np.ndarray:
    """PNG bytes -> uint8 array (n, h, w, c). A record's images are channel-major: for deconv
    (roles projections, patches) they alternate, so take every `len(header["roles"])`-th one."""
    import tensorflow as tf

    return np.stack([tf.io.decode_png(png).numpy() for png in pngs])
