"""The core of tb-featviz on whichever Keras backend runs: `make test` runs this folder under
TensorFlow, then again with KERAS_BACKEND=jax and KERAS_BACKEND=torch.

Nothing here imports TensorFlow: under JAX and PyTorch the callback must write its records, and
the tests read them, without it.
"""

import sys

import keras
import numpy as np
import pytest

import tb_featviz
from tb_featviz import AMOptions, FeatVizCallback, metadata
from tb_featviz.records import read_records
from tests.conftest import image_data, small_cnn

BACKEND = keras.backend.backend()
FAST = AMOptions(steps=8)


def fit(model, callbacks, epochs=2, seed=0, **kwargs):
    x, y = image_data(48)
    keras.utils.set_random_seed(seed)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    return model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=callbacks, **kwargs)


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
    methods = {("conv1", m) for m in ("am", "deconv", "weights", "occlusion")}
    methods |= {("conv2", m) for m in ("am", "deconv", "weights", "occlusion")}
    methods |= {("logits", m) for m in ("am", "deconv", "occlusion")}
    assert set(records) == methods
    for series in records.values():
        assert sorted(series) == [0, 3, 6]  # the start, then each epoch's end (3 batches each)
    header, pngs = records[("conv2", "am")][6]
    assert header["channels"] == [0, 4, 8, 12]
    assert header["version"] == metadata.FORMAT_VERSION
    tiles = tb_featviz.records.decode_images(pngs) if "tensorflow" in sys.modules else None
    if tiles is not None:  # (decoding the PNGs is TensorFlow's job in the tests)
        assert tiles.shape == (4, 32, 32, 3)
    activation = np.asarray(header["numbers"]["activation"])
    start = np.asarray(header["numbers"]["start_activation"])
    assert np.all(activation >= start) and np.sum(activation > start) >= 2  # it ascended on a BatchNorm model


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
    assert set(records) == {("conv2", m) for m in ("am", "deconv", "weights")}
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
                               am=FAST, schedule="log")
    watched, watched_history = train([callback])
    assert len(callback.timings) >= 3 and not failures(caplog)  # it really ran
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
    from tb_featviz.am.maximize import ActivationMaximizer
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
