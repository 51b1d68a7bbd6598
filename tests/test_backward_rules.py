"""Deconvnet, guided backprop and the plain gradient at every nonlinearity Keras ships.

The ReLU family gets both rules, checked against an independent NumPy deconvnet that unpools
through switches, applies the rule and filters with the transposed kernels. Every other
nonlinearity has no deconvnet/guided rule: asking for one is refused before any work, naming the
layer, and the plain gradient is offered under its own name (checked against autodiff).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_featviz
from tests.test_deconv import conv_transpose, conv_valid, maxpool_with_switches, unpool


def relu_family(x, slope=0.0, cap=None, threshold=0.0):
    """Keras's relu: cap above max_value, x above the threshold, slope * (x - threshold) below."""
    y = np.where(x >= threshold, x, slope * (x - threshold))
    return np.minimum(y, cap) if cap is not None else y


def relu_family_derivative(x, slope=0.0, cap=None, threshold=0.0):
    d = np.where(x >= threshold, 1.0, slope)
    return np.where(x >= cap, 0.0, d) if cap is not None else d


# name -> (how the nonlinearity enters the model, NumPy forward, derivative, deconvnet slope)
RELU_FAMILY = {
    "relu": ("relu", {}),
    "relu6": ("relu6", {"cap": 6.0}),
    "ReLU(max_value=6)": (lambda x: keras.layers.ReLU(max_value=6.0, name="act")(x), {"cap": 6.0}),
    "ReLU(threshold=1)": (lambda x: keras.layers.ReLU(threshold=1.0, name="act")(x), {"threshold": 1.0}),
    "ReLU(slope, cap, threshold)": (lambda x: keras.layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5, name="act")(x),
                                    {"slope": 0.1, "cap": 6.0, "threshold": 0.5}),
    "LeakyReLU(0.3)": (lambda x: keras.layers.LeakyReLU(negative_slope=0.3, name="act")(x), {"slope": 0.3}),
    "leaky_relu": ("leaky_relu", {"slope": 0.2}),
    "keras.ops.relu": (keras.ops.relu, {}),
    "PReLU": (lambda x: keras.layers.PReLU(name="act")(x), "prelu"),
}

NO_RULE = ["gelu", "silu", "swish", "sigmoid", "tanh", "elu", "selu", "softplus", "mish", "hard_silu",
           "lambda around relu", "ELU layer", "LayerNormalization", "Multiply gate"]


