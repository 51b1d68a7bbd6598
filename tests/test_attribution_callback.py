"""The attribution methods in `fit`: probe_labels turn them on, each record carries the sanity
check against the run's first step, and bad input is a ConfigurationError before epoch 1 or a
skipped record, never a crash in fit."""

import logging

import keras
import numpy as np
import pytest

import tb_featviz
from tb_featviz import FeatVizCallback, IntegratedGradientsOptions, SaliencyOptions
from tb_featviz.errors import ConfigurationError
from tb_featviz.records import decode_images, read_records
from tests.conftest import image_data, small_cnn

ATTRIBUTIONS = ("saliency", "gradcam", "integrated_gradients")


def fit(model, callbacks, epochs=2, **kwargs):
    x, y = image_data(48)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    return model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=callbacks, **kwargs)


class Batches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.count = 0

    def on_train_batch_end(self, batch, logs=None):
        self.count += 1


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("attributions")
    keras.utils.set_random_seed(0)
    model = small_cnn()
    probes, labels = image_data(6, seed=1)
    # All three asked for with a conv layer and the output named: each runs where it applies.
    callback = FeatVizCallback(str(log_dir), ["conv1", "logits"], probe_images=probes, probe_labels=labels,
                               methods=list(ATTRIBUTIONS), schedule="epoch", verbose=0,
                               options={"saliency": SaliencyOptions(smoothgrad=4)})
    fit(model, [callback], epochs=3)
    return callback, read_records(str(log_dir))


def test_probe_labels_turn_them_on_where_each_applies(trained):
    callback, records = trained
    assert [(p.name, p.methods) for p in callback.plans] == [
        ("conv1", ("gradcam",)), ("conv2", ("gradcam",)), ("logits", ("saliency", "integrated_gradients"))]
    assert set(records) == {("conv1", "gradcam"), ("conv2", "gradcam"), ("logits", "saliency"),
                            ("logits", "integrated_gradients")}
    for series in records.values():
        assert sorted(series) == [0, 3, 6, 9]
    header, pngs = records[("logits", "integrated_gradients")][9]
    assert header["roles"] == ["overlay", "map"] and header["channels"] == list(range(6))
    assert decode_images(pngs).shape == (12, 32, 32, 3)
    assert header["layout"]["signed"] is True and header["layout"]["colormap"][4] == [247, 247, 247]
    assert set(header["numbers"]) >= {"score", "class", "label", "predicted", "spearman_vs_first",
                                      "completeness_error", "scale"}


def test_each_record_compares_its_maps_with_step_0(trained):
    _, records = trained
    for key, series in records.items():
        first = series[0][0]
        assert first["settings"]["reference"]["step"] == 0, key
        assert all(rho is None or rho == pytest.approx(1.0) for rho in first["numbers"]["spearman_vs_first"]), key
        last = series[9][0]
        assert last["settings"]["reference"]["step"] == 0, key
        rhos = [rho for rho in last["numbers"]["spearman_vs_first"] if rho is not None]
        assert all(-1 <= rho <= 1 for rho in rhos)  # None: a blank map (Grad-CAM's ReLU left nothing), no ranks
        if key[1] != "gradcam":
            assert len(rhos) == 6 and all(rho < 0.999 for rho in rhos), (key, rhos)  # training changed the maps


def test_a_second_fit_states_its_own_reference(tmp_path):
    keras.utils.set_random_seed(0)
    model = small_cnn()
    probes, labels = image_data(4, seed=1)
    callback = FeatVizCallback(str(tmp_path), ["logits"], probe_images=probes, probe_labels=labels,
                               methods=["saliency"], schedule="epoch", verbose=0)
    fit(model, [callback], epochs=1)
    # A new fit goes on from step 3 (written already, so not again) with no step-0 maps in
    # memory: its records say their reference is its first step drawn, 6.
    model.fit(*image_data(48), epochs=2, batch_size=16, verbose=0, callbacks=[callback])
    series = read_records(str(tmp_path))[("logits", "saliency")]
    assert sorted(series) == [0, 3, 6, 9]
    assert [series[step][0]["settings"]["reference"]["step"] for step in (0, 3, 6, 9)] == [0, 0, 6, 6]
    assert series[6][0]["numbers"]["spearman_vs_first"] == pytest.approx([1.0] * 4)


def test_gradcam_on_a_layer_without_feature_maps_is_refused_before_epoch_1(tmp_path):
    model = small_cnn()
    probes, labels = image_data(4, seed=1)
    batches = Batches()
    callback = FeatVizCallback(str(tmp_path), ["flatten"], probe_images=probes, probe_labels=labels,
                               methods=["gradcam"], verbose=0)
    with pytest.raises(ConfigurationError, match="gradcam.*flatten.*conv layer's feature maps"):
        fit(model, [callback, batches])
    assert batches.count == 0


