"""Saliency, SmoothGrad, Grad-CAM and integrated gradients equal the papers' definitions computed
one image at a time with tf.GradientTape (tests/attribution_reference.py), to 1e-5 of each map's
scale, on a CNN with BatchNorm and residual adds and on a keras.applications model; the sanity
check's Spearman correlation equals scipy's."""

import keras
import numpy as np
import pytest

import tb_featviz
from tb_featviz.methods.attribution import sanity
from tests import attribution_reference as reference

RELATIVE = 1e-5


def close(got, expected, what):
    """Equal to 1e-5 of the reference's largest magnitude (elementwise relative errors mean
    nothing where a map is near 0)."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape, what
    scale = max(float(np.max(np.abs(expected))), 1e-30)
    error = float(np.max(np.abs(got - expected))) / scale
    assert error <= RELATIVE, f"{what}: relative error {error:.2e}"


@pytest.fixture(scope="module")
def residual():
    keras.utils.set_random_seed(0)
    model = reference.residual_cnn()
    rng = np.random.default_rng(1)
    images = rng.random((5, 24, 24, 3)).astype("float32")
    labels = np.array([0, 3, 1, 4, 2])
    return model, images, labels


@pytest.fixture(scope="module")
def mobilenet():
    keras.utils.set_random_seed(1)
    model = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=4)
    images = np.random.default_rng(2).uniform(-1, 1, (3, 32, 32, 3)).astype("float32")
    return model, images, np.array([1, 0, 3])


def test_saliency_is_the_largest_input_gradient_over_channels(residual):
    model, images, labels = residual
    result = tb_featviz.attribution(model, images, labels, method="saliency", batch_size=4)
    assert result.maps.shape == (5, 24, 24) and result.maps.dtype == np.float32
    np.testing.assert_array_equal(result.classes, labels)
    close(result.maps, reference.saliency(model, "logits", images, labels), "saliency")


def test_smoothgrad_averages_the_maps_of_noisy_copies(residual):
    model, images, labels = residual
    result = tb_featviz.attribution(model, images[:3], labels[:3], method="smoothgrad", smoothgrad=5, noise=0.1,
                                    seed=7, batch_size=4)  # 15 copies in batches of 4: across images
    noise = np.stack([np.random.default_rng([7, i]).normal(0, 0.1 * 1.0, (5, 24, 24, 3)) for i in range(3)])
    close(result.maps, reference.saliency(model, "logits", images[:3], labels[:3], noise.astype("float32")),
          "smoothgrad")
    plain = tb_featviz.attribution(model, images[:3], labels[:3], method="saliency").maps
    assert np.max(np.abs(result.maps - plain)) > 1e-3 * np.max(plain)  # the noise did something


@pytest.mark.parametrize("layer", ["conv3", "add1"])
def test_gradcam_weights_a_layers_maps_by_the_mean_gradient(residual, layer):
    model, images, labels = residual
    result = tb_featviz.attribution(model, images, labels, method="gradcam", layer=layer, batch_size=2)
    assert result.layer == layer
    close(result.maps, reference.gradcam(model, "logits", layer, images, labels), f"gradcam of {layer}")


def test_gradcam_defaults_to_the_last_conv_layer(residual):
    model, images, labels = residual
    assert tb_featviz.attribution(model, images[:1], labels[:1], method="gradcam").layer == "conv3"


def test_integrated_gradients_follow_the_papers_riemann_sum_and_report_completeness(residual):
    model, images, labels = residual
    baseline = np.full((24, 24, 3), 0.25, np.float32)
    result = tb_featviz.attribution(model, images, labels, method="integrated_gradients", steps=8,
                                    baseline=baseline, batch_size=10)
    attributions, differences = reference.integrated_gradients(model, "logits", images, labels, baseline, 8)
    close(result.attributions, attributions, "integrated gradients")
    close(result.maps, attributions.sum(axis=-1), "integrated gradients summed over channels")
    close(result.input_scores - result.baseline_scores, differences, "F(x) - F(baseline)")
    expected = np.abs(attributions.reshape(5, -1).sum(axis=1) - differences) / np.abs(differences)
    np.testing.assert_allclose(result.completeness_error, expected, rtol=1e-3, atol=1e-6)
    more = tb_featviz.attribution(model, images, labels, method="integrated_gradients", steps=128,
                                  baseline=baseline)
    assert np.mean(more.completeness_error) < np.mean(result.completeness_error)  # the sum converges


def test_every_method_on_a_keras_applications_model(mobilenet):
    model, images, labels = mobilenet
    head = "predictions"
    saliency = tb_featviz.attribution(model, images, labels, method="saliency")
    close(saliency.maps, reference.saliency(model, head, images, labels), "MobileNetV2 saliency")
    cam = tb_featviz.attribution(model, images, labels, method="gradcam")
    assert cam.layer == "Conv_1"  # the last conv layer, before its BatchNorm and ReLU6
    close(cam.maps, reference.gradcam(model, head, "Conv_1", images, labels), "MobileNetV2 Grad-CAM")
    ig = tb_featviz.attribution(model, images, labels, method="integrated_gradients", steps=6)
    expected, _ = reference.integrated_gradients(model, head, images, labels, np.full((32, 32, 3), -1.0), 6)
    close(ig.attributions, expected, "MobileNetV2 integrated gradients (baseline: the range's low end, -1)")


def test_without_labels_the_predicted_class_is_explained(residual):
    model, images, _ = residual
    result = tb_featviz.attribution(model, images, method="saliency")
    predicted = np.argmax(model.predict(images, verbose=0), axis=1)
    np.testing.assert_array_equal(result.classes, predicted)
    np.testing.assert_array_equal(result.predicted, predicted)
    assert result.labels is None
    close(result.maps, reference.saliency(model, "logits", images, predicted), "saliency of the predicted class")


def test_the_score_is_the_logit_not_the_probability(residual):
    model, images, labels = residual
    result = tb_featviz.attribution(model, images, labels, method="saliency")
    logits = reference.logits_of(model, "logits")(images).numpy()
    np.testing.assert_allclose(result.scores, logits[np.arange(5), labels], rtol=1e-5)


def test_a_binary_classifier_scores_class_0_by_minus_its_logit():
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(name="flatten"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")])
    images = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    result = tb_featviz.attribution(model, images, [0, 1, 0, 1], method="integrated_gradients", steps=4)
    weights = model.get_layer("out").kernel.numpy()[:, 0].reshape(8, 8, 1)
    sign = np.array([-1, 1, -1, 1])[:, None, None]
    np.testing.assert_allclose(result.maps, sign * (images * weights).sum(axis=-1), rtol=1e-5, atol=1e-7)
    assert np.all(result.completeness_error < 1e-4)  # a linear score: the sum is exact


def test_spearman_equals_scipys_ties_included():
    rng = np.random.default_rng(5)
    maps = np.round(rng.random((4, 6, 6)), 1)  # many ties
    reference_maps = np.round(rng.random((4, 6, 6)) + maps, 1)
    rhos = sanity.spearman(maps, reference_maps)
    for rho, a, b in zip(rhos, maps, reference_maps):
        assert rho == pytest.approx(reference.spearman(a, b), abs=1e-12)
    assert np.isnan(sanity.spearman(np.zeros((1, 3, 3)), maps[:1, :3, :3])[0])  # a constant map has no ranks


def test_gradcam_of_a_layer_after_the_last_conv_is_that_layers():
    """The last conv layer, which Grad-CAM always covers, comes before pool2 in model order: the
    notebook call and the CLI still draw the layer named, not the first one planned."""
    from tests.conftest import image_data, small_cnn

    model = small_cnn()
    images, labels = image_data(3)
    result = tb_featviz.attribution(model, images, labels, method="gradcam", layer="pool2")
    assert result.layer == "pool2" and result.cams.shape == (3, 7, 7)
