"""Lucid-quality AM: a pretrained net offline, starts never flat, colours from the probes, Lucid's
transforms, presets, and objectives beyond the channel mean (each checked against a direct
computation)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_featviz
from tb_featviz import pretrained
from tb_featviz.methods.am import AMOptions, FourierImage, PixelImage, TransformStack, objectives
from tb_featviz.methods.am.transforms import warp
from tb_featviz.errors import ConfigurationError
from tests.conftest import image_data, small_cnn

FAST = dict(steps=6)


def test_the_pretrained_mobilenet_is_its_frozen_graph():
    """The Keras copy computes what the package's frozen TF-slim graph computes (its logits
    without the background class), so pictures of it show ImageNet features, not a bug."""
    model = pretrained.mobilenet()
    graph_def = tf.compat.v1.GraphDef()
    with open(pretrained.weights_file(), "rb") as f:
        graph_def.ParseFromString(f.read())
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    images = np.random.default_rng(0).uniform(-1, 1, (2, 224, 224, 3)).astype("float32")
    with tf.compat.v1.Session(graph=graph) as session:
        frozen = np.concatenate([session.run("MobilenetV1/Logits/SpatialSqueeze:0", {"input:0": image[None]})
                                 for image in images])
    logits = keras.Model(model.inputs, model.get_layer("reshape_2").output)(images).numpy()
    np.testing.assert_allclose(logits, frozen[:, 1:], atol=1e-4)
    features = pretrained.mobilenet((96, 96, 3), include_top=False)
    assert features.output.shape[1:] == (3, 3, 1024)


@pytest.mark.parametrize("shape", [(64, 64, 3), (28, 28, 1)])
def test_every_start_image_has_visible_noise(shape):
    """A flat start gives a ReLU channel no gradient and a flat AM image; every parameterization
    starts from faint noise instead (pixel std about 0.02)."""
    for param in (PixelImage(), PixelImage(bounded=True), FourierImage()):
        start = param.initial(0, [0, 5], shape)
        image = param.to_image(tf.constant(start), shape).numpy()
        assert 0.01 < image.std(axis=(1, 2, 3)).min() and np.abs(image - 0.5).max() < 0.2, type(param).__name__
        assert not np.array_equal(image[0], image[1])  # per channel
        copies = param.to_image(tf.constant(param.initial(0, [5], shape, copies=2)), shape).numpy()
        np.testing.assert_array_equal(copies[0], image[1])  # copy 0 is the channel's usual start
        assert not np.array_equal(copies[0], copies[1])


def test_fourier_colours_come_from_the_probe_images():
    rng = np.random.default_rng(0)
    base = rng.random((8, 16, 16, 1))
    probes = np.concatenate([base, 0.8 * base + 0.2 * rng.random((8, 16, 16, 1)), rng.random((8, 16, 16, 1))], -1)
    fitted = FourierImage().fitted(probes)
    assert fitted.settings()["colours"] == "probe images"
    covariance = np.cov(probes.reshape(-1, 3), rowvar=False)
    product = fitted.colour_matrix @ fitted.colour_matrix.T  # the square root, up to its scale
    np.testing.assert_allclose(product / product[0, 0], covariance / covariance[0, 0], rtol=1e-4, atol=1e-6)
    assert FourierImage().fitted(np.repeat(base, 3, -1)).settings()["colours"] == "imagenet"  # gray: nothing to fit
    # Through the notebook call: a colour model of 64 px picks Fourier ("auto") with the probes' colours.
    model = small_cnn(size=64)
    x, _ = image_data(8, size=64)
    result = tb_featviz.maximize_activation(model, "conv2", [0], preset="fast", steps=2, probe_images=x)
    assert result.settings["parameterization"]["name"] == "fourier"
    assert result.settings["parameterization"]["colours"] == "probe images"
    gray = tb_featviz.maximize_activation(small_cnn(channels=1, size=28), "conv2", [0], preset="fast", steps=2)
    assert gray.settings["parameterization"]["name"] == "pixel"


def test_lucid_transforms_are_seeded_and_bring_in_gray():
    stack = TransformStack()
    rows = stack.sample(0, [3, 4], 5, (64, 64, 3))
    np.testing.assert_array_equal(rows, stack.sample(0, [3, 4], 5, (64, 64, 3)))
    assert not np.array_equal(rows[:, 0], rows[:, 1])
    black = tf.zeros((1, 64, 64, 3))
    shifted = np.array([[1, 0, 6, 0, 1, 6, 0, 0]], np.float32)  # sample 6 px beyond the top-left
    out = warp(black, tf.constant(shifted), stack.fill_mode).numpy()
    assert np.allclose(out[0, -2:, -2:], 0.5) and np.allclose(out[0, :50, :50], 0.0)


def test_presets_and_defaults_per_parameterization():
    quality = AMOptions.preset("quality")
    assert (quality.parameterization, quality.steps, quality.learning_rate) == ("fourier", 512, 0.05)
    assert isinstance(quality.transforms, TransformStack)
    assert AMOptions().steps == 48 and AMOptions(parameterization="fourier").steps == 96
    assert AMOptions.preset("quality", steps=7).steps == 7
    with pytest.raises(ConfigurationError, match="unknown AM preset 'best'; presets: \\['fast', 'quality'\\]"):
        AMOptions.preset("best")
    with pytest.raises(ConfigurationError, match="images_per_channel > 1 is for notebooks"):
        tb_featviz.FeatVizCallback("/tmp/never", "conv1", am=AMOptions(images_per_channel=2))


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, y = image_data(64)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    return model


def pre_activation(model, layer, images):
    """conv2's values before its ReLU, computed directly (conv2 has a fused relu)."""
    conv = model.get_layer(layer)
    inputs = keras.Model(model.inputs, conv.input)(images)
    kernel, bias = conv.get_weights()
    return tf.nn.conv2d(inputs, kernel, 1, "VALID").numpy() + bias


