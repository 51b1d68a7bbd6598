"""Real logdirs for the plugin tests: `model.fit` with FeatVizCallback, written once per session."""

from __future__ import annotations

import os

import keras

from tb_featviz import AMOptions, FeatVizCallback
from tests.conftest import image_data, small_cnn

EPOCHS = 12  # more than TensorBoard's default 10 samples per tag: every one must be served


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


if __name__ == "__main__":
    import sys

    root = sys.argv[1]
    write_fit_run(os.path.join(root, "baseline"))
    write_fit_run(os.path.join(root, "no_probes"), seed=1, probes=False)
