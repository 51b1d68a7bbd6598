"""Deconvnet projections checked against an independent NumPy deconvnet (unpool, rectify, filter)."""

import keras
import numpy as np
import pytest

import tb_featviz


def conv_relu_pool_net(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((16, 16, 2)),
            keras.layers.Conv2D(3, 3, activation="relu", name="c1"),  # 16 -> 14
            keras.layers.MaxPooling2D(name="p1"),  # 14 -> 7
            keras.layers.Conv2D(4, 3, activation="relu", name="c2"),  # 7 -> 5
        ]
    )


# -- an independent NumPy deconvnet ------------------------------------------------------------
def conv_valid(x, kernel, bias):
    kh, kw, _, _ = kernel.shape
    h, w = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = np.zeros((h, w, kernel.shape[3])) + bias
    for a in range(kh):
        for b in range(kw):
            out += np.einsum("ijc,co->ijo", x[a : a + h, b : b + w], kernel[a, b])
    return out


def conv_transpose(signal, kernel, in_shape):
    out = np.zeros(in_shape)
    for a in range(kernel.shape[0]):
        for b in range(kernel.shape[1]):
            out[a : a + signal.shape[0], b : b + signal.shape[1]] += np.einsum("ijo,co->ijc", signal, kernel[a, b])
    return out


def maxpool_with_switches(x):
    h, w, c = x.shape[0] // 2, x.shape[1] // 2, x.shape[2]
    out, switches = np.zeros((h, w, c)), np.zeros((h, w, c, 2), int)
    for i in range(h):
        for j in range(w):
            for k in range(c):
                window = x[2 * i : 2 * i + 2, 2 * j : 2 * j + 2, k]
                a, b = divmod(int(np.argmax(window)), 2)  # first maximum, row-major
                out[i, j, k], switches[i, j, k] = window[a, b], (2 * i + a, 2 * j + b)
    return out, switches


def unpool(signal, switches, shape):
    out = np.zeros(shape)
    for i, j, k in np.ndindex(signal.shape):
        a, b = switches[i, j, k]
        out[a, b, k] += signal[i, j, k]
    return out


def numpy_deconv(model, image, unit, value, rule):
    (k1, b1), (k2, b2) = model.get_layer("c1").get_weights(), model.get_layer("c2").get_weights()
    pre1 = conv_valid(image.astype(np.float64), k1, b1)
    pooled, switches = maxpool_with_switches(np.maximum(pre1, 0))
    pre2 = conv_valid(pooled, k2, b2)
    rectify = (lambda s, pre: np.maximum(s, 0)) if rule == "deconvnet" else (lambda s, pre: s * (pre > 0) * (s > 0))
    signal = np.zeros(pre2.shape)
    signal[unit] = value
    signal = conv_transpose(rectify(signal, pre2), k2, pooled.shape)
    signal = unpool(signal, switches, pre1.shape)
    return conv_transpose(rectify(signal, pre1), k1, image.shape), np.maximum(pre2, 0)


@pytest.mark.parametrize("rule", ["deconvnet", "guided"])
def test_projection_equals_numpy_deconvnet(rule):
    model = conv_relu_pool_net()
    images = np.random.default_rng(0).standard_normal((6, 16, 16, 2)).astype("float32")
    result = tb_featviz.deconvnet(model, "c2", images, [0, 1, 2, 3], top_k=3, rule=rule)
    activations = np.stack([numpy_deconv(model, image, (0, 0, 0), 1.0, rule)[1] for image in images])  # (n, 5, 5, 4)
    checked = 0
    for i, channel in enumerate(result.channels):
        flat = activations[..., channel].ravel()
        np.testing.assert_allclose(result.values[i], np.sort(flat)[::-1][:3], rtol=1e-5)
        for j in range(3):
            n, (row, col) = result.image_index[i, j], result.position[i, j]
            assert activations[n, row, col, channel] == pytest.approx(result.values[i, j], rel=1e-5)
            reference, _ = numpy_deconv(model, images[n], (row, col, channel), result.values[i, j], rule)
            top, left, bottom, right = result.boxes[i, j]
            assert (top, left, bottom - top, right - left) == (2 * row, 2 * col, 8, 8)  # receptive field
            outside = reference.copy()
            outside[top:bottom, left:right] = 0
            assert np.abs(outside).max() == 0  # the projection lies inside the field
            expected = reference[top:bottom, left:right]
            scale = np.abs(expected).max()
            difference = np.abs(result.projections[i, j] - expected).max()
            if scale == 0:  # rectifying the backward signal can cancel it entirely
                assert difference < 1e-6
            else:
                assert difference / scale < 1e-4
                checked += 1
            np.testing.assert_array_equal(result.patches[i, j], images[n, top:bottom, left:right])
    assert checked >= 6  # most of the 12 projections are non-trivial


