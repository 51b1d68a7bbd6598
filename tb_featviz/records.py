"""Reading featviz records back from event files, with TensorFlow (notebooks, the demo, tests).

The TensorBoard plugin reads the same records through TensorBoard's data provider instead.
"""

from __future__ import annotations

import glob
import os

import numpy as np

from tb_featviz import metadata


def read_records(logdir: str) -> dict:
    """{(layer, method): {step: (header, [png bytes, ...])}} from the event files of one run.

    A step written twice (a resumed run) keeps its last record.
    """
    import tensorflow as tf

    records: dict = {}
    for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != metadata.PLUGIN_NAME:
                    continue
                info = metadata.parse_plugin_content(value.metadata.plugin_data.content)
                blobs = list(tf.make_ndarray(value.tensor))
                header = metadata.decode_header(blobs[0])
                records.setdefault((info["layer"], info["method"]), {})[event.step] = (header, blobs[1:])
    return records


def decode_images(pngs) -> np.ndarray:
    """PNG bytes of one role, one per channel -> uint8 array (n, h, w, c)."""
    import tensorflow as tf

    return np.stack([tf.io.decode_png(png).numpy() for png in pngs])
