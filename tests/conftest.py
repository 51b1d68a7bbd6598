"""Small real Keras models shared by the tests (tiny, so the suite stays fast on 2 CPU cores)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from tb_featviz.methods.am import AMOptions

# AM at a few steps: what most tests need to see a callback or a record work, not a good image.
FAST_AM = AMOptions(steps=4)


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


def fill_weights(model, seed: int):
    """Fixed, seeded weights whatever the backend's initializers (BatchNorm statistics that are
    not the identity), so references and other backends compute with the same numbers."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if "variance" in variable.path:
            value = 0.5 + rng.random(shape)
        elif "gamma" in variable.path:
            value = 1.0 + 0.2 * rng.standard_normal(shape)
        else:
            value = 0.3 * rng.standard_normal(shape)
        variable.assign(value.astype("float32"))
    return model


def fit_model(model, callbacks=(), *, epochs=1, images=48, batch_size=16, seed=None, x=None, y=None,
          optimizer=None, loss="sparse_categorical_crossentropy", **fit_kwargs):
    """`model.fit` on `image_data` (or x, y), quiet (seeded first with `seed`): the fit every
    callback test runs."""
    if x is None:
        x, y = image_data(images)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model.compile(optimizer or keras.optimizers.Adam(1e-3), loss)
    return model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=list(callbacks), **fit_kwargs)


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


@pytest.fixture(scope="module")
def server(featviz_logdir):
    """A real TensorBoard over the shared fit logs, once every run is listed."""
    from tests.logs import RUN_NAMES
    from tests.tensorboard_server import TensorBoardServer

    with TensorBoardServer(featviz_logdir) as tb:
        tb.wait_for_plugin()
        tb.wait_until(lambda: len(tb.json("/data/plugin/featviz/runs")["runs"]) == len(RUN_NAMES), what="all runs")
        yield tb
