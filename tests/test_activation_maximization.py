"""Activation maximization: batched = per-channel loop, seeded, regularized, dead channels."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_featviz
from tb_featviz.methods.am import AMOptions, PixelImage
from tests.conftest import image_data, small_cnn

PLAIN = dict(parameterization="pixel", transforms=None, total_variation=0.0, l2=0.0, blur_every=0)


def tutorial_loop(model, layer_name, channel, steps, learning_rate, seed):
    """The seed tutorial's algorithm: one channel at a time, eager, keras Adam, same start; the
    objective is the conv's pre-activation (before its ReLU), computed here by hand."""
    layer = model.get_layer(layer_name)
    to_input = keras.Model(model.inputs, layer.input)
    start = PixelImage().initial(seed, [channel], (32, 32, 3))
    image = tf.Variable(start)
    optimizer = keras.optimizers.Adam(learning_rate)

    def pre_activation(x):
        kernel, bias = layer.kernel[..., channel : channel + 1], layer.bias[channel]
        return tf.nn.conv2d(to_input(x, training=False), kernel, 1, layer.padding.upper()) + bias

    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(pre_activation(image))
        optimizer.apply_gradients([(tape.gradient(loss, image), image)])
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
    return image.numpy()[0]


def test_batched_equals_per_channel_loop():
    keras.utils.set_random_seed(1)
    model = small_cnn()
    channels = [0, 3, 5, 7, 9, 14]
    result = tb_featviz.maximize_activation(
        model, "conv2", channels, steps=12, learning_rate=0.05, selected_channels_only=False, **PLAIN, preset="fast")
    for i, channel in enumerate(channels):
        expected = tutorial_loop(model, "conv2", channel, 12, 0.05, seed=0)
        # Elements are independent, but not bit-identical on every CPU: the batched step convolves
        # with all 16 filters, the loop with one, and CPU kernels (AVX2 vs AVX-512, oneDNN vs
        # Eigen) may sum the 3x3x8 products in other orders; a gradient's last bit moves an Adam
        # step (lr * m / sqrt(v), insensitive to the gradient's scale) by ~lr * 1e-7. Measured on
        # AVX2: at most 7.5e-9 after 12 steps. 1e-6 (8 ulps at 1.0) holds that with room and is
        # 5e4 times smaller than one step (0.05) that another channel or objective would take.
        np.testing.assert_allclose(result.images[i], expected, rtol=0, atol=1e-6)
    # and the images really moved away from the start
    start = PixelImage().initial(0, channels, (32, 32, 3))
    assert np.abs(result.images - start).max() > 0.05


