"""Regenerates docs/am_parameterizations.png: AM settings compared on a Fashion-MNIST CNN.

    .venv/bin/python docs/make_am_comparison.py

Trains the demo-sized CNN for 3 epochs on 20,000 images from Debian's dataset-fashion-mnist
(offline), then renders the first 10 channels of conv2 and the 10 logits with each setting:
one row per setting, in the order of SETTINGS below.
"""

import os
import sys

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tb_featviz  # noqa: E402
from demo import fashion_mnist  # noqa: E402
from tb_featviz import imaging  # noqa: E402

SETTINGS = [
    ("pixel, transforms, blur every 4 (default)", {}),
    ("pixel, transforms, no blur", {"blur_every": 0}),
    ("pixel, no transforms, no blur", {"blur_every": 0, "transforms": None}),
    ("fourier, lr 0.05", {"parameterization": "fourier"}),
    ("fourier, lr 0.2", {"parameterization": "fourier", "learning_rate": 0.2}),
]


def main():
    x, y = fashion_mnist.load("train")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((28, 28, 1))]
        + [
            layer
            for i, filters in enumerate([32, 64, 64])
            for layer in (
                keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i + 1}"),
                keras.layers.MaxPooling2D(),
            )
        ]
        + [keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax", name="logits")]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[:20000], y[:20000], epochs=3, batch_size=128, verbose=2)
    rows = []
    for layer in ["conv2", "logits"]:
        for label, overrides in SETTINGS:
            result = tb_featviz.maximize_activation(model, layer, range(10), preset="fast", **overrides)
            gain = np.median(result.activation / np.maximum(np.abs(result.start_activation), 1e-6))
            print(f"{layer:7s} {label:45s} median activation {np.median(result.activation):7.3f} (x{gain:.1f} of start)")
            tiles = [np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in result.tiles()]
            rows.append(np.concatenate(tiles, axis=1))
        rows.append(np.full((8,) + rows[-1].shape[1:], 255, np.uint8))
    grid = np.concatenate(rows[:-1], axis=0)
    grid = grid.repeat(3, axis=0).repeat(3, axis=1)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "am_parameterizations.png")
    with open(out, "wb") as f:
        f.write(imaging.encode_png(grid))
    print("wrote", out)


if __name__ == "__main__":
    main()
