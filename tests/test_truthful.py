"""Nothing false, ever: the cases where round 1 showed a wrong picture or failed silently.

Each test names the finding it guards (issue 10's numbering) and checks against a reference that
does not go through tb-featviz's own code.
"""

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import tb_featviz
from tb_featviz import AMOptions, ConfigurationError, FeatVizCallback, RandomAffine
from tb_featviz.errors import cause
from tb_featviz.records import decode_images, read_records
from tests.conftest import FAST_AM, fit_model, image_data, small_cnn

ROOT = Path(__file__).resolve().parent.parent


def fit(model, callbacks, epochs=1, x=None, y=None, **kwargs):
    return fit_model(model, callbacks, epochs=epochs, images=16, batch_size=8, x=x, y=y, optimizer="adam",
                 loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), **kwargs)


# -- 4: a nested model named as a layer is its output ---------------------------------------------
def nested_model():
    keras.utils.set_random_seed(0)
    block = keras.Sequential([keras.Input((16, 16, 8)), keras.layers.Conv2D(6, 3, name="conv"),
                              keras.layers.ReLU(name="relu")], name="block")
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.MaxPooling2D()(keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs))
    outputs = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(block(x)))
    return keras.Model(inputs, outputs)


def test_nested_model_target_is_its_output_not_its_input():
    model = nested_model()
    result = tb_featviz.maximize_activation(model, "block", [0, 3, 5], steps=6, preset="fast")
    reference = keras.Model(model.inputs, model.get_layer("block").output)  # Keras's own graph
    expected = reference(result.images).numpy().mean(axis=(1, 2))[np.arange(3), [0, 3, 5]]
    np.testing.assert_allclose(result.activation, expected, rtol=1e-4, atol=1e-6)
    assert len(result.channels) == 3  # the block outputs 6 channels; its input has 8
    assert tb_featviz.maximize_activation(model, "block", "all", steps=1, preset="fast").channels.tolist() == list(range(6))
    x, _ = image_data(8)
    outer = tb_featviz.deconvnet(model, "block", x, [1, 2], top_k=2)
    inner = tb_featviz.deconvnet(model, "block/relu", x, [1, 2], top_k=2)
    np.testing.assert_allclose(outer.values, inner.values, rtol=1e-6)
    np.testing.assert_allclose(outer.values[:, 0], reference(x).numpy()[..., [1, 2]].max(axis=(0, 1, 2)), rtol=1e-5)


# -- 5: channels_first models and inputs of any channel count -------------------------------------
@pytest.mark.slow
def test_channels_first_model_is_read_in_its_own_layout(tmp_path):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((3, 16, 16))
    x = keras.layers.Conv2D(4, 3, activation="relu", data_format="channels_first", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(data_format="channels_first")(x)
    x = keras.layers.Conv2D(6, 3, data_format="channels_first", name="conv2")(x)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D(data_format="channels_first")(x))
    model = keras.Model(inputs, outputs)
    x_first = np.random.default_rng(0).random((8, 3, 16, 16)).astype("float32")
    try:
        model(x_first[:1])  # Keras alone: TensorFlow's CPU Conv2D runs NCHW only with oneDNN
    except Exception as error:
        with pytest.raises(ConfigurationError) as refused:
            tb_featviz.maximize_activation(model, "conv2", [0, 5], steps=4, preset="fast")
        assert "only supports the NHWC tensor format" in str(refused.value)  # the real cause, not Keras's header
        assert "channels_first" in str(refused.value) and "TF_ENABLE_ONEDNN_OPTS" in str(refused.value)
        pytest.skip(f"this backend cannot run the channels_first model on this CPU (refused clearly): {cause(error)}")
    am = tb_featviz.maximize_activation(model, "conv2", [0, 5], steps=4, preset="fast")
    assert am.images.shape == (2, 16, 16, 3)
    reference = keras.Model(model.inputs, model.get_layer("conv2").output)
    out = reference(np.transpose(am.images, (0, 3, 1, 2))).numpy()  # (2, 6, 5, 5)
    np.testing.assert_allclose(am.activation, out[[0, 1], [0, 5]].mean(axis=(1, 2)), rtol=1e-4, atol=1e-6)
    dc = tb_featviz.deconvnet(model, "conv2", x_first, [0, 5], top_k=2)
    top = reference(x_first).numpy()[:, [0, 5]].max(axis=(0, 2, 3))
    np.testing.assert_allclose(dc.values[:, 0], top, rtol=1e-5)
    np.testing.assert_array_equal(dc.patches[0, 0].shape[-1], 3)
    callback = FeatVizCallback(str(tmp_path), ["conv1", "conv2"], probe_images=x_first, am=FAST_AM, top_k=2, verbose=0)
    fit(model, [callback], x=x_first, y=np.arange(8) % 3)
    records = read_records(str(tmp_path))
    assert len(records) == 8 and all(sorted(steps) == [0, 1] for steps in records.values())  # 4 methods, 2 layers
    assert records[("conv1", "am")][1][0]["settings"]["input"]["layout"] == "channels_first"
    assert decode_images(records[("conv1", "am")][1][1]).shape[1:] == (16, 16, 3)