def test_computing_only_the_selected_channels_gives_the_same_images(monkeypatch):
    """The fast path for conv targets (am/selected.py) skips the layer's other filters."""
    from tb_featviz.methods.am.selected import SelectedChannelsForward

    traced_batches = []
    original = SelectedChannelsForward.__call__

    def counting(self, x, channels):
        traced_batches.append(int(channels.shape[0]))
        return original(self, x, channels)

    monkeypatch.setattr(SelectedChannelsForward, "__call__", counting)
    keras.utils.set_random_seed(4)
    model = small_cnn()
    channels = [1, 2, 9, 15]  # a batch of 4 of conv2's 16 filters: the fast path runs
    fast = tb_featviz.maximize_activation(model, "conv2", channels, steps=12, **PLAIN, preset="fast")
    full = tb_featviz.maximize_activation(model, "conv2", channels, steps=12, selected_channels_only=False, **PLAIN, preset="fast")
    np.testing.assert_allclose(fast.start_activation, full.start_activation, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast.activation, full.activation, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(fast.images, full.images, atol=2e-3)
    assert set(traced_batches) == {4}  # the fast path ran, in evaluation and the steps: 4 channels, never padded
    from tb_featviz.model_access import find_layer

    assert SelectedChannelsForward.for_layer(find_layer(model, "conv2")).worthwhile(8)
    assert SelectedChannelsForward.for_layer(find_layer(model, "logits")) is None  # Dense: full path


def test_channel_result_does_not_depend_on_other_channels_or_epoch():
    keras.utils.set_random_seed(2)
    model = small_cnn()
    alone = tb_featviz.maximize_activation(model, "conv1", [3], steps=8, preset="fast")
    together = tb_featviz.maximize_activation(model, "conv1", [1, 3, 6], steps=8, preset="fast")
    again = tb_featviz.maximize_activation(model, "conv1", [1, 3, 6], steps=8, preset="fast")
    np.testing.assert_array_equal(together.images, again.images)
    np.testing.assert_allclose(alone.images[0], together.images[1], atol=1e-6)


def test_activation_grows_on_batchnorm_model_and_images_are_not_noise():
    """keras-vis #219: AM on BatchNorm models gave noise. Here: a trained BN model."""
    keras.utils.set_random_seed(3)
    model = small_cnn(batchnorm=True)
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = image_data(96)
    model.fit(x, y, epochs=3, verbose=0)
    result = tb_featviz.maximize_activation(model, "conv2", range(8), steps=40, preset="fast")
    alive = ~result.dead
    assert alive.sum() >= 4
    assert np.all(result.activation[alive] > 2 * result.start_activation[alive] + 1e-3)
    noise = np.random.default_rng(0).random(result.images.shape[1:])
    for image in result.images[alive]:
        assert roughness(image) < 0.5 * roughness(noise)


def roughness(image):
    """Neighbour difference relative to overall spread: ~1.4 for white noise, small for features."""
    image = image - image.mean()
    diff = np.abs(np.diff(image, axis=0)).mean() + np.abs(np.diff(image, axis=1)).mean()
    return diff / (2 * image.std() + 1e-12)


def test_dead_channel_is_flagged_and_keeps_its_image():
    keras.utils.set_random_seed(4)
    model = small_cnn(batchnorm=False)
    conv2 = model.get_layer("conv2")
    kernel, bias = conv2.get_weights()
    kernel[..., 2] = 0.0
    bias[2] = -1.0  # channel 2: relu(-1) = 0 everywhere, whatever the input
    conv2.set_weights([kernel, bias])
    result = tb_featviz.maximize_activation(model, "conv2", [1, 2], steps=5, preset="fast")
    assert result.dead.tolist() == [False, True]
    assert result.activation[1] == 0.0
    assert "varied test images" in result.dead_test
    # DEAD is a flag, not a colour: the tile is the image itself, as the model sees it
    np.testing.assert_array_equal(result.tiles()[1], np.round(result.images[1] * 255).astype(np.uint8))


def test_a_channel_that_changes_only_in_float_rounding_is_dead_on_every_cpu():
    """MobileNetV3Small's logits after one epoch vary over images by 0-3 float32 ulps depending
    on the CPU's summation order: DEAD must not depend on the CPU. Here channel 0 is 1.0 plus at
    most 1e-7 from the image (1 ulp at 1.0), channel 1 is 1.0 plus up to 3e-3."""
    inputs = keras.Input((16, 16, 3))
    conv1 = keras.layers.Conv2D(2, 1, activation="relu", name="conv1")
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(conv1(inputs))))
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[..., 0], kernel[..., 1] = 1e-7 / 3, 1e-3
    conv1.set_weights([kernel, np.ones(2, np.float32)])
    probes = np.stack([np.zeros((16, 16, 3)), np.ones((16, 16, 3))]).astype(np.float32)
    outputs = conv1(probes).numpy()
    assert outputs[1, ..., 0].max() > outputs[0, ..., 0].max()  # not equal: one ulp apart
    am = tb_featviz.maximize_activation(model, "conv1", [0, 1], steps=2, probe_images=probes, preset="fast")
    assert am.dead.tolist() == [True, False]
    assert tb_featviz.deconvnet(model, "conv1", probes, [0, 1], top_k=1).dead.tolist() == [True, False]


