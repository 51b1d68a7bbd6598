"""Reading featviz records back from real event files, the way any reader must."""

import glob
import os

import tensorflow as tf

from tb_featviz import metadata


def read_records(logdir):
    """{(layer, method): {step: (header, [png bytes, ...])}} from every event file in logdir."""
    records = {}
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
