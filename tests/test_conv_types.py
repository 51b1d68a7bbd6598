"""Every Keras convolution type: filter pictures equal what the layer computes, every channel."""

import keras
import numpy as np
import pytest

import tb_featviz
from tb_featviz.records import read_records
from tests.conftest import image_data
from tests.impulse import assert_filters_match_impulses

LAYERS = {
    "conv": lambda: keras.layers.Conv2D(6, 3, name="target"),
    "conv_strided_same": lambda: keras.layers.Conv2D(6, (3, 2), strides=2, padding="same", name="target"),
    "grouped": lambda: keras.layers.Conv2D(6, 3, groups=2, name="target"),
    "dilated": lambda: keras.layers.Conv2D(5, 3, dilation_rate=2, name="target"),
    "depthwise": lambda: keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="target"),
    "depthwise_dilated": lambda: keras.layers.DepthwiseConv2D(3, dilation_rate=2, name="target"),
    "separable": lambda: keras.layers.SeparableConv2D(5, 3, depth_multiplier=2, name="target"),
    "transpose": lambda: keras.layers.Conv2DTranspose(5, 3, strides=2, name="target"),
    "transpose_same": lambda: keras.layers.Conv2DTranspose(4, (3, 2), padding="same", name="target"),
}


def model_with(kind, channels=4, activation="relu"):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((16, 16, channels))
    layer = LAYERS[kind]()
    layer.activation = keras.activations.get(activation)
    x = layer(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    # random, non-symmetric weights everywhere (biases too: the reference must remove them)
    rng = np.random.default_rng(0)
    layer.set_weights([rng.standard_normal(w.shape).astype("float32") for w in layer.get_weights()])
    return model, layer


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_every_output_channel_equals_the_layers_impulse_response(kind):
    model, layer = model_with(kind)
    result = tb_featviz.filter_weights(model, "target")
    output_channels = model.get_layer("target").output.shape[-1]
    assert result.channels.tolist() == list(range(output_channels))  # "all" is every output channel
    assert_filters_match_impulses(layer, result, 4)
    flat = result.kernels.reshape(len(result.channels), -1)
    np.testing.assert_allclose(result.norm, np.linalg.norm(flat, axis=1), rtol=1e-5)
    tiles = result.tiles()
    assert tiles.dtype == np.uint8 and tiles.shape[0] == output_channels and tiles.shape[-1] in (1, 3)


def test_what_each_type_reads():
    _, depthwise = model_with("depthwise")
    result = tb_featviz.filter_weights(model_with("depthwise")[0], "target")
    # output channel c * multiplier + m reads input channel c alone
    assert result.input_channels.tolist() == [[0], [0], [1], [1], [2], [2], [3], [3]]
    assert result.kernels.shape == (8, 3, 3, 1)
    grouped = tb_featviz.filter_weights(model_with("grouped")[0], "target")
    assert grouped.input_channels.tolist() == [[0, 1]] * 3 + [[2, 3]] * 3
    dilated = tb_featviz.filter_weights(model_with("dilated")[0], "target")
    assert dilated.kernels.shape[1:3] == (5, 5) and np.all(dilated.kernels[:, 1::2, :, :] == 0)
    transpose = tb_featviz.filter_weights(model_with("transpose")[0], "target")
    assert transpose.orientation == "stamp" and transpose.kernels.shape == (5, 3, 3, 4)


def test_first_layer_over_rgb_is_a_colour_picture_and_deeper_ones_are_not():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(3, 3, name="first")(x)
    x = keras.layers.Conv2D(4, 3, groups=1, name="second")(x)  # also 3 input channels, but not colours
    model = keras.Model(inputs, x)
    first = tb_featviz.filter_weights(model, "first")
    second = tb_featviz.filter_weights(model, "second")
    assert first.colour and first.tiles().shape == (3, 3, 3, 3)
    assert not second.colour and second.tiles().shape == (4, 7, 7, 3)  # 3 gray slices in a 2x2 mosaic


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_the_callback_writes_every_conv_types_weights_am_and_deconv(tmp_path, kind):
    model, layer = model_with(kind)
    x, y = image_data(8, size=16, channels=4)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = tb_featviz.FeatVizCallback(str(tmp_path), ["target"], probe_images=x,
                                          am=tb_featviz.AMOptions(steps=2), top_k=2, verbose=0)
    model.fit(x, y % 3, epochs=1, verbose=0, callbacks=[callback])
    records = read_records(str(tmp_path))
    assert set(records) == {("target", "am"), ("target", "deconv"), ("target", "weights"), ("target", "similarity")}
    header, _ = records[("target", "weights")][1]
    expected = tb_featviz.filter_weights(model, "target")
    assert header["channels"] == expected.channels.tolist()
    np.testing.assert_allclose(header["numbers"]["norm"], expected.norm, rtol=1e-5)
    assert header["layout"]["orientation"] == expected.orientation
