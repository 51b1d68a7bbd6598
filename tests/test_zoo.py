"""Model zoo conformance: every keras.applications network, every method, right or refused.

See tests/zoo.py for what is checked and against which references. `make zoo` runs the same
with more steps and channels (ZOO=full).
"""

import numpy as np
import pytest

import tb_featviz
from tb_featviz import AMOptions, ConfigurationError, FeatVizCallback, inputs, liveness
from tb_featviz.cli import layer_rows
from tb_featviz.model_access import find_layer, iter_layers
from tb_featviz.settings import Settings
from tb_featviz.plan import build_plans
from tb_featviz.records import read_records
from tests import zoo
from tests.conftest import image_data
from tests.impulse import assert_filters_match_impulses

pytestmark = pytest.mark.zoo

CHANNELS = range(8) if zoo.FULL else range(3)
AM = AMOptions(steps=16 if zoo.FULL else 2)


@pytest.mark.parametrize("name, constructor, size", zoo.ARCHITECTURES, ids=[a[0] for a in zoo.ARCHITECTURES])
def test_every_method_is_right_or_refused(name, constructor, size, tmp_path):
    model = zoo.build(constructor, size)
    rows = layer_rows(model)
    assert [row[0] for row in rows] == [ref.name for ref in iter_layers(model)]
    layers = zoo.pick_layers(model)
    x, y = image_data(8, size=size)
    model.compile("adam", "sparse_categorical_crossentropy")
    callback = FeatVizCallback(str(tmp_path), {layer: CHANNELS for layer in layers}, probe_images=x, am=AM,
                               top_k=2, verbose=0)
    model.fit(x, y % 5, epochs=1, batch_size=8, verbose=0, callbacks=[callback])
    records = read_records(str(tmp_path))
    plans = {plan.name: plan for plan in callback.plans}
    spec = inputs.for_model(model, probe_images=x)
    for layer in layers:
        plan = plans[layer]
        assert "am" in plan.methods and "weights" in plan.methods
        for method in plan.methods:
            assert sorted(records[(layer, method)]) == [0, 1], (layer, method)
        for method, why in plan.left_out.items():  # refused, by name, with what would work
            if method in ("occlusion", "saliency", "gradcam", "integrated_gradients"):  # no probe labels given
                assert why.startswith("it needs probe_labels")
                continue
            assert method == "deconv" and "deconv_rule='gradient'" in why
            with pytest.raises(ConfigurationError, match=f"does not apply to layer '{layer}'.*gradient"):
                build_plans(model, {layer: [0]}, spec, methods=[method], settings=Settings.checked(probe_images=x))
        check_am(model, layer, x, records[(layer, "am")][1][0])
        check_deconv(model, layer, x, plan, records.get((layer, "deconv"), {}).get(1))
        check_weights(model, layer, records[(layer, "weights")][1][0])


def check_am(model, layer, probes, header):
    result = tb_featviz.maximize_activation(model, layer, CHANNELS, options=AM, probe_images=probes)
    np.testing.assert_allclose(header["numbers"]["activation"], result.activation, rtol=1e-3, atol=1e-5)
    assert header["numbers"]["dead"] == result.dead.tolist()
    output = np.asarray(zoo.sub_model(model, layer)(result.images))
    expected = output.mean(axis=(1, 2))[np.arange(len(CHANNELS)), list(CHANNELS)]
    np.testing.assert_allclose(result.activation, expected, rtol=1e-3, atol=1e-5)
    constant = _constant(np.asarray(zoo.sub_model(model, layer)(probes))[..., list(CHANNELS)])
    assert result.dead.tolist() == constant.tolist()


def check_deconv(model, layer, probes, plan, record):
    rule = "deconvnet" if "deconv" in plan.methods else "gradient"
    result = tb_featviz.deconvnet(model, layer, probes, CHANNELS, top_k=2, rule=rule)
    output = np.asarray(zoo.sub_model(model, layer)(probes))[..., list(CHANNELS)]
    top = -np.sort(-output.reshape(-1, len(CHANNELS)).T, axis=1)[:, :2]
    np.testing.assert_allclose(result.values, top, rtol=1e-5, atol=1e-6)
    assert result.dead.tolist() == _constant(output).tolist()
    assert np.all(np.isfinite(result.projections))
    if record is not None:
        header = record[0]
        np.testing.assert_allclose(header["numbers"]["top_values"], result.values, rtol=1e-4, atol=1e-6)
        assert header["settings"]["rule"] == rule and header["settings"]["path"] == result.path
    if rule == "deconvnet":
        assert {entry["rule"] for entry in result.path} <= {"deconvnet", "switches"}
        return
    assert all(entry["rule"] == "gradient" for entry in result.path)
    target = find_layer(model, layer).layer
    if not zoo.fused_linear(target):
        return  # the projection starts before the fused activation; the sub-model ends after it
    function = zoo.sub_model(model, layer)
    for i in np.flatnonzero(~result.dead):
        n, (row, col) = result.image_index[i, 0], result.position[i, 0]
        gradient = zoo.unit_gradient(function, probes[n], row, col, result.channels[i]) * result.values[i, 0]
        top, left, bottom, right = result.boxes[i, 0]
        expected = np.zeros_like(result.projections[i, 0])
        inside = gradient[max(top, 0) : bottom, max(left, 0) : right]
        expected[max(-top, 0) : max(-top, 0) + inside.shape[0], max(-left, 0) : max(-left, 0) + inside.shape[1]] = inside
        scale = max(np.abs(expected).max(), 1e-12)
        assert np.abs(result.projections[i, 0] - expected).max() / scale < 1e-3, (layer, i)


def check_weights(model, layer, header):
    result = tb_featviz.filter_weights(model, layer, CHANNELS)
    target = find_layer(model, layer).layer
    assert_filters_match_impulses(target, result, int(target.input.shape[-1]))
    np.testing.assert_allclose(header["numbers"]["norm"], result.norm, rtol=1e-5)


def _constant(values) -> np.ndarray:
    """The engine's rule (constant up to float32 rounding, the same on every CPU) on Keras's own
    outputs: exact equality flips with the CPU's summation order (MobileNetV3Small's logits)."""
    flat = np.asarray(values).reshape(-1, np.asarray(values).shape[-1])
    return liveness.is_constant(flat.min(axis=0), flat.max(axis=0))