def test_a_layer_that_cannot_run_is_refused_with_its_whole_cause():
    """Keras wraps a layer's error as "Exception encountered when calling ...call()." and puts the
    cause on the lines after it: the ConfigurationError must carry those, not the header alone."""

    class Broken(keras.layers.Layer):
        def compute_output_shape(self, input_shape):
            return input_shape

        def call(self, x):
            raise ValueError("first line of the cause\nsecond line: what would work")

    inputs = keras.Input((16, 16, 3))
    x = Broken(name="broken")(keras.layers.Conv2D(4, 3, name="conv1")(inputs))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="conv2")(x))
    with pytest.raises(ConfigurationError) as refused:
        tb_featviz.maximize_activation(model, "conv2", [0], steps=1, preset="fast")
    message = str(refused.value)
    assert "layer 'conv2' cannot be computed" in message
    assert "first line of the cause" in message and "second line: what would work" in message
    assert "\x1b" not in message and "\n" not in message  # one line, no terminal colour codes


@pytest.mark.parametrize("channels", [2, 4, 5])
def test_inputs_with_other_channel_counts_are_gray_planes_never_alpha(tmp_path, channels):
    keras.utils.set_random_seed(2)
    model = small_cnn(channels=channels, size=16)
    x, y = image_data(8, size=16, channels=channels)
    callback = FeatVizCallback(str(tmp_path), ["conv1"], probe_images=x, am=FAST_AM, top_k=1, verbose=0)
    fit(model, [callback], x=x, y=y)
    records = read_records(str(tmp_path))
    assert set(records) == {("conv1", "am"), ("conv1", "deconv"), ("conv1", "weights"), ("conv1", "similarity")}
    from tb_featviz.imaging import GAP_COLOUR

    for (layer, method), steps in records.items():
        header, pngs = steps[1]
        if method == "similarity":  # no images: a Gram matrix
            continue
        decoded = decode_images(pngs)
        assert decoded.shape[-1] == 3, method  # gray planes in a mosaic, no alpha channel anywhere
        if method != "weights":
            assert header["layout"]["input_planes"] == channels
    header, pngs = records[("conv1", "am")][1]
    planes = decode_images(pngs)[0]
    columns = int(np.ceil(np.sqrt(channels)))
    assert planes.shape[1] == columns * 16 + (columns - 1)  # the channels side by side, 1 px apart
    assert tuple(planes[0, 16]) == GAP_COLOUR  # the gap: a colour no gray plane has
    first = planes[:16, :16]
    assert np.all(first[..., 0] == first[..., 2])  # each plane itself is gray