def test_a_model_that_is_not_a_classifier_is_refused_before_epoch_1(tmp_path):
    inputs = keras.Input((16, 16, 3))
    features = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="segments")(features))
    probes, _ = image_data(2, size=16)
    model.compile("adam", "mse")
    batches = Batches()
    callback = FeatVizCallback(str(tmp_path), ["conv"], probe_images=probes, probe_labels=[0, 1],
                               methods=["saliency"], verbose=0)
    with pytest.raises(ConfigurationError, match=r"saliency needs a classifier: the model's output must be "
                                                 r"\(batch, classes\)"):
        model.fit(probes, np.zeros((2, 16, 16, 2)), epochs=1, verbose=0, callbacks=[callback, batches])
    assert batches.count == 0
    with pytest.raises(ConfigurationError, match="needs a classifier"):
        tb_featviz.attribution(model, probes, method="integrated_gradients")


def test_a_baseline_of_the_wrong_shape_is_refused_before_epoch_1(tmp_path):
    model = small_cnn()
    probes, labels = image_data(4, seed=1)
    batches = Batches()
    callback = FeatVizCallback(str(tmp_path), ["logits"], probe_images=probes, probe_labels=labels, verbose=0,
                               options={"integrated_gradients": IntegratedGradientsOptions(
                                   baseline=np.zeros((28, 28, 3)))})
    with pytest.raises(ConfigurationError, match=r"baseline has shape \(28, 28, 3\).*takes images of \(32, 32, 3\)"):
        fit(model, [callback, batches])
    assert batches.count == 0


@pytest.mark.parametrize("make, words", [
    (lambda: IntegratedGradientsOptions(steps=0), "steps must be an int >= 1, got 0"),
    (lambda: IntegratedGradientsOptions(steps=2.5), "steps must be an int >= 1, got 2.5"),
    (lambda: SaliencyOptions(smoothgrad=0), "smoothgrad .* must be an int >= 1, got 0"),
    (lambda: SaliencyOptions(smoothgrad=True), "smoothgrad .* must be an int >= 1, got True"),
    (lambda: SaliencyOptions(target="best"), r"target must be one of \['true', 'predicted'\]"),
    (lambda: IntegratedGradientsOptions(baseline="zeros"), "baseline must be"),
    (lambda: tb_featviz.attribution(small_cnn(), image_data(2)[0], method="smoothgrad", smoothgrad=-1),
     "smoothgrad .* must be an int >= 1, got -1"),
    (lambda: tb_featviz.attribution(small_cnn(), image_data(2)[0], method="saliency", steps=3),
     r"unknown option\(s\) \['steps'\] for saliency"),
    (lambda: tb_featviz.attribution(small_cnn(), image_data(2)[0], method="occlusion"),
     "method must be one of"),
    (lambda: tb_featviz.attribution(small_cnn(), image_data(2)[0], method="saliency", layer="conv1"),
     "takes no layer"),
    (lambda: tb_featviz.attribution(small_cnn(), image_data(2)[0], method="gradcam", layer="logits"),
     "conv layer's feature maps"),
])
def test_bad_options_are_clear_errors(make, words):
    with pytest.raises(ConfigurationError, match=words):
        make()


def test_nan_maps_are_not_written_and_said_once(tmp_path, caplog):
    keras.utils.set_random_seed(0)
    model = small_cnn()
    probes, labels = image_data(4, seed=1)
    conv = model.get_layer("conv1")
    conv.kernel.assign(np.full(conv.kernel.shape, np.nan, np.float32))  # every map NaN, from step 0 on
    callback = FeatVizCallback(str(tmp_path), ["logits"], probe_images=probes, probe_labels=labels,
                               methods=["saliency", "integrated_gradients"], schedule="epoch", verbose=0)
    with caplog.at_level(logging.WARNING, logger="tb_featviz"):
        history = fit(model, [callback], epochs=2)
    assert len(history.history["loss"]) == 2  # fit ran to its end
    said = [r.getMessage() for r in caplog.records if "saliency of logits failed" in r.getMessage()]
    assert len(said) == 1 and "NaN" in said[0]
    assert read_records(str(tmp_path)) == {}


def test_options_travel_as_json_to_a_render_process():
    """render="process" and tb-featviz follow rebuild each method's options from JSON."""
    import json

    from tb_featviz import GradcamOptions, methods

    for name, options in (("saliency", SaliencyOptions(smoothgrad=4, noise=0.1, seed=3, target="predicted")),
                          ("gradcam", GradcamOptions(images=3)),
                          ("integrated_gradients", IntegratedGradientsOptions(steps=5, baseline=0.5)),
                          ("integrated_gradients", IntegratedGradientsOptions(baseline=np.eye(4)[..., None]))):
        method = methods.get(name)
        again = method.options_from_config(json.loads(json.dumps(method.options_to_config(options))))
        assert again == options and type(again) is type(options)
    assert IntegratedGradientsOptions(baseline=np.eye(4)[..., None]) != IntegratedGradientsOptions(baseline=0.0)
