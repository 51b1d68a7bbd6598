"""Fashion-MNIST from Debian's `dataset-fashion-mnist` package: the original IDX files, offline.

Keras's own `keras.datasets.fashion_mnist` downloads at run time; this reads the files the Debian
package installs under /usr/share/datasets/fashion-mnist/ (60,000 + 10,000 labelled 28x28 images).
"""

from __future__ import annotations

import gzip
import os

import numpy as np

# TB_FEATVIZ_FASHION_MNIST points elsewhere (a copy of the same four files).
DATA_DIR = os.environ.get("TB_FEATVIZ_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_SPLITS = {"train": "train", "test": "t10k"}


class DatasetMissing(RuntimeError):
    """The Debian package is not installed."""


def load(split: str, data_dir: str = DATA_DIR) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 in [0, 1] of shape (n, 28, 28, 1), labels int64) of "train" or "test"."""
    prefix = _SPLITS[split]
    images_path = os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz")
    labels_path = os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz")
    if not os.path.exists(images_path):
        raise DatasetMissing(
            f"Fashion-MNIST not found in {data_dir}: install Debian's package "
            "(apt-get install dataset-fashion-mnist), or run `make demo`, which does"
        )
    images = _read_idx(images_path, magic=2051)
    labels = _read_idx(labels_path, magic=2049)
    if len(images) != len(labels):
        raise ValueError(f"{images_path}: {len(images)} images but {len(labels)} labels")
    return images.reshape(-1, 28, 28, 1).astype(np.float32) / 255.0, labels.astype(np.int64)


def _read_idx(path: str, magic: int) -> np.ndarray:
    """An IDX file: big-endian magic, dimension sizes, then uint8 data."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(f"{path}: not an IDX file of the expected kind (magic {found})")
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)