# -- 6: NaN weights never read as DEAD -------------------------------------------------------------
def test_nan_weights_skip_every_record_with_a_warning_none_claims_dead(tmp_path, caplog):
    keras.utils.set_random_seed(3)
    model = small_cnn()
    kernel, bias = model.get_layer("conv2").get_weights()
    kernel[0, 0, 0, 0] = np.nan
    model.get_layer("conv2").set_weights([kernel, bias])
    x, y = image_data(8)
    callback = FeatVizCallback(str(tmp_path), ["conv2"], probe_images=x, am=FAST_AM, top_k=1, verbose=0)
    with caplog.at_level(logging.WARNING, logger="tb_featviz"):
        callback.set_model(model)
        callback.on_train_begin()
        callback._visualize("start")
        callback.on_train_end()
    assert read_records(str(tmp_path)) == {}
    messages = " ".join(r.getMessage() for r in caplog.records)
    for method in ("am", "deconv", "weights", "similarity"):
        assert f"{method} of conv2 failed" in messages
    assert "NaN" in messages


# -- 7: integer probe images get an explicit answer -------------------------------------------------
def test_uint8_probe_images_are_refused_without_a_range_and_the_range_is_printed(tmp_path, capsys):
    x, y = image_data(8)
    pixels = np.round(x * 255).astype(np.uint8)
    with pytest.raises(ConfigurationError, match=r"uint8 \(values \d+\.\.\d+\).*input_range=\(0, 255\).*x / 255"):
        FeatVizCallback(str(tmp_path), ["conv1"], probe_images=pixels)
    with pytest.raises(ConfigurationError, match="integers"):
        tb_featviz.deconvnet(small_cnn(), "conv1", pixels)
    callback = FeatVizCallback(str(tmp_path), ["conv1"], probe_images=pixels, input_range=(0, 255),
                               am=FAST_AM, methods=["deconv"], top_k=1)
    fit(small_cnn(), [callback], x=x, y=y)
    assert "featviz: input range [0, 255] (given)" in capsys.readouterr().out
    inferred = FeatVizCallback(str(tmp_path / "b"), ["conv1"], probe_images=x, am=FAST_AM, methods=["am"])
    fit(small_cnn(), [inferred], x=x, y=y)
    assert "input range [0, 1] (inferred from probe_images)" in capsys.readouterr().out
    header = read_records(str(tmp_path / "b"))[("conv1", "am")][0][0]
    assert header["settings"]["input"]["value_range_source"] == "inferred from probe_images"


# -- 8: a full disk or a vanished logdir loses records with a word, and counts them ----------------
_FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
    import keras
    from tb_featviz import AMOptions, FeatVizCallback
    from tests.conftest import FAST_AM, fit_model, image_data, small_cnn
    keras.utils.set_random_seed(0)
    x, y = image_data(16)
    model = small_cnn()
    model.compile("adam", "sparse_categorical_crossentropy")
    callback = FeatVizCallback(sys.argv[1], ["conv1", "conv2"], probe_images=x, am=AMOptions(steps=2), top_k=2)
    if len(sys.argv) > 2:
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.RLIM_INFINITY))
    model.fit(x, y, epochs=6, verbose=0, callbacks=[callback])
    print("FIT DONE lost", callback.lost_records)
