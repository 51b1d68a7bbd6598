"""The core of tb-featviz on whichever Keras backend runs: `make test` runs this folder under
TensorFlow, then again with KERAS_BACKEND=jax and KERAS_BACKEND=torch.

Nothing here imports TensorFlow: under JAX and PyTorch the callback must write its records, and
the tests read them, without it.
"""

import dataclasses
import sys

import keras
import numpy as np
import pytest

import tb_featviz
from tb_featviz import AMOptions, FeatVizCallback, metadata
from tb_featviz.records import read_records
from tests.conftest import FAST_AM, fit_model, image_data, small_cnn

BACKEND = keras.backend.backend()
FAST = dataclasses.replace(FAST_AM, steps=8)  # enough steps to see every channel ascend


def fit(model, callbacks, epochs=2, seed=0, **kwargs):
    return fit_model(model, callbacks, epochs=epochs, seed=seed, **kwargs)


def failures(caplog) -> list:
    return [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]


def test_the_callback_writes_every_method_at_every_scheduled_step(tmp_path, caplog):
    keras.utils.set_random_seed(0)
    model = small_cnn()  # with BatchNorm
    x, labels = image_data(16, seed=1)
    callback = FeatVizCallback(str(tmp_path), {"conv1": "all", "conv2": range(0, 16, 4), "logits": [1, 3]},
                               probe_images=x, probe_labels=labels, am=FAST, top_k=3, schedule="epoch")
    fit(model, [callback], epochs=2)
    assert not failures(caplog)
    records = read_records(str(tmp_path))
    methods = {("conv1", m) for m in ("am", "deconv", "weights", "occlusion", "gradcam", "similarity")}
    methods |= {("conv2", m) for m in ("am", "deconv", "weights", "occlusion", "gradcam", "similarity")}
    methods |= {("logits", m) for m in ("am", "deconv", "occlusion", "saliency", "integrated_gradients", "similarity")}
    assert set(records) == methods
    for series in records.values():
        assert sorted(series) == [0, 3, 6]  # the start, then each epoch's end (3 batches each)
    header, pngs = records[("conv2", "am")][6]
    assert header["channels"] == [0, 4, 8, 12]
    assert header["version"] == metadata.FORMATS["am"].version == 3
    tiles = tb_featviz.records.decode_images(pngs) if "tensorflow" in sys.modules else None
    if tiles is not None:  # (decoding the PNGs is TensorFlow's job in the tests)
        assert tiles.shape == (4, 32, 32, 3)
    activation = np.asarray(header["numbers"]["activation"])
    start = np.asarray(header["numbers"]["start_activation"])
    assert np.all(activation >= start) and np.sum(activation > start) >= 2  # it ascended on a BatchNorm model


def test_visualizations_inside_an_epoch_see_the_weights_of_that_step(tmp_path, caplog):
    """Keras's JAX trainer empties the variables inside an epoch (its state lives elsewhere until
    the epoch ends): a visualization at a batch must still see the weights, and those of then."""
    keras.utils.set_random_seed(0)
    model = small_cnn()
    callback = FeatVizCallback(str(tmp_path), ["conv1"], methods=["weights"], schedule=[1, 2], verbose=0)
    fit(model, [callback], epochs=1)
    assert not failures(caplog)
    series = read_records(str(tmp_path))[("conv1", "weights")]
    assert sorted(series) == [0, 1, 2, 3]
    norms = [series[step][0]["numbers"]["norm"] for step in (0, 1, 2, 3)]
    assert all(a != b for a, b in zip(norms, norms[1:]))  # every record shows that step's weights