def net(nonlinearity):
    """input 12x12x2 -> conv c1 (3 ch) -> nonlinearity -> max pool -> conv c2 (4 ch, linear)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 2))
    c1 = keras.layers.Conv2D(3, 3, name="c1")
    x = c1(inputs)
    if isinstance(nonlinearity, str):
        x = keras.layers.Activation(nonlinearity, name="act")(x)
    elif nonlinearity is keras.ops.relu:
        x = keras.ops.relu(x)
    else:
        x = nonlinearity(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    c2 = keras.layers.Conv2D(4, 3, name="c2")(x)
    model = keras.Model(inputs, c2)
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if layer.get_weights():
            layer.set_weights([rng.standard_normal(w.shape).astype("float32") for w in layer.get_weights()])
    return model


def numpy_projection(model, image, unit, value, rule, forward, derivative, slope):
    k1, b1 = model.get_layer("c1").get_weights()
    k2, _ = model.get_layer("c2").get_weights()
    pre1 = conv_valid(image.astype(np.float64), k1, b1)
    pooled, switches = maxpool_with_switches(forward(pre1))
    signal = np.zeros((pooled.shape[0] - 2, pooled.shape[1] - 2, k2.shape[-1]))  # c2's output
    signal[unit] = value
    signal = unpool(conv_transpose(signal, k2, pooled.shape), switches, pre1.shape)
    if rule == "deconvnet":
        signal = np.where(signal > 0, signal, slope(pre1) * signal)
    elif rule == "guided":
        signal = derivative(pre1) * np.maximum(signal, 0)
    else:
        signal = derivative(pre1) * signal
    return conv_transpose(signal, k1, image.shape)


def numpy_functions(model, spec):
    if spec == "prelu":
        alpha = next(l for l in model.layers if isinstance(l, keras.layers.PReLU)).get_weights()[0]
        return (lambda x: np.where(x > 0, x, alpha * x), lambda x: np.where(x > 0, 1.0, alpha),
                lambda x: np.broadcast_to(alpha, x.shape))
    return (lambda x: relu_family(x, **spec), lambda x: relu_family_derivative(x, **spec),
            lambda x: np.full(x.shape, spec.get("slope", 0.0)))


@pytest.mark.parametrize("rule", ["deconvnet", "guided", "gradient"])
@pytest.mark.parametrize("name", sorted(RELU_FAMILY))
def test_relu_family_rules_equal_a_numpy_reference(name, rule):
    make, spec = RELU_FAMILY[name]
    model = net(make)
    forward, derivative, slope = numpy_functions(model, spec)
    images = (3.0 * np.random.default_rng(2).standard_normal((4, 12, 12, 2))).astype("float32")
    result = tb_featviz.deconvnet(model, "c2", images, top_k=3, rule=rule)
    assert result.rule == rule
    rules = {entry["rule"] for entry in result.path}
    assert rules == ({"gradient"} if rule == "gradient" else {rule, "switches"})
    checked = 0
    for i, channel in enumerate(result.channels):
        for j in range(3):
            n, (row, col) = result.image_index[i, j], result.position[i, j]
            expected = numpy_projection(model, images[n], (row, col, channel), result.values[i, j], rule,
                                        forward, derivative, slope)
            top, left, bottom, right = result.boxes[i, j]
            expected = expected[top:bottom, left:right]
            scale = np.abs(expected).max()
            difference = np.abs(result.projections[i, j] - expected).max()
            assert difference <= 1e-4 * max(scale, 1e-3), (name, rule, i, j, difference, scale)
            checked += scale > 0
    assert checked >= 6


@pytest.mark.parametrize("name", ["relu6", "ReLU(max_value=6)", "LeakyReLU(0.3)", "PReLU", "ReLU(threshold=1)"])
def test_rules_really_differ_from_the_plain_gradient(name):
    """The round-1 failure: every rule silently became the plain gradient."""
    model = net(RELU_FAMILY[name][0])
    images = (3.0 * np.random.default_rng(3).standard_normal((4, 12, 12, 2))).astype("float32")
    results = {rule: tb_featviz.deconvnet(model, "c2", images, [0, 1, 2, 3], top_k=2, rule=rule)
               for rule in ("deconvnet", "guided", "gradient")}
    for rule in ("deconvnet", "guided"):
        assert np.abs(results[rule].projections - results["gradient"].projections).max() > 1e-3, rule


def _no_rule_layer(name):
    if name == "lambda around relu":
        return lambda x: keras.layers.Activation(lambda v: keras.activations.relu(v), name="act")(x)
    if name == "ELU layer":
        return lambda x: keras.layers.ELU(name="act")(x)
    if name == "LayerNormalization":
        return lambda x: keras.layers.LayerNormalization(name="act")(keras.layers.ReLU()(x))
    if name == "Multiply gate":
        return lambda x: keras.layers.Multiply(name="act")([keras.layers.ReLU()(x), keras.layers.Activation("sigmoid")(x)])
    return name


@pytest.mark.parametrize("name", NO_RULE)
def test_nonlinearities_without_a_rule_are_refused_and_the_gradient_is_named(name, tmp_path):
    model = net(_no_rule_layer(name))
    images = np.random.default_rng(4).standard_normal((4, 12, 12, 2)).astype("float32")
    for rule in ("deconvnet", "guided"):
        with pytest.raises(tb_featviz.ConfigurationError, match=rf"rule '{rule}' is not defined for layer 'c2'.*act.*deconv_rule='gradient'"):
            tb_featviz.deconvnet(model, "c2", images, top_k=2, rule=rule)
        with pytest.raises(tb_featviz.ConfigurationError, match="is not defined for layer 'c2'"):
            _begin(model, tmp_path, images, rule)  # the callback refuses before epoch 1
    result = tb_featviz.deconvnet(model, "c2", images, [0, 1], top_k=2, rule="gradient")
    assert result.rule == "gradient" and all(entry["rule"] == "gradient" for entry in result.path)
    assert any(entry["layer"] == "act" or entry["layer"].startswith("act") for entry in result.path) or name == "Multiply gate"
    # the plain gradient, as autodiff computes it through the model's own c2 output
    sub = keras.Model(model.inputs, model.get_layer("c2").output)
    for i in range(2):
        n, (row, col) = result.image_index[i, 0], result.position[i, 0]
        image = tf.constant(images[n : n + 1])
        with tf.GradientTape() as tape:
            tape.watch(image)
            unit = sub(image)[0, row, col, result.channels[i]]
        gradient = (tape.gradient(unit, image)[0].numpy() * result.values[i, 0])
        top, left, bottom, right = result.boxes[i, 0]
        np.testing.assert_allclose(result.projections[i, 0], gradient[top:bottom, left:right], atol=1e-5, rtol=1e-4)


def _begin(model, tmp_path, images, rule):
    callback = tb_featviz.FeatVizCallback(str(tmp_path), ["c2"], probe_images=images, methods=["deconv"],
                                          deconv_rule=rule, verbose=0)
    callback.set_model(model)
    callback.on_train_begin()


def test_default_methods_leave_deconv_out_with_a_warning_and_keep_the_rest(tmp_path, caplog):
    import logging

    model = net("gelu")
    images = np.random.default_rng(5).standard_normal((6, 12, 12, 2)).astype("float32")
    callback = tb_featviz.FeatVizCallback(str(tmp_path), ["c1", "c2"], probe_images=images, verbose=0)
    callback.set_model(model)
    with caplog.at_level(logging.WARNING, logger="tb_featviz"):
        callback.on_train_begin()
    plans = {plan.name: plan.methods for plan in callback.plans}
    assert plans == {"c1": ("am", "deconv", "weights", "similarity"), "c2": ("am", "weights", "similarity")}
    assert any("no deconv for layer 'c2'" in r.getMessage() and "gelu" in r.getMessage() for r in caplog.records)


ALL_ACTIVATIONS = ["relu", "relu6", "leaky_relu", "gelu", "silu", "swish", "hard_silu", "mish", "elu", "selu",
                   "celu", "softplus", "softsign", "tanh", "sigmoid", "hard_sigmoid", "exponential", "linear",
                   "log_sigmoid", "sparse_plus", "squareplus", "tanh_shrink", "soft_shrink", "hard_shrink",
                   "hard_tanh", "sparse_sigmoid"]


@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_every_keras_activation_as_the_target_layers_own(activation):
    """A layer's own activation: AM maximizes what comes before it and reports what comes out;
    deconv projects from before it, so any activation works there, under every rule."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((12, 12, 2))
    x = keras.layers.MaxPooling2D()(keras.layers.ReLU()(keras.layers.Conv2D(3, 3, name="c1")(inputs)))
    target = keras.layers.Conv2D(4, 3, activation=activation, name="c2")
    model = keras.Model(inputs, target(x))
    result = tb_featviz.maximize_activation(model, "c2", steps=6, preset="fast")
    expected_target = "layer output" if activation == "linear" else "pre-activation (before"
    assert result.target.startswith(expected_target)
    to_input = keras.Model(model.inputs, target.input)
    kernel, bias = target.get_weights()
    pre = tf.nn.conv2d(to_input(result.images), kernel, 1, "VALID").numpy() + bias  # by hand
    diagonal = np.arange(4), np.arange(4)
    np.testing.assert_allclose(result.objective, pre.mean(axis=(1, 2))[diagonal], rtol=1e-4, atol=1e-6)
    output = keras.Model(model.inputs, target.output)(result.images).numpy()  # Keras's own forward
    np.testing.assert_allclose(result.activation, output.mean(axis=(1, 2))[diagonal], rtol=1e-4, atol=1e-6)
    images = np.random.default_rng(8).random((4, 12, 12, 2)).astype("float32")
    for rule in ("deconvnet", "guided", "gradient"):
        projected = tb_featviz.deconvnet(model, "c2", images, top_k=1, rule=rule)
        assert np.all(np.isfinite(projected.projections))
        assert [entry["rule"] for entry in projected.path] == ([rule, "switches"] if rule != "gradient" else ["gradient"] * 2)