""")


def _run_full_disk(logdir, *limit):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-c", _FULL_DISK, str(logdir), *map(str, limit)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)


def _count_records(logdir):
    return sum(len(steps) for steps in read_records(str(logdir)).values())


@pytest.mark.slow
def test_a_full_disk_loses_records_with_a_word_and_a_count(tmp_path):
    whole = _run_full_disk(tmp_path / "whole")
    assert "FIT DONE lost 0" in whole.stdout, whole.stderr[-2000:]
    total = _count_records(tmp_path / "whole")
    assert total == 7 * 8  # steps 0..6, two layers x four methods (similarity among them)
    (event_file,) = (tmp_path / "whole").glob("events.out.tfevents.*")
    limit = event_file.stat().st_size // 2  # the disk fills up halfway through
    full = _run_full_disk(tmp_path / "full", limit)
    assert "FIT DONE" in full.stdout, full.stderr[-2000:]
    lost = int(full.stdout.split("FIT DONE lost")[1].split()[0])
    written = _count_records(tmp_path / "full")
    assert lost > 0 and written > 0 and written + lost == total
    assert "records LOST, not written" in full.stdout
    assert "could not be written" in full.stderr and full.stderr.count("could not be written") == 1
    header_only = [f for f in (tmp_path / "full").glob("events.out.tfevents.*") if f.stat().st_size < 100]
    assert not header_only  # a failed write leaves no empty event file behind
    # what was written is whole and readable (the reader raised nothing on the file's tail)
    for steps in read_records(str(tmp_path / "full")).values():
        for header, pngs in steps.values():
            assert len(pngs) == len(header["channels"]) * len(header["roles"])


class RemoveLogdir(keras.callbacks.Callback):
    def __init__(self, logdir, epoch):
        super().__init__()
        self.logdir, self.epoch = logdir, epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            import shutil

            shutil.rmtree(self.logdir)


def test_a_removed_logdir_is_reported_counted_and_writing_goes_on(tmp_path, caplog, capsys):
    logdir = tmp_path / "run"
    callback = FeatVizCallback(str(logdir), ["conv1"], am=FAST_AM, methods=["am", "weights"])
    with caplog.at_level(logging.WARNING, logger="tb_featviz"):
        fit(small_cnn(), [RemoveLogdir(str(logdir), 2), callback], epochs=4)
    assert callback.lost_records == 4  # steps 0 and 1 x two methods were in the removed file
    records = read_records(str(logdir))
    # Two steps per epoch: epochs 2, 3 and 4 end at global steps 4, 6 and 8.
    assert {method: sorted(steps) for (_, method), steps in records.items()} == {"am": [4, 6, 8], "weights": [4, 6, 8]}
    assert any("disappeared" in r.getMessage() for r in caplog.records)
    assert "records LOST" in capsys.readouterr().out


# -- 9: every setting is checked when it is given ----------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: AMOptions(seed=-1), "seed must be an int >= 0"),
    (lambda: AMOptions(seed="a"), "seed must be an int"),
    (lambda: AMOptions(threshold="x"), "threshold must be a finite number"),
    (lambda: AMOptions(blur_sigma=0), "blur_sigma must be > 0"),
    (lambda: AMOptions(total_variation="x"), "total_variation must be a finite number"),
    (lambda: AMOptions(l2=float("nan")), "l2 must be a finite number"),
    (lambda: AMOptions(steps=True), "steps must be an int"),
    (lambda: AMOptions(learning_rate="x"), "learning_rate must be a finite number"),
    (lambda: AMOptions(batch_size=0), "batch_size must be an int >= 1"),
    (lambda: RandomAffine(scale=(0, 0)), "scale must be"),
    (lambda: RandomAffine(jitter=-1), "jitter must be"),
    (lambda: RandomAffine(rotate_degrees=float("inf")), "rotate_degrees"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], input_range=(0, float("inf"))), "input_range must be finite"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], input_range="0,1"), "input_range must be"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], input_range=5), "input_range must be"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], input_range=(0,)), "input_range must be two numbers"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], methods=123), "methods must be a list"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], methods=["am", "am"]), "methods repeat"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], deconv_rule="backprop"), "deconv_rule must be one of"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], image_size=(16, 0)), "image_size must be"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], preprocess="x / 255"), "preprocess must be a function"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], probe_images=np.zeros((2, 8, 8, 1), bool)), "must hold numbers"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], verbose=3), "verbose must be"),
])
def test_bad_settings_are_refused_when_given(make, message):
    with pytest.raises(ConfigurationError, match=message):
        make()


def test_options_are_frozen_so_a_later_change_cannot_skip_the_checks():
    options = AMOptions()
    with pytest.raises(AttributeError):
        options.steps = -5


def test_a_blur_wider_than_the_image_is_refused_before_epoch_1(tmp_path):
    model = small_cnn(size=12)
    x, y = image_data(8, size=12)
    with pytest.raises(ConfigurationError, match=r"blur_sigma=50 .* 12 px image"):
        fit(model, [FeatVizCallback(str(tmp_path / "never"), ["conv1"], am=AMOptions(blur_sigma=50))], x=x, y=y)
    assert not (tmp_path / "never").exists()


# -- 10: a Sequential model without keras.Input ------------------------------------------------------
def unbuilt_sequential():
    return keras.Sequential([keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                             keras.layers.BatchNormalization(), keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(3)])


def test_sequential_without_input_works_with_image_size_and_training_is_unchanged(tmp_path):
    x, y = image_data(16, size=16)

    def train(callbacks):
        keras.utils.set_random_seed(5)
        model = unbuilt_sequential()
        fit(model, callbacks, epochs=2, x=x, y=y % 3)
        return model

    with pytest.raises(ConfigurationError, match=r"image_size=\(16, 16, channels\)"):
        train([FeatVizCallback(str(tmp_path / "a"), ["conv"], image_size=(16, 16), am=FAST_AM)])
    plain = train([])
    callback = FeatVizCallback(str(tmp_path / "b"), ["conv"], image_size=(16, 16, 3), am=FAST_AM, verbose=0)
    watched = train([callback])
    series = read_records(str(tmp_path / "b"))[("conv", "am")]
    assert [series[step][0]["position"]["epoch"] for step in sorted(series)] == [0, 1, 2]
    for a, b in zip(plain.weights, watched.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    keras.utils.set_random_seed(5)
    result = tb_featviz.maximize_activation(unbuilt_sequential(), "conv", image_size=(16, 16, 3), steps=2, preset="fast")
    assert result.images.shape == (4, 16, 16, 3)


# -- 11: a Keras backend without gradients is refused clearly, before epoch 1 ----------------------
def test_a_backend_without_gradients_is_named_and_refused(monkeypatch):
    """TensorFlow, JAX and PyTorch run every method (tests/core); Keras's numpy and openvino
    backends compute no gradients. The backend's name is what is replaced: the check reads nothing else."""
    monkeypatch.setattr(keras.backend, "backend", lambda: "numpy")
    FeatVizCallback("runs/x", ["conv1"], methods=["weights"])  # backend-free: accepted
    with pytest.raises(ConfigurationError,
                       match=r"Keras runs on the 'numpy' backend.*KERAS_BACKEND=tensorflow, jax, torch.*methods=\['weights'\]"):
        FeatVizCallback("runs/x", ["conv1"])
    with pytest.raises(ConfigurationError, match="'numpy' backend"):
        tb_featviz.maximize_activation(small_cnn(), "conv1", preset="fast")
    assert tb_featviz.filter_weights(small_cnn(), "conv1", [0, 1]).kernels.shape == (2, 3, 3, 3)  # as the message says