@pytest.mark.skipif(BACKEND == "tensorflow", reason="JAX and PyTorch only")
def test_jax_and_torch_need_no_tensorflow(tmp_path, monkeypatch, caplog):
    """With every import of TensorFlow failing, the callback still visualizes and writes, and
    its records read back (Keras's own set_random_seed imports TensorFlow where it is installed:
    the seed is set before the block)."""
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, _ = image_data(8, seed=1)
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` raises ImportError
    callback = FeatVizCallback(str(tmp_path), ["conv2"], am=FAST, probe_images=x, top_k=2, schedule="epoch")
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    model.fit(*image_data(48), epochs=1, batch_size=16, verbose=0, callbacks=[callback])
    assert not failures(caplog)
    records = read_records(str(tmp_path))
    assert set(records) == {("conv2", m) for m in ("am", "deconv", "weights", "similarity")}
    assert all(sorted(series) == [0, 3] for series in records.values())


def test_training_is_identical_with_and_without_the_callback(tmp_path, caplog):
    """Weights, BatchNorm statistics, optimizer slots and losses: same seed, same result."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    x, labels = image_data(16, seed=1)

    def train(callbacks):
        keras.utils.set_random_seed(11)
        model = small_cnn(batchnorm=True)  # BatchNorm and Dropout both present
        history = fit(model, callbacks, epochs=2, seed=11, shuffle=True)
        return model, history

    plain, plain_history = train([])
    callback = FeatVizCallback(str(tmp_path), ["logits", "conv2", "conv1"], probe_images=x, probe_labels=labels,
                               am=FAST, schedule=[1, 2, 4])  # inside epochs, too
    watched, watched_history = train([callback])
    assert [step for step, _ in callback.timings] == [0, 1, 2, 4, 6] and not failures(caplog)  # it really ran
    assert [(p.name, p.methods) for p in callback.plans] == [  # every method, in model order
        ("conv1", ("am", "deconv", "weights", "occlusion", "gradcam", "similarity")),
        ("conv2", ("am", "deconv", "weights", "occlusion", "gradcam", "similarity")),
        ("logits", ("am", "deconv", "occlusion", "saliency", "integrated_gradients", "similarity"))]
    for a, b in zip(plain.weights, watched.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), err_msg=a.path)
    for a, b in zip(plain.optimizer.variables, watched.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert plain_history.history["loss"] == watched_history.history["loss"]


def test_a_reused_maximizer_sees_the_weights_of_now():
    """A compiled step must read the weights when it runs, not when it was traced (a JAX trace
    would otherwise keep the first epoch's weights for ever)."""
    keras.utils.set_random_seed(3)
    model = small_cnn()
    from tb_featviz import plan as planning
    from tb_featviz.methods.am.maximize import ActivationMaximizer
    from tb_featviz.inputs import for_model

    spec = for_model(model)
    target = planning.target.for_layer(planning.find_layer(model, "conv2"))
    reused = ActivationMaximizer(target, spec, FAST)
    before = reused.run([0, 5])
    fit(model, [], epochs=1)
    after = reused.run([0, 5])
    fresh = ActivationMaximizer(target, spec, FAST).run([0, 5])
    np.testing.assert_allclose(after.images, fresh.images, atol=1e-5)
    assert np.abs(after.images - before.images).max() > 1e-3


@pytest.mark.parametrize("rule", ["deconvnet", "guided", "gradient"])
def test_each_backward_rule_runs_and_differs_where_it_should(rule):
    keras.utils.set_random_seed(2)
    model = small_cnn(batchnorm=False)
    x, _ = image_data(8, seed=4)
    result = tb_featviz.deconvnet(model, "conv2", x, [0, 1, 2, 3], top_k=2, rule=rule)
    assert result.rule == rule
    assert np.all(np.isfinite(result.projections))
    plain = tb_featviz.deconvnet(model, "conv2", x, [0, 1, 2, 3], top_k=2, rule="gradient")
    live = ~result.dead
    assert live.any()
    differs = np.abs(result.projections[live] - plain.projections[live]).max() > 1e-6
    assert differs == (rule != "gradient")  # deconvnet and guided change the backward pass at the ReLU
    if rule == "guided":  # guided backprop passes only where the forward unit and the signal were positive
        assert np.abs(result.projections[live]).sum() <= np.abs(plain.projections[live]).sum() + 1e-4


def test_occlusion_and_weights():
    keras.utils.set_random_seed(5)
    model = small_cnn()
    x, y = image_data(4, seed=2)
    result = tb_featviz.occlusion(model, x[:2], y[:2], size=8, stride=8)
    assert result.probability.shape == (2, 4, 4)
    assert np.all((result.probability >= 0) & (result.probability <= 1))
    weights = tb_featviz.filter_weights(model, "conv1", [0, 1])
    kernel = keras.ops.convert_to_numpy(model.get_layer("conv1").kernel)
    np.testing.assert_allclose(weights.kernels[0], kernel[..., 0], rtol=1e-6)


def test_the_am_warp_is_differentiated_exactly():
    """The gradient of the jitter/scale/rotate warp is its adjoint: <W x, y> = <x, W^T y> (a
    pixel the warp never reads gets no gradient). TensorFlow's ImageProjectiveTransform op only
    warps the gradient back by the inverse map, which breaks this where pixels are read twice or
    not at all."""
    from tb_featviz import backend
    from tb_featviz.methods.am.transforms import RandomAffine, warp

    rng = np.random.default_rng(0)
    x, y = (rng.random((4, 24, 24, 3)).astype("float32") for _ in range(2))
    rows = backend.tensor(RandomAffine(jitter=0.2, rotate_degrees=20).sample(0, np.arange(4), 1, (24, 24, 3))[0],
                          np.float32)
    y_t = backend.tensor(y)
    _, warped, transposed = backend.value_and_grad(
        lambda image: (keras.ops.sum(warp(image, rows) * y_t), warp(image, rows)))(backend.tensor(x))
    assert np.sum(backend.numpy(warped) * y) == pytest.approx(np.sum(x * backend.numpy(transposed)), rel=1e-5)
    unread = np.ones_like(x)
    _, _, reach = backend.value_and_grad(lambda image: (keras.ops.sum(warp(image, rows)), None))(backend.tensor(unread))
    counts = backend.numpy(reach)
    assert counts.min() >= 0 and abs(counts.sum() - 4 * 24 * 24 * 3) < 1e-2  # bilinear weights sum to 1 per output


def test_a_variable_the_model_does_not_list_is_read_when_the_method_runs():
    """A Lambda closing over a Keras variable outside the model: a compiled method must still
    read its current value at every epoch (JAX traces find it and pass it in)."""
    keras.utils.set_random_seed(0)
    scale = keras.Variable(1.0)
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Lambda(lambda t: t * scale)(inputs)
    x = keras.layers.Conv2D(3, 3, activation="relu", name="c1")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    from tb_featviz.settings import Settings
    from tb_featviz.visualize import prepare_method

    settings = Settings.checked(options={"am": AMOptions(steps=5, parameterization="pixel")}, input_range=(0, 1))
    reused = prepare_method(model, "c1", [0, 1], "am", settings)
    before = reused(None).activation
    scale.assign(5.0)
    after = reused(None).activation
    fresh = prepare_method(model, "c1", [0, 1], "am", settings)(None).activation
    np.testing.assert_allclose(after, fresh, rtol=1e-5)
    assert np.abs(after - before).max() > 0.1


def test_a_model_no_gradient_reaches_is_refused_on_every_backend():
    """A uint8 model input: gradients stop at the cast (JAX gives zeros, not None, there)."""
    inputs = keras.Input((16, 16, 1), dtype="uint8")
    x = keras.layers.Conv2D(3, 3, activation="relu", name="c1")(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x)))
    images = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 1)).astype("uint8")
    with pytest.raises(tb_featviz.ConfigurationError, match="no gradient reaches"):
        tb_featviz.deconvnet(model, "c1", images, top_k=2, input_range=(0, 255))
    with pytest.raises(tb_featviz.ConfigurationError, match="no gradient reaches"):
        tb_featviz.maximize_activation(model, "c1", [0], preset="fast", input_range=(0, 255))


def test_damaged_event_files_end_their_reading_and_crash_nothing(tmp_path):
    """A length field with a valid CRC that claims 2**60 bytes (TensorFlow's GFile crashed the
    process on it), a frame of junk, a folder named like an event file: all passed over."""
    import struct

    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    from tb_featviz.records import steps_since

    keras.utils.set_random_seed(0)
    callback = FeatVizCallback(str(tmp_path), ["conv1"], methods=["weights"], schedule="epoch", verbose=0)
    fit(small_cnn(), [callback], epochs=1)
    huge = struct.pack("<Q", 2**60)
    (tmp_path / "events.out.tfevents.9.huge").write_bytes(huge + struct.pack("<I", masked_crc32c(huge)) + b"junk" * 8)
    junk = b"\x01" * 40
    length = struct.pack("<Q", len(junk))
    frame = length + struct.pack("<I", masked_crc32c(length)) + junk + struct.pack("<I", masked_crc32c(junk))
    (tmp_path / "events.out.tfevents.9.junk").write_bytes(frame)
    (tmp_path / "events.out.tfevents.9.folder").mkdir()
    assert sorted(read_records(str(tmp_path))[("conv1", "weights")]) == [0, 3]
    assert steps_since(str(tmp_path), 0) == {("conv1", "weights"): {0, 3}}
    second = FeatVizCallback(str(tmp_path), ["conv1"], methods=["weights"], schedule="epoch", verbose=0)
    fit(small_cnn(), [second], epochs=1)  # a resumed log with those files: fit goes on


@pytest.mark.skipif(BACKEND == "tensorflow", reason="JAX and PyTorch only")
def test_a_remote_log_dir_without_tensorflow_is_refused_before_training(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(tb_featviz.ConfigurationError, match=r"gs:// file system.*TensorFlow is not installed"):
        FeatVizCallback("gs://bucket/run", ["conv1"], methods=["weights"])


def test_pngs_round_trip_and_bad_images_are_refused():
    from tb_featviz import imaging

    rng = np.random.default_rng(1)
    for shape in [(1, 1), (5, 7, 1), (9, 3, 2), (16, 16, 3), (4, 4, 4), (3, 700, 3)]:
        image = rng.integers(0, 256, shape).astype(np.uint8)
        np.testing.assert_array_equal(imaging.decode_png(imaging.encode_png(image)).reshape(shape), image)
    smooth = np.add.outer(np.arange(20), np.arange(30)).astype(np.uint8)
    np.testing.assert_array_equal(imaging.decode_png(imaging.encode_png(smooth))[..., 0], smooth)
    for bad in (np.full((2, 2), 300, np.uint16), np.full((2, 2), 0.7), np.zeros((0, 4), np.uint8),
                np.zeros((2, 2, 5), np.uint8)):
        with pytest.raises(ValueError):
            imaging.encode_png(bad)


def test_augmentation_inside_the_model_is_the_identity_for_deconv():
    """RandomFlip/RandomRotation pass the image through unchanged at inference: deconv of a model
    that augments inside itself is that of the same model without them (it was refused)."""
    keras.utils.set_random_seed(4)
    plain = small_cnn(batchnorm=False)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.RandomRotation(0.2)(keras.layers.RandomFlip()(inputs))
    for layer in plain.layers:
        x = layer(x)
    augmented = keras.Model(inputs, x)
    images, _ = image_data(6, seed=3)
    for rule in ("deconvnet", "guided"):
        expected = tb_featviz.deconvnet(plain, "conv2", images, [0, 1, 2], top_k=2, rule=rule)
        got = tb_featviz.deconvnet(augmented, "conv2", images, [0, 1, 2], top_k=2, rule=rule)
        np.testing.assert_allclose(got.projections, expected.projections, atol=1e-6)