def test_a_channel_silent_on_gray_but_firing_on_edges_is_alive_and_optimized():
    """The false DEAD of round 1: zero output and zero gradient at a flat start image."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((32, 32, 3))
    conv1 = keras.layers.Conv2D(2, 3, activation="relu", name="conv1")
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(conv1(inputs))))
    kernel, bias = conv1.get_weights()
    kernel[..., 0] = 0.0
    kernel[:, 0, :, 0], kernel[:, 2, :, 0] = -1.0, 1.0  # a vertical edge detector
    bias[0] = -1.0  # silent on flat or faintly noisy images
    conv1.set_weights([kernel, bias])
    edges = np.zeros((4, 32, 32, 3), "float32")
    edges[:, :, 16:] = 1.0
    start = PixelImage().initial(0, [0], (32, 32, 3))
    assert conv1(start).numpy()[..., 0].max() == 0.0  # silent at the start...
    assert conv1(edges).numpy()[..., 0].max() > 1.0  # ...but fires on an edge
    for maximize in ("pre_activation", "auto"):  # auto: the output (a first layer), redirected while silent
        for probes in (None, edges):
            result = tb_featviz.maximize_activation(model, "conv1", [0, 1], steps=24, probe_images=probes,
                                                    maximize=maximize, preset="fast")
            assert not result.dead[0]
            assert result.activation[0] > 0.0  # it fires now
        assert result.maximized == ("output" if maximize == "auto" else "pre_activation")


def test_threshold_stops_each_channel_early():
    keras.utils.set_random_seed(5)
    model = small_cnn()
    full = tb_featviz.maximize_activation(model, "conv1", range(4), steps=30, preset="fast")
    threshold = float(np.median(full.activation))
    stopped = tb_featviz.maximize_activation(model, "conv1", range(4), steps=30, threshold=threshold, preset="fast")
    assert stopped.steps_run.min() < 30
    assert np.all(stopped.steps_run <= 30)


def test_logits_are_maximized_not_probabilities_and_softmax_is_restored():
    keras.utils.set_random_seed(6)
    model = small_cnn()
    layer = model.get_layer("logits")
    result = tb_featviz.maximize_activation(model, "logits", [0, 1], steps=20, preset="fast")
    assert layer.activation is keras.activations.softmax
    # The objective is the logit of the final image and the activation the probability the
    # layer outputs, both computed here independently.
    features = keras.Model(model.inputs, model.get_layer("dropout").output)(result.images, training=False)
    kernel, bias = layer.get_weights()
    logits = features.numpy() @ kernel + bias
    np.testing.assert_allclose(result.objective, logits[[0, 1], [0, 1]], rtol=1e-4, atol=1e-5)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(result.activation, probabilities[[0, 1], [0, 1]], rtol=1e-4, atol=1e-6)
    assert np.all(result.activation > result.start_activation)


def test_global_random_state_is_untouched():
    model = small_cnn()
    keras.utils.set_random_seed(7)
    expected = (np.random.rand(), tf.random.uniform([2]).numpy())
    keras.utils.set_random_seed(7)
    tb_featviz.maximize_activation(model, "conv1", [0, 1], steps=3, preset="fast")
    got = (np.random.rand(), tf.random.uniform([2]).numpy())
    assert expected[0] == got[0]
    np.testing.assert_array_equal(expected[1], got[1])


def test_grayscale_model_and_open_input_size():
    keras.utils.set_random_seed(8)
    inputs = keras.Input((None, None, 1))
    features = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(features))
    result = tb_featviz.maximize_activation(model, "conv", "all", steps=4, image_size=(40, 24), preset="fast")
    assert result.images.shape == (4, 40, 24, 1)
    assert result.tiles().dtype == np.uint8


def test_bad_options_are_clear_errors():
    model = small_cnn()
    with pytest.raises(tb_featviz.ConfigurationError, match="unknown option"):
        tb_featviz.maximize_activation(model, "conv1", steps_per_channel=3, preset="fast")
    with pytest.raises(tb_featviz.ConfigurationError, match="parameterization"):
        tb_featviz.maximize_activation(model, "conv1", parameterization="wavelet", preset="fast")
    with pytest.raises(tb_featviz.ConfigurationError, match="out of range.*valid: 0..7"):
        tb_featviz.maximize_activation(model, "conv1", [8], preset="fast")
    with pytest.raises(tb_featviz.ConfigurationError, match="no layer 'conv9'.*conv1"):
        tb_featviz.maximize_activation(model, "conv9", preset="fast")


def test_input_range_and_preprocess_map_the_same_image():
    """An image in [0, 255] divided by 255 is the same input as an image in [0, 1]."""
    keras.utils.set_random_seed(9)
    model = small_cnn()
    unit = tb_featviz.maximize_activation(model, "conv2", [0, 4], steps=6, preset="fast")
    scaled = tb_featviz.maximize_activation(
        model, "conv2", [0, 4], steps=6, input_range=(0, 255), preprocess=lambda x: x / 255.0, preset="fast")
    np.testing.assert_allclose(unit.images, scaled.images, atol=1e-5)
    np.testing.assert_allclose(unit.activation, scaled.activation, rtol=1e-4)


def test_center_unit_objective_reports_the_center_unit():
    keras.utils.set_random_seed(10)
    model = small_cnn()
    result = tb_featviz.maximize_activation(model, "conv2", [2, 6], steps=10, reduction="center", preset="fast")
    sub = keras.Model(model.inputs, model.get_layer("conv2").output)
    out = sub(tf.constant(result.images), training=False).numpy()  # (2, 14, 14, 16)
    np.testing.assert_allclose(result.activation, out[[0, 1], 7, 7, [2, 6]], rtol=1e-5)


def test_fourier_parameterization_on_colour_input():
    keras.utils.set_random_seed(11)
    model = small_cnn(channels=3)
    result = tb_featviz.maximize_activation(model, "conv2", range(4), steps=24, parameterization="fourier", learning_rate=0.2, preset="fast")
    assert result.images.shape == (4, 32, 32, 3)
    assert result.images.min() >= 0.0 and result.images.max() <= 1.0
    alive = ~result.dead
    assert np.all(result.activation[alive] > result.start_activation[alive])


def test_a_first_layer_maximizes_its_output_because_its_pre_activation_is_affine():
    """The pre-activation of a first conv is linear in the image: its maximum is a flat image
    (black or white by the sign of the filter's sum). "auto" maximizes the output instead,
    where a ReLU rewards the pattern the filter matches, and says so."""
    keras.utils.set_random_seed(12)
    inputs = keras.Input((24, 24, 1))
    conv = keras.layers.Conv2D(1, 3, activation="relu", name="conv")
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(conv(inputs)))
    kernel = np.array([[-1, 2, -1]] * 3, "float32").T[:, :, None, None]  # a horizontal line detector
    conv.set_weights([kernel, np.zeros(1, "float32")])
    plain = dict(steps=64, transforms=None, blur_every=0)
    auto = tb_featviz.maximize_activation(model, "conv", **plain, preset="fast")
    assert auto.maximized == "output" and "affine" in auto.target
    interior = auto.images[0, 2:-2, 2:-2, 0]
    rows = interior.mean(axis=1)
    assert interior.std() > 0.3 and rows.max() - rows.min() > 0.8  # bright and dark lines
    pre = tb_featviz.maximize_activation(model, "conv", maximize="pre_activation", **plain, preset="fast")
    assert pre.maximized == "pre_activation" and auto.activation[0] > pre.activation[0]
    # a zero-sum filter's mean pre-activation hardly depends on the interior: it stays near the start
    assert pre.images[0, 2:-2, 2:-2, 0].std() < 0.1


def test_a_repeated_notebook_call_traces_nothing_new_and_sees_todays_weights():
    """A second call on the same model, layer and options reuses the first one's traced steps
    (a deep layer's tracing took longer than its steps); it reads the weights when it runs."""
    from tb_featviz.methods.am.method import _MAXIMIZERS

    keras.utils.set_random_seed(2)
    model = small_cnn()
    first = tb_featviz.maximize_activation(model, "conv2", [0, 1], steps=3, preset="fast")
    (maximizer,) = _MAXIMIZERS[model].values()
    (renderer,) = maximizer._renderers.values()
    traced = renderer._step.experimental_get_tracing_count()
    again = tb_featviz.maximize_activation(model, "conv2", [0, 1], steps=3, preset="fast")
    assert list(_MAXIMIZERS[model].values()) == [maximizer]
    assert renderer._step.experimental_get_tracing_count() == traced
    np.testing.assert_array_equal(again.images, first.images)
    kernel = model.get_layer("conv2").kernel
    kernel.assign(kernel * 3.0)
    later = tb_featviz.maximize_activation(model, "conv2", [0, 1], steps=3, preset="fast")
    assert not np.allclose(later.start_activation, first.start_activation)  # today's weights
