"""Real logdirs for the plugin tests: `model.fit` with FeatVizCallback, written once per session."""

from __future__ import annotations

import os

import keras

from tb_featviz import AMOptions, FeatVizCallback
from tests.conftest import image_data, small_cnn

EPOCHS = 30  # more than TensorBoard's default 10 samples per tag: every one must be served


def write_fit_run(logdir: str, *, epochs: int = EPOCHS, seed: int = 0, probes: bool = True) -> None:
    """Trains the small CNN for `epochs` with the callback on conv1 (all 8) and conv2 (4 channels)."""
    keras.utils.set_random_seed(seed)
    model = small_cnn()
    x, y = image_data(64, seed=seed)
    callback = FeatVizCallback(
        logdir,
        {"conv1": "all", "conv2": [0, 3, 5, 7]},
        probe_images=x[:16] if probes else None,
        am=AMOptions(steps=4),
        top_k=4,
        verbose=False,
    )
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[callback])




HOSTILE_RUN = '<img src=x onerror="window.pwned=1">run'
HOSTILE_LAYER = "<script>window.pwned=2</script>conv ü/\"'&"


def write_hostile_and_future_runs(root: str) -> None:
    """Names that must be escaped in the page, and a record of a future format version."""
    import json

    import numpy as np
    import tensorflow as tf
    from tensorboard.compat.proto import summary_pb2

    from tb_featviz import metadata, summary

    rng = np.random.default_rng(0)
    images = [[rng.integers(0, 255, (8, 8, 1), dtype=np.uint8)] for _ in range(3)]
    writer = tf.summary.create_file_writer(os.path.join(root, HOSTILE_RUN))
    with writer.as_default():
        for step in range(2):
            summary.write_record(
                HOSTILE_LAYER, "am", [0, 1, 2], images,
                {"activation": [1.0, 2.0, 3.0], "dead": [False, True, False]}, step=step,
            )
    writer.close()

    writer = tf.summary.create_file_writer(os.path.join(root, "future"))
    with writer.as_default():
        summary.write_record("conv1", "weights", [0], [images[0]], {"norm": [1.0]}, step=0)
        future = metadata.create_summary_metadata("conv9", "am")
        future.plugin_data.content = json.dumps(
            {"version": metadata.FORMAT_VERSION + 1, "layer": "conv9", "method": "am"}
        ).encode()
        tf.summary.write("conv9/am", tf.constant([b"{}"]), step=0, metadata=future)
    writer.close()


def write_all(root: str) -> None:
    write_fit_run(os.path.join(root, "baseline"))
    write_fit_run(os.path.join(root, "no_probes"), seed=1, probes=False)
    write_hostile_and_future_runs(root)


if __name__ == "__main__":
    import sys

    write_all(sys.argv[1])
