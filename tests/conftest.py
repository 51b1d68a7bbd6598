"""Small real Keras models shared by the tests (tiny, so the suite stays fast on 2 CPU cores)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest


def small_cnn(channels=3, size=32, batchnorm=True, name="small_cnn"):
    """conv-(BN)-relu-pool, conv-relu-pool, dense logits: the shape of most tutorial CNNs."""
    layers = [keras.Input((size, size, channels)), keras.layers.Conv2D(8, 3, padding="same", name="conv1")]
    if batchnorm:
        layers.append(keras.layers.BatchNormalization(name="bn1"))
    layers += [
        keras.layers.ReLU(name="relu1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(16, 3, activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(name="pool2"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dropout(0.3, name="dropout"),
        keras.layers.Dense(5, activation="softmax", name="logits"),
    ]
    return keras.Sequential(layers, name=name)


def image_data(n=48, size=32, channels=3, seed=0):
    """Images with learnable structure: class = which quadrant holds a bright blob."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, size, size, channels)).astype("float32") * 0.3
    y = rng.integers(0, 5, n)
    half = size // 2
    for i, label in enumerate(y):
        if label < 4:
            r, c = divmod(int(label), 2)
            x[i, r * half + 4 : r * half + half - 4, c * half + 4 : c * half + half - 4] += 0.7
    return x, y


@pytest.fixture
def data():
    return image_data()


@pytest.fixture(scope="session")
def featviz_logdir(tmp_path_factory):
    """Runs written by real `model.fit` with FeatVizCallback (12 epochs), plus hostile names."""
    from tests.logs import write_all

    root = tmp_path_factory.mktemp("featviz_logs")
    write_all(str(root))
    return root
