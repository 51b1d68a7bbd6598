"""On a trained network (the demo's CNN after one epoch of Fashion-MNIST) DEAD means dead.

Round 1 flagged channels DEAD from zero output and zero gradient at a flat start image; on a
trained network many such channels fire strongly on real images. Here every channel AM calls
dead, without probe images, must be constant on 512 real test images, and with probe images
the flag must be exactly "constant on the probes".
"""

import keras
import numpy as np
import pytest

import tb_featviz
from tb_featviz import liveness

pytestmark = pytest.mark.slow

fashion_mnist = pytest.importorskip("demo.fashion_mnist")


@pytest.fixture(scope="module")
def trained():
    try:
        x_train, y_train = fashion_mnist.load("train")
        x_test, _ = fashion_mnist.load("test")
    except fashion_mnist.DatasetMissing as missing:  # `make test` installs it; say so loudly
        pytest.fail(str(missing))
    from demo.train import build_model

    keras.utils.set_random_seed(0)
    model = build_model()
    model.fit(x_train[:12000], y_train[:12000], epochs=1, batch_size=128, verbose=0)
    return model, x_test[:512]


@pytest.mark.parametrize("layer", ["conv2", "conv3"])
def test_no_channel_alive_on_real_images_is_flagged_dead(trained, layer):
    model, images = trained
    outputs = np.asarray(keras.Model(model.inputs, model.get_layer(layer).output)(images))
    flat = outputs.reshape(-1, outputs.shape[-1])
    alive_on_images = ~liveness.is_constant(flat.min(axis=0), flat.max(axis=0))  # the engine's rule
    result = tb_featviz.maximize_activation(model, layer, steps=8, preset="fast")
    assert not np.any(result.dead & alive_on_images), np.flatnonzero(result.dead & alive_on_images)
    with_probes = tb_featviz.maximize_activation(model, layer, steps=8, probe_images=images, preset="fast")
    assert with_probes.dead.tolist() == (~alive_on_images).tolist()
    assert with_probes.dead_test == "512 probe images"
