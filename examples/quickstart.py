"""Quickstart: train a small CNN on Fashion-MNIST with FeatVizCallback, then save what it saw.

    make example          # or: .venv/bin/python examples/quickstart.py [--epochs 3] [--logdir runs/quickstart]

Reads Fashion-MNIST from Debian's package dataset-fashion-mnist (offline; `make example` installs
it). Writes featviz records to the logdir and, for a first look without the TensorBoard plugin,
PNG grids of the first layer's AM images at step 0 and at the last epoch.
"""

import argparse
import gzip
import os

import keras
import numpy as np

import tb_featviz
from tb_featviz import imaging

DATA = "/usr/share/datasets/fashion-mnist/"


def load(kind):
    with gzip.open(os.path.join(DATA, f"{kind}-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
    with gzip.open(os.path.join(DATA, f"{kind}-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x.astype("float32") / 255.0, y.astype("int64")


def build_model():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu", name="fc"),
            keras.layers.Dense(10, activation="softmax", name="logits"),
        ]
    )


def save_grid(after_training, before, logdir):
    """conv1_am.png: the first layer's AM images before (top) and after training (bottom)."""
    top = imaging.tile_grid(before.tiles(), gap=2)
    bottom = imaging.tile_grid(after_training.tiles(), gap=2)
    gap = np.full((6,) + top.shape[1:], 255, np.uint8)
    grid = np.concatenate([top, gap, bottom]).repeat(4, axis=0).repeat(4, axis=1)
    path = os.path.join(logdir, "conv1_am.png")
    with open(path, "wb") as f:
        f.write(imaging.encode_png(grid))
    print("wrote", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-images", type=int, default=12000)
    parser.add_argument("--logdir", default="runs/quickstart")
    args = parser.parse_args()
    if not os.path.isdir(DATA):
        raise SystemExit(f"Fashion-MNIST not found in {DATA}: apt-get install dataset-fashion-mnist")
    x, y = load("train")
    x_test, y_test = load("t10k")
    keras.utils.set_random_seed(0)
    model = build_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = tb_featviz.maximize_activation(model, "conv1")  # same seeded start as the callback's step 0
    callback = tb_featviz.FeatVizCallback(
        args.logdir, {"conv1": "all", "conv2": range(16), "logits": "all"}, probe_images=x_test[:256]
    )
    model.fit(
        x[: args.train_images], y[: args.train_images], epochs=args.epochs, batch_size=128,
        validation_data=(x_test[:2000], y_test[:2000]), callbacks=[callback], verbose=2,
    )
    for step, seconds in callback.timings:
        print(f"featviz step {step}: {seconds:.1f} s")
    save_grid(after_training=tb_featviz.maximize_activation(model, "conv1"), before=before, logdir=args.logdir)
    print(f"featviz records in {args.logdir}; test accuracy "
          f"{model.evaluate(x_test, y_test, verbose=0)[1]:.3f}")


if __name__ == "__main__":
    main()