# -- 12: strong channels are drawn as strong, not as empty gray -------------------------------------
def test_a_brightness_detector_is_white_and_nothing_is_stretched_unasked():
    keras.utils.set_random_seed(6)
    inputs = keras.Input((16, 16, 1))
    conv = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="conv")
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(conv(inputs)))
    kernel = np.zeros((3, 3, 1, 2), "float32")
    kernel[..., 0] = 1.0  # channel 0: brighter is always stronger
    kernel[1, 1, 0, 1] = 1e-3  # channel 1: a weak pixel detector
    conv.set_weights([kernel, np.array([0.0, -0.0002], "float32")])
    result = tb_featviz.maximize_activation(model, "conv", steps=48, transforms=None, blur_every=0, preset="fast")
    tiles = result.tiles()
    assert tiles[0].mean() > 240  # uniform white, as the model sees it (round 1 drew it mid-gray)
    assert tiles[0].min() > 200
    assert not result.dead.any()
    # every tile is its image as the model sees it: [0, 1] -> black..white, nothing stretched
    np.testing.assert_array_equal(tiles, np.round(result.images * 255).astype(np.uint8))
    # stretching per tile, round 1's only drawing, turns that white optimum into flat mid-gray:
    # it stays a choice a viewer makes knowingly
    assert np.all(result.tiles(contrast="stretch")[0] == 128)