def test_relus_are_restored_and_tiles_are_displayable():
    model = conv_relu_pool_net()
    images = np.random.default_rng(1).random((4, 16, 16, 2)).astype("float32")
    before = model.predict(images, verbose=0)
    result = tb_featviz.deconvnet(model, "c2", images, top_k=4)
    assert model.get_layer("c1").activation is keras.activations.relu
    np.testing.assert_array_equal(model.predict(images, verbose=0), before)
    tiles = result.projection_tiles()
    # 2 input channels are two gray planes side by side (8 x 17), never gray+alpha; then the
    # 2x2 grid of those, with 1 px gaps in a colour no gray picture has
    from tb_featviz.imaging import GAP_COLOUR

    assert tiles.dtype == np.uint8 and tiles.shape == (4, 17, 35, 3)
    assert tuple(tiles[0, 8, 0]) == GAP_COLOUR and tuple(tiles[0, 0, 8]) == GAP_COLOUR
    plane = tiles[0, :8, :8]
    assert np.all(plane[..., 0] == plane[..., 1]) and np.all(plane[..., 1] == plane[..., 2])
    assert result.patch_tiles().shape == tiles.shape


def test_residual_batchnorm_nested_model():
    """Deconv through a nested block with BatchNorm (inference), a ReLU layer and a residual add."""
    keras.utils.set_random_seed(3)
    inner_in = keras.Input((16, 16, 4))
    h = keras.layers.Conv2D(4, 3, padding="same", name="inner_conv")(inner_in)
    h = keras.layers.BatchNormalization(name="inner_bn")(h)
    h = keras.layers.ReLU(name="inner_relu")(keras.layers.Add()([h, inner_in]))
    block = keras.Model(inner_in, h, name="block")
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="stem")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = block(x)
    out = keras.layers.Conv2D(6, 3, activation="relu", name="head")(x)
    model = keras.Model(inputs, out)
    images = np.random.default_rng(2).random((5, 32, 32, 3)).astype("float32")
    result = tb_featviz.deconvnet(model, "head", images, top_k=2)
    alive = ~result.dead
    assert alive.any()
    assert np.all(np.isfinite(result.projections))
    assert all(np.abs(result.projections[i]).max() > 0 for i in np.flatnonzero(alive))
    # field: stem 3 -> pool (4, stride 2) -> inner conv (+2*2) -> head (+2*2) = 12 px
    assert {tuple(b[2:] - b[:2]) for b in result.boxes.reshape(-1, 4)} == {(12, 12)}
    inner = tb_featviz.deconvnet(model, "block/inner_conv", images, [0], top_k=1)
    assert tuple(inner.boxes[0, 0, 2:] - inner.boxes[0, 0, :2]) == (8, 8)
    assert isinstance(model.get_layer("block").get_layer("inner_relu").call.__self__, keras.layers.ReLU)


def test_top_k_selection_equals_a_stable_sort_with_ties():
    """Ties go to the earliest image and position, as a stable sort of the whole row would."""
    from tb_featviz.methods.deconv.projector import _top_k_order

    rng = np.random.default_rng(0)
    for _ in range(100):
        rows, width, k = rng.integers(1, 6), rng.integers(1, 200), rng.integers(1, 12)
        values = rng.integers(0, 4, (rows, width)).astype(np.float32)  # many ties, zeros
        expected = np.argsort(-values, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(_top_k_order(values, k), expected)
