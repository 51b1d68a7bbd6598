"""FeatVizCallback in real model.fit runs: what it writes, that it never changes training."""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_featviz
from tb_featviz import AMOptions, FeatVizCallback, metadata
from tests.conftest import FAST_AM, fit_model, image_data, small_cnn
from tb_featviz.records import read_records



def epochs_of(series):
    """The epochs (with fraction) at which a series' records were written, in step order."""
    return [series[step][0]["position"]["epoch"] for step in sorted(series)]


def fit(model, callbacks, epochs=3, seed=0, **kwargs):
    return fit_model(model, callbacks, epochs=epochs, seed=seed, **kwargs)


def test_three_epochs_write_every_layer_and_method_from_step_0(tmp_path):
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, _ = image_data(16, seed=1)
    callback = FeatVizCallback(
        str(tmp_path), {"conv1": "all", "conv2": range(0, 16, 2), "logits": [1, 3]}, probe_images=x, am=FAST_AM, top_k=4
    )
    fit(model, [callback])
    records = read_records(str(tmp_path))
    expected = {
        ("conv1", "am"), ("conv1", "deconv"), ("conv1", "weights"), ("conv1", "similarity"),
        ("conv2", "am"), ("conv2", "deconv"), ("conv2", "weights"), ("conv2", "similarity"),
        ("logits", "am"), ("logits", "deconv"), ("logits", "similarity"),
    }
    assert set(records) == expected
    channels = {"conv1": list(range(8)), "conv2": list(range(0, 16, 2)), "logits": [1, 3]}
    for (layer, method), steps in records.items():
        # 3 batches per epoch, too few for the log points: step 0, then every epoch's end.
        assert sorted(steps) == [0, 3, 6, 9], (layer, method)
        assert epochs_of(steps) == [0, 1, 2, 3]
        for header, images in steps.values():
            if metadata.FORMATS[method].elements == metadata.ARRAY:  # similarity: the whole layer, one array
                assert header["channels"] == [0] and len(images) == 1
                continue
            assert header["channels"] == channels[layer]
            assert len(images) == metadata.expected_length(len(channels[layer]), metadata.ROLES[method]) - 1
            for png in images:
                decoded = tf.io.decode_png(png).numpy()
                assert decoded.ndim == 3 and decoded.shape[0] > 0
            assert set(header["numbers"]) >= {"activation", "dead"} or method == "weights"
    am_header = records[("conv1", "am")][9][0]
    assert am_header["image_shape"] == [32, 32, 3]
    assert am_header["settings"]["input"]["value_range"] == [0.0, 1.0]
    deconv_header = records[("conv2", "deconv")][0][0]
    assert deconv_header["layout"]["top_k"] == 4 and len(deconv_header["numbers"]["top_values"][0]) == 4
    assert [step for step, _ in callback.timings] == [0, 3, 6, 9]


def test_freq_keeps_step_0_and_the_final_epoch(tmp_path):
    model = small_cnn()
    callback = FeatVizCallback(str(tmp_path), ["conv1"], freq=2, am=FAST_AM, methods=["weights"])
    fit(model, [callback], epochs=5)
    series = read_records(str(tmp_path))[("conv1", "weights")]
    assert sorted(series) == [0, 6, 12, 15] and epochs_of(series) == [0, 2, 4, 5]


@pytest.mark.parametrize("budget,expected", [(1e-9, [0, 5]), (9.9, [0, 1, 2, 3, 4, 5])])
def test_max_overhead_skips_epochs_but_never_step_0_or_the_last(tmp_path, budget, expected):
    callback = FeatVizCallback(str(tmp_path), ["conv1"], am=FAST_AM, methods=["am"], max_overhead=budget)
    fit(small_cnn(), [callback], epochs=5)
    assert epochs_of(read_records(str(tmp_path))[("conv1", "am")]) == expected
    assert callback.skipped_steps == [3 * e for e in range(1, 5) if e not in expected]  # global steps
    assert {(layer, method) for _, layer, method, _ in callback.method_timings} == {("conv1", "am")}