# -- found by attacking the callback, the notebook API and the CLI with bad input ------------------
def pattern_detector():
    """A conv that fires only on one 5x5 binary pattern, then pooling layers after its ReLU."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1))
    conv = keras.layers.Conv2D(1, 5, activation="relu", name="conv1")
    x = keras.layers.MaxPooling2D(name="pool")(conv(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalMaxPooling2D(name="gmp")(x)))
    pattern = (np.random.default_rng(0).random((5, 5)) > 0.5).astype("float32")
    conv.set_weights([(2 * pattern - 1)[:, :, None, None], np.array([0.5 - pattern.sum()], "float32")])
    return model, pattern


def test_layers_behind_a_silent_relu_are_not_called_dead_without_probes():
    model, pattern = pattern_detector()
    image = np.zeros((1, 16, 16, 1), "float32")
    image[0, 4:9, 4:9, 0] = pattern
    assert float(keras.Model(model.inputs, model.get_layer("gmp").output)(image)[0, 0]) == pytest.approx(0.5)
    for layer in ("conv1", "pool", "gmp"):
        assert not tb_featviz.maximize_activation(model, layer, [0], steps=2, preset="fast").dead[0], layer
    flat = np.full((4, 16, 16, 1), 0.5, "float32")  # with probes it is exact: silent on all of them
    assert tb_featviz.maximize_activation(model, "pool", [0], steps=2, probe_images=flat, preset="fast").dead[0]


def nonlinear_after_relu(make):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((12, 12, 2))
    x = keras.layers.Conv2D(3, 3, activation="relu", name="c1")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(2, 3, name="c2")(make(x)))


class SquaredConv(keras.layers.Conv2D):
    def call(self, inputs):
        return keras.ops.square(super().call(inputs))


class AbsBatchNorm(keras.layers.BatchNormalization):
    def call(self, inputs, training=None):
        return keras.ops.abs(super().call(inputs, training=training))


@pytest.mark.parametrize("make", [
    lambda x: keras.ops.divide(1.0, 1.0 + x),  # a reciprocal, not a scaling
    lambda x: SquaredConv(3, 1, name="sq")(x),  # a Conv2D that computes something else
    lambda x: AbsBatchNorm(name="absbn")(x),
    lambda x: keras.ops.cast(keras.ops.cast(x * 3, "int32"), "float32"),
], ids=["reciprocal", "conv-subclass", "batchnorm-subclass", "integer-cast"])
def test_nonlinear_steps_that_look_linear_are_refused(make):
    model = nonlinear_after_relu(make)
    images = np.random.default_rng(2).random((4, 12, 12, 2)).astype("float32")
    with pytest.raises(ConfigurationError, match="is not defined for layer 'c2'|no gradient reaches"):
        tb_featviz.deconvnet(model, "c2", images, rule="deconvnet")


@pytest.mark.parametrize("make", [
    lambda x: keras.layers.GroupNormalization(groups=1)(x),
    lambda x: keras.layers.LayerNormalization(axis=[1, 2, 3])(x),
    lambda x: keras.layers.Softmax(axis=1)(x),
], ids=["group-norm", "spatial-layer-norm", "softmax-over-rows"])
def test_layers_that_mix_the_image_widen_the_field_to_the_whole_image(make):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 2))
    x = make(keras.layers.Conv2D(3, 3, padding="same", name="c1")(inputs))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, padding="same", name="c2")(x))
    result = tb_featviz.deconvnet(model, "c2", np.random.default_rng(4).random((3, 16, 16, 2)).astype("float32"),
                                  top_k=1, rule="gradient")
    assert {tuple(box) for box in result.boxes.reshape(-1, 4)} == {(0, 0, 16, 16)}


@pytest.mark.parametrize("make, message", [
    (lambda: FeatVizCallback("runs/a\x00b", ["conv1"]), "log_dir must be"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], verbose=np.array([0, 1])), "verbose must be"),
    (lambda: FeatVizCallback("runs/x", [["conv1"]]), "layer names must be strings"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], input_range=(0, 10**400)), "input_range must be finite"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], input_range=(-1e308, 1e308)), "input_range must be finite"),
    (lambda: FeatVizCallback("runs/x", ["conv1"], probe_images=np.zeros((2, 0, 16, 1), "float32")), "each at least 1"),
    (lambda: AMOptions(learning_rate=10**400), "learning_rate"),
    (lambda: AMOptions(total_variation=1e39), "total_variation"),
    (lambda: AMOptions(maximize=np.array(["auto"])), "maximize must be one of"),
    (lambda: AMOptions(reduction=np.array(["mean"])), "reduction must be one of"),
    (lambda: AMOptions(parameterization=np.array(["pixel"])), "parameterization must be"),
    (lambda: RandomAffine(scale=(1e-40, 1e-40)), "scale"),
    (lambda: RandomAffine(jitter=10**400), "jitter"),
    (lambda: tb_featviz.FourierImage(decay_power=float("nan")), "decay_power"),
    (lambda: tb_featviz.FourierImage(std=None), "std"),
    (lambda: tb_featviz.methods.am.objectives.channel() * float("nan"), "weight"),
    (lambda: AMOptions(learning_rate=1 + 2j), "learning_rate"),
    (lambda: tb_featviz.maximize_activation(None, "conv1", preset="fast"), "expected a keras.Model"),
    (lambda: tb_featviz.maximize_activation(small_cnn(), "conv1", progress=5, preset="fast"), "progress must be a function"),
    (lambda: tb_featviz.deconvnet(small_cnn(), "conv1", image_data(4)[0], batch_size=-1), "batch_size must be"),
])
def test_more_bad_settings_are_refused_when_given(make, message):
    with pytest.raises(ConfigurationError, match=message):
        make()


def test_numpy_numbers_and_paths_are_accepted(tmp_path):
    callback = FeatVizCallback(tmp_path / "run", ["conv1"], freq=np.int64(2), max_channels=np.int32(4),
                               max_overhead=np.float32(0.5), verbose=np.int64(0))
    assert callback.log_dir == str(tmp_path / "run")


def test_huge_and_one_shot_channel_specs(tmp_path):
    model = small_cnn()
    with pytest.raises(ConfigurationError, match="out of range"):
        fit(model, [FeatVizCallback(str(tmp_path / "a"), {"conv1": range(10**12)}, am=FAST_AM)])
    callback = FeatVizCallback(str(tmp_path / "b"), {"conv1": (c for c in (0, 2))}, methods=["weights"], verbose=0)
    fit(small_cnn(), [callback])
    fit(small_cnn(), [callback])  # a generator is read once, when given, and kept
    series = read_records(str(tmp_path / "b"))[("conv1", "weights")]
    assert series[max(series)][0]["channels"] == [0, 2]


def test_a_preprocess_that_breaks_the_input_is_refused_before_epoch_1(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot be computed from the model input.*through preprocess"):
        fit(small_cnn(), [FeatVizCallback(str(tmp_path / "never"), ["logits"], am=FAST_AM,
                                          preprocess=lambda im: im[:, :8])])
    assert not (tmp_path / "never").exists()


def test_hooks_called_out_of_order_do_nothing(caplog, tmp_path):
    callback = FeatVizCallback(str(tmp_path / "never"), ["conv1"], am=FAST_AM)
    with caplog.at_level(logging.WARNING, logger="tb_featviz"):
        callback.on_epoch_begin(0)
        callback.on_epoch_end(0)
        callback.on_train_end()
    assert "on_train_begin was not called first" in caplog.text
    assert not (tmp_path / "never").exists()