def test_a_neuron_a_direction_and_minimizing(trained):
    neuron = tb_featviz.maximize_activation(trained, "conv2", [3], preset="fast", objective=objectives.neuron(2, -1),
                                            **FAST)
    direct = pre_activation(trained, "conv2", neuron.images)
    np.testing.assert_allclose(neuron.objective, direct[:, 2, -1, 3], rtol=1e-4, atol=1e-4)
    vector = np.eye(16)[3] - np.eye(16)[5]
    along = tb_featviz.maximize_activation(trained, "conv2", "all", preset="fast",
                                           objective=objectives.direction(vector), **FAST)
    assert len(along.images) == 1  # the same objective for every channel: one image
    np.testing.assert_allclose(along.objective, (pre_activation(trained, "conv2", along.images) @ vector).mean(axis=(1, 2)),
                               rtol=1e-4, atol=1e-4)
    assert along.objective[0] > along.start_activation[0] - 1  # it moved along the direction
    lowest = tb_featviz.maximize_activation(trained, "conv2", [3], preset="fast", objective=-objectives.channel(), **FAST)
    assert lowest.objective[0] > -pre_activation(trained, "conv2", neuron.images).mean(axis=(1, 2))[0, 3]


def test_diversity_makes_a_channels_images_differ(trained):
    """What diversity lowers is the similarity of the images' Gram matrices (which channels fire
    together: their style); computed here directly, it drops well below the run without it."""
    def similarity(weight):
        result = tb_featviz.maximize_activation(
            trained, "conv2", [2], preset="fast", steps=24, images_per_channel=3, transforms=None, blur_every=0,
            objective=objectives.channel() + weight * objectives.diversity())
        assert result.channels.tolist() == [2, 2, 2] and result.copies == 3
        flat = pre_activation(trained, "conv2", result.images).reshape(3, -1, 16)
        grams = np.stack([f.T @ f for f in flat]).reshape(3, -1)
        grams /= np.linalg.norm(grams, axis=1, keepdims=True)
        return np.mean([grams[i] @ grams[j] for i in range(3) for j in range(i + 1, 3)]), result.activation

    plain, plain_objective = similarity(0.0)
    diverse, diverse_objective = similarity(20.0)
    assert diverse < plain - 0.05, (plain, diverse)
    assert diverse_objective.min() > 0  # still the channel's images: it is still maximized


def test_interpolation_goes_from_one_channel_to_another(trained):
    result = tb_featviz.maximize_activation(
        trained, "conv2", [1], preset="fast", steps=12, images_per_channel=3,
        objective=objectives.interpolate(objectives.channel(), objectives.fixed_channel(7)))
    means = pre_activation(trained, "conv2", result.images).mean(axis=(1, 2))
    np.testing.assert_allclose(result.objective[0], means[0, 1], rtol=1e-4, atol=1e-4)  # all channel 1
    np.testing.assert_allclose(result.objective[2], means[2, 7], rtol=1e-4, atol=1e-4)  # all channel 7
    np.testing.assert_allclose(result.objective[1], 0.5 * means[1, 1] + 0.5 * means[1, 7], rtol=1e-4, atol=1e-4)


def test_objectives_that_cannot_apply_are_refused_before_any_step(trained, tmp_path):
    for objective, words in ((objectives.neuron(99, 0), "outside the layer's 14 x 14 output grid"),
                             (objectives.direction(np.ones(5)), "5 weights for a layer of 16 channels"),
                             (objectives.fixed_channel(40), "out of range for a layer of 16 channels")):
        with pytest.raises(ConfigurationError, match=words):
            tb_featviz.maximize_activation(trained, "conv2", [0], preset="fast", steps=1, objective=objective)
    callback = tb_featviz.FeatVizCallback(str(tmp_path), "conv2", am=AMOptions(objective=objectives.neuron(99, 0)))
    with pytest.raises(ConfigurationError, match="outside the layer"):
        trained.fit(*image_data(8), epochs=1, verbose=0, callbacks=[callback])
    with pytest.raises(ConfigurationError, match="set images_per_channel to 2 or more"):
        tb_featviz.maximize_activation(trained, "conv2", [0], preset="fast", objective=objectives.diversity())
    many = tb_featviz.maximize_activation(trained, "conv2", [0], preset="fast", steps=2, images_per_channel=5,
                                          batch_size=2, objective=objectives.channel() + objectives.diversity())
    assert len(many.images) == 5  # more images than the batch size: one batch holds them all