def test_initial_epoch_continues_the_epoch_numbering(tmp_path):
    model = small_cnn()
    callback = FeatVizCallback(str(tmp_path), ["conv1"], methods=["weights"])
    fit(model, [callback], epochs=4, initial_epoch=2)
    series = read_records(str(tmp_path))[("conv1", "weights")]
    assert sorted(series) == [0, 3, 6]  # a fresh optimizer: global steps from 0
    assert epochs_of(series) == [2, 3, 4]


class CountEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs += 1


@pytest.mark.parametrize(
    "layers, kwargs, message",
    [
        (["conv7"], {}, r"no layer 'conv7' \(did you mean 'conv1' or 'conv2'\?\); layers: conv1, bn1, relu1, pool1, conv2"),
        (["Conv2"], {}, r"no layer 'Conv2' \(did you mean 'conv2'\?\); layers: conv1, "),  # case ignored
        ({"conv2": [3, 16]}, {}, r"channel\(s\) \[16\] out of range for layer 'conv2', which has 16 channels"),
        (["logits"], {"methods": ["weights"]}, r"method 'weights' does not apply to layer 'logits'"),
        (["conv1"], {"methods": ["deconv"]}, r"'deconv' needs probe_images"),
        (["conv1"], {"methods": ["lime"]}, r"unknown method"),
    ],
)
def test_misconfiguration_raises_before_the_first_epoch(tmp_path, layers, kwargs, message):
    counter = CountEpochs()
    with pytest.raises(tb_featviz.ConfigurationError, match=message):
        fit(small_cnn(), [FeatVizCallback(str(tmp_path), layers, **kwargs), counter])
    assert counter.epochs == 0


def test_unsupported_models_and_layers_are_clear_errors(tmp_path):
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(4, 3)
            self.pool = keras.layers.GlobalAveragePooling2D()
            self.out = keras.layers.Dense(5)

        def call(self, x):
            return self.out(self.pool(self.conv(x)))

    with pytest.raises(tb_featviz.ConfigurationError, match="subclassed"):
        fit(Subclassed(), [FeatVizCallback(str(tmp_path), ["conv2d"], image_size=(32, 32))])
    inputs = keras.Input((32, 32, 3))
    seq = keras.layers.Reshape((32, 96), name="as_sequence")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(5)(keras.layers.Flatten()(seq)))
    with pytest.raises(tb_featviz.ConfigurationError, match="only layers with .* outputs"):
        fit(model, [FeatVizCallback(str(tmp_path), ["as_sequence"])])
    with pytest.raises(tb_featviz.ConfigurationError, match="freq counts epochs"), pytest.warns(DeprecationWarning):
        FeatVizCallback(str(tmp_path), ["conv1"], every_n_epochs=0)
    with pytest.raises(tb_featviz.ConfigurationError, match="layers must be"):
        FeatVizCallback(str(tmp_path), 42)
    for budget in (0, -0.1, "5%", True):
        with pytest.raises(tb_featviz.ConfigurationError, match="max_overhead"):
            FeatVizCallback(str(tmp_path), ["conv1"], max_overhead=budget)


def test_a_failure_mid_training_is_logged_once_and_skipped(tmp_path, monkeypatch, caplog):
    from tb_featviz.methods.am.maximize import ActivationMaximizer

    original = ActivationMaximizer.run
    calls = {"n": 0}

    def flaky(self, channels, progress=None):
        calls["n"] += 1
        if calls["n"] >= 2:  # fails from epoch 1 on
            raise tf.errors.ResourceExhaustedError(None, None, "injected: out of memory")
        return original(self, channels)

    monkeypatch.setattr(ActivationMaximizer, "run", flaky)
    callback = FeatVizCallback(str(tmp_path), ["conv1"], am=FAST_AM)
    with caplog.at_level(logging.WARNING, logger="tb_featviz"):
        history = fit(small_cnn(), [callback], epochs=3)
    assert len(history.history["loss"]) == 3  # fit completed
    warnings = [r for r in caplog.records if "injected" in r.getMessage()]
    assert len(warnings) == 1 and "am of conv1 failed and was skipped" in warnings[0].getMessage()
    records = read_records(str(tmp_path))
    assert sorted(records[("conv1", "am")]) == [0]  # written before the failure: kept
    assert sorted(records[("conv1", "weights")]) == [0, 3, 6, 9]  # other methods unaffected


