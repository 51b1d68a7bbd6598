"""The attribution maps on whichever Keras backend runs (`make test` runs tests/core under
TensorFlow, JAX and PyTorch), against closed forms that need no gradient code: a linear
classifier's input gradient is its weight column, and Grad-CAM of a 1x1 conv before global
average pooling is the class activation map. In `fit`, the records compare with step 0."""

import keras
import numpy as np
import pytest

import tb_featviz
from tb_featviz import FeatVizCallback
from tb_featviz.records import read_records
from tests.conftest import image_data, small_cnn


def linear_classifier(channels_first=False):
    shape = (3, 8, 8) if channels_first else (8, 8, 3)
    model = keras.Sequential([keras.Input(shape), keras.layers.Flatten(name="flatten"),
                              keras.layers.Dense(4, activation="softmax", name="out")])
    rng = np.random.default_rng(0)
    model.get_layer("out").set_weights([rng.standard_normal((192, 4)).astype("float32"),
                                        rng.standard_normal(4).astype("float32")])
    return model


def test_saliency_and_integrated_gradients_of_a_linear_classifier_are_its_weights():
    model = linear_classifier()
    images = np.random.default_rng(1).random((3, 8, 8, 3)).astype("float32")
    labels = np.array([2, 0, 3])
    columns = model.get_layer("out").get_weights()[0].T.reshape(4, 8, 8, 3)[labels]
    saliency = tb_featviz.attribution(model, images, labels, method="saliency")
    np.testing.assert_allclose(saliency.maps, np.abs(columns).max(axis=-1), rtol=1e-6)
    smooth = tb_featviz.attribution(model, images, labels, method="smoothgrad", smoothgrad=4)
    np.testing.assert_allclose(smooth.maps, saliency.maps, rtol=1e-5)  # a constant gradient: noise changes nothing
    ig = tb_featviz.attribution(model, images, labels, method="integrated_gradients", steps=3, baseline=0.25)
    np.testing.assert_allclose(ig.attributions, (images - 0.25) * columns, rtol=1e-4, atol=1e-6)
    assert np.all(ig.completeness_error < 1e-4)  # exact up to float rounding


def test_gradcam_of_a_1x1_conv_before_global_pooling_is_the_class_activation_map():
    inputs = keras.Input((6, 6, 2))
    features = keras.layers.Conv2D(5, 1, name="conv")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(features)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(pooled))
    rng = np.random.default_rng(2)
    for variable in model.weights:
        variable.assign(rng.standard_normal(tuple(variable.shape)).astype("float32"))
    images = rng.random((4, 6, 6, 2)).astype("float32")
    labels = np.array([0, 1, 2, 1])
    kernel, bias = model.get_layer("conv").get_weights()
    dense = model.get_layer("out").get_weights()[0]
    maps = images @ kernel[0, 0] + bias  # (n, 6, 6, 5)
    expected = np.maximum(np.einsum("nhwk,kn->nhw", maps, dense[:, labels]) / 36.0, 0)  # alpha_k = w_kc / HW
    result = tb_featviz.attribution(model, images, labels, method="gradcam")
    assert result.layer == "conv"
    np.testing.assert_allclose(result.cams, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(result.maps, expected, rtol=1e-5, atol=1e-7)  # same size: resizing keeps it


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="TensorFlow's CPU kernels refuse NCHW convs")
def test_a_channels_first_model_gives_maps_of_height_and_width():
    inputs = keras.Input((3, 8, 8))
    features = keras.layers.Conv2D(2, 1, data_format="channels_first", name="conv")(inputs)
    outputs = keras.layers.Dense(4, activation="softmax", name="out")(keras.layers.Flatten(name="flatten")(features))
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(3)
    for variable in model.weights:
        variable.assign(rng.standard_normal(tuple(variable.shape)).astype("float32"))
    images = rng.random((2, 3, 8, 8)).astype("float32")
    labels = np.array([1, 3])
    kernel = model.get_layer("conv").get_weights()[0][0, 0]  # (in 3, out 2)
    dense = model.get_layer("out").get_weights()[0].reshape(2, 8, 8, 4)  # flattened (out channel, row, col)
    gradient = np.einsum("ck,kijn->ncij", kernel, dense)[labels]  # a linear model: d logit / d x everywhere
    ig = tb_featviz.attribution(model, images, labels, method="integrated_gradients", steps=2, baseline=0.0)
    assert ig.maps.shape == (2, 8, 8)
    np.testing.assert_allclose(ig.maps, (images * gradient).sum(axis=1), rtol=1e-4, atol=1e-5)
    saliency = tb_featviz.attribution(model, images, labels, method="saliency")
    np.testing.assert_allclose(saliency.maps, np.abs(gradient).max(axis=1), rtol=1e-4, atol=1e-6)
    assert tb_featviz.attribution(model, images, labels, method="gradcam").cams.shape == (2, 8, 8)


def test_in_fit_every_record_compares_with_step_0(tmp_path):
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, y = image_data(32)
    probes, labels = image_data(4, seed=1)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    callback = FeatVizCallback(str(tmp_path), ["conv2"], probe_images=probes, probe_labels=labels, verbose=0,
                               methods=["saliency", "gradcam", "integrated_gradients"], schedule="epoch")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])
    records = read_records(str(tmp_path))
    assert set(records) == {("logits", "saliency"), ("conv2", "gradcam"), ("logits", "integrated_gradients")}
    for key, series in records.items():
        assert sorted(series) == [0, 2, 4], key
        assert {header["settings"]["reference"]["step"] for header, _ in series.values()} == {0}
        assert all(rho in (None, pytest.approx(1.0)) for rho in series[0][0]["numbers"]["spearman_vs_first"])
    rhos = records[("logits", "saliency")][4][0]["numbers"]["spearman_vs_first"]
    assert all(-1 <= rho < 0.9999 for rho in rhos)