def test_sequential_without_input_grayscale(tmp_path):
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [keras.layers.Conv2D(4, 3, activation="relu", name="conv"), keras.layers.Flatten(), keras.layers.Dense(3, name="out")]
    )
    rng = np.random.default_rng(0)
    x, y = rng.random((24, 20, 20, 1)).astype("float32"), rng.integers(0, 3, 24)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[FeatVizCallback(str(tmp_path), ["conv", "out"], probe_images=x[:6], am=FAST_AM)])
    records = read_records(str(tmp_path))
    assert set(records) == {("conv", "am"), ("conv", "deconv"), ("conv", "weights"), ("out", "am"), ("out", "deconv"),
                            ("conv", "similarity"), ("out", "similarity")}
    header, images = records[("conv", "am")][1]  # 24 images in batches of 32: one step
    assert header["image_shape"] == [20, 20, 1] and header["position"]["epoch"] == 1
    assert tf.io.decode_png(images[0]).shape == (20, 20, 1)


def test_mixed_precision(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = small_cnn()
        x, _ = image_data(8, seed=2)
        fit(model, [FeatVizCallback(str(tmp_path), ["conv1", "logits"], probe_images=x, am=FAST_AM)], epochs=1)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    records = read_records(str(tmp_path))
    # 3 batches, though the loss-scaling optimizer skips the first steps (its count stays behind).
    assert sorted(records[("conv1", "am")]) == [0, 3]
    header = records[("logits", "am")][3][0]
    assert all(np.isfinite(v) for v in header["numbers"]["activation"])


def test_summary_api_from_a_custom_training_loop(tmp_path):
    model = small_cnn()
    result = tb_featviz.maximize_activation(model, "conv1", [0, 5], steps=3, preset="fast")
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default(step=7):
        assert tb_featviz.summary.write("conv1", result)
        assert tb_featviz.summary.write("conv1", tb_featviz.filter_weights(model, "conv1", [0, 5]))
    writer.close()
    records = read_records(str(tmp_path))
    header, images = records[("conv1", "am")][7]
    assert header["channels"] == [0, 5]
    np.testing.assert_allclose(header["numbers"]["activation"], result.activation, rtol=1e-6)
    np.testing.assert_array_equal(tf.io.decode_png(images[1]).numpy(), result.tiles()[1])
    assert sorted(records[("conv1", "weights")]) == [7]


def test_class_names_label_the_class_layer_only_and_a_wrong_count_fails_before_training(tmp_path, data):
    from tb_featviz.errors import ConfigurationError

    x, y = data
    model = small_cnn()
    model.compile("adam", "sparse_categorical_crossentropy")
    names = ["a", "b", "c", "d", "none"]
    callback = FeatVizCallback(str(tmp_path / "named"), {"logits": [4, 1], "conv2": [0, 1]},
                               am=AMOptions(steps=2), class_names=names, methods=["am"], verbose=0)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    records = read_records(str(tmp_path / "named"))
    logits, conv2 = records[("logits", "am")], records[("conv2", "am")]
    assert logits[max(logits)][0]["settings"]["channel_names"] == ["none", "b"]
    assert "channel_names" not in conv2[max(conv2)][0]["settings"]  # not class units
    wrong = FeatVizCallback(str(tmp_path / "wrong"), "logits", class_names=["cat", "dog"], verbose=0)
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ConfigurationError, match="class_names has 2 names but the model's output has 5 units"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[wrong])
    assert all((w.numpy() == b).all() for w, b in zip(model.weights, before))  # nothing trained
    for bad in ("cat,dog", [1, 2], []):
        with pytest.raises(ConfigurationError, match="class_names"):
            FeatVizCallback(str(tmp_path), "logits", class_names=bad)
