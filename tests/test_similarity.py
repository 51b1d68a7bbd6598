"""Representation similarity (issue 27): linear CKA against its reference formula and its known
invariances, the records of centred Gram matrices round trip, the method is refused clearly
where it cannot run, and the plugin's /cka route (a real TensorBoard) answers CKA between
steps, layers and runs equal to CKA computed here from the activations."""

import json
import subprocess
import sys
import urllib.parse

import keras
import numpy as np
import pytest

import tb_featviz
from tb_featviz import ConfigurationError, FeatVizCallback, SimilarityOptions, metadata, summary
from tb_featviz.event_writer import EventFileWriter
from tb_featviz.methods.similarity import centred_gram, cka_of_features, cka_of_grams, gram_of
from tb_featviz.records import read_records
from tests.conftest import image_data, small_cnn
from tests.tensorboard_server import TensorBoardServer

RNG = np.random.default_rng(27)


def reference_cka(x, y):
    """Kornblith et al.'s linear CKA through HSIC with the centring matrix H (an independent
    route: no centred features, no Gram shortcut): HSIC(K, L) = tr(K H L H)."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = x @ x.T, y @ y.T

    def hsic(a, b):
        return np.trace(a @ h @ b @ h)

    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def feature_formula(x, y):
    """‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on centred features, written out as the docstring states it."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    x, y = x - x.mean(0), y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


# ---- the function ------------------------------------------------------------------------------

@pytest.mark.parametrize("n,dx,dy", [(40, 300, 200), (300, 12, 30), (64, 64, 5)])
def test_cka_equals_the_feature_space_formula(n, dx, dy):
    x = RNG.standard_normal((n, dx)) + 3.0
    y = x[:, : min(dx, dy)] @ RNG.standard_normal((min(dx, dy), dy)) + 0.5 * RNG.standard_normal((n, dy))
    expected = feature_formula(x, y)
    assert abs(tb_featviz.cka(x, y) - expected) < 1e-6
    assert abs(reference_cka(x, y) - expected) < 1e-6  # the references agree with each other
    assert 0.05 < expected < 0.999  # a case with something to get wrong


@pytest.mark.parametrize("n,d", [(30, 500), (500, 30)])  # fewer examples than features, and more
def test_the_gram_route_and_the_feature_route_agree(n, d):
    x, y = RNG.standard_normal((n, d)), RNG.standard_normal((n, d)) + RNG.standard_normal((n, 1))
    by_grams = cka_of_grams(centred_gram(x), centred_gram(y))
    by_features = cka_of_features(x, y)
    assert abs(by_grams - by_features) < 1e-9 and abs(by_grams - tb_featviz.cka(x, y)) < 1e-9


def test_cka_is_invariant_to_rotations_isotropic_scaling_and_offsets():
    x = RNG.standard_normal((50, 8, 8, 3))  # (n, ...) activations, flattened per example
    flat = x.reshape(50, -1)
    rotation, _ = np.linalg.qr(RNG.standard_normal((flat.shape[1], flat.shape[1])))
    assert abs(tb_featviz.cka(x, flat @ rotation) - 1.0) < 1e-9
    assert abs(tb_featviz.cka(x, 7.5 * x) - 1.0) < 1e-9
    assert abs(tb_featviz.cka(x, 0.01 * flat @ rotation + 4.0) - 1.0) < 1e-9
    stretched = flat * np.geomspace(0.01, 100, flat.shape[1])  # not isotropic: CKA drops
    assert tb_featviz.cka(x, stretched) < 0.9


@pytest.mark.parametrize("n,d", [(200, 20), (256, 64)])
def test_unrelated_random_features_give_the_known_small_value(n, d):
    """For independent Gaussian features of d columns each, E[CKA] ≈ d / (n + d) (Wishart
    moments): small while d << n, and a reminder that CKA of wide random layers is high."""
    values = [tb_featviz.cka(RNG.standard_normal((n, d)), RNG.standard_normal((n, d))) for _ in range(20)]
    assert abs(np.mean(values) - d / (n + d)) < 0.1 * d / (n + d)


def test_cka_refuses_what_it_cannot_compare():
    with pytest.raises(ValueError, match="same examples"):
        tb_featviz.cka(np.ones((5, 3)), np.ones((6, 3)))
    with pytest.raises(ValueError, match="at least 2 examples"):
        tb_featviz.cka(np.ones((1, 3)), np.ones((1, 3)))
    assert np.isnan(tb_featviz.cka(np.ones((5, 3)), RNG.standard_normal((5, 3))))  # constant: undefined


# ---- records -------------------------------------------------------------------------------

@pytest.mark.parametrize("features", [300, 7])  # stored as the upper triangle, and as the centred features
def test_a_records_gram_matrix_round_trips_and_gives_cka_to_1e_6(tmp_path, features):
    n = 40
    x = RNG.random((n, features)) * 5
    y = x + RNG.standard_normal((n, features))
    results = [tb_featviz.SimilarityResult(centred_gram(v), features,
                                           (v - v.mean(0)) if features < (n + 1) / 2 else None,
                                           {"probes": {"count": n, "given": n, "sha256": "ab"}}) for v in (x, y)]
    writer = EventFileWriter(str(tmp_path))
    for step, result in enumerate(results):
        result.record("dense").write_to(writer, step, epoch=float(step))
    writer.close()
    series = read_records(str(tmp_path))[("dense", "similarity")]
    header, elements = series[1]
    assert header["version"] == 4 and header["channels"] == [0] and len(elements) == 1
    assert header["layout"]["gram"]["form"] == ("factor" if features < 20 else "upper")
    assert header["numbers"]["features"] == [features] and header["numbers"]["probes"] == [n]
    np.testing.assert_allclose(gram_of(header, elements), results[1].gram, rtol=1e-6,
                               atol=1e-6 * np.abs(results[1].gram).max())
    stored = cka_of_grams(gram_of(*series[0]), gram_of(*series[1]))
    assert abs(stored - feature_formula(x, y)) < 1e-6
    size = n * (n + 1) // 2 if features > 20 else n * features
    assert len(elements[0]) < 4 * size + 200  # float32 and a .npy header, nothing more


def test_a_gram_record_is_the_same_bytes_from_tf_summary_and_the_own_writer(tmp_path):
    import tensorflow as tf

    result = tb_featviz.SimilarityResult(centred_gram(RNG.standard_normal((9, 30))), 30, None, {})
    writer = tf.summary.create_file_writer(str(tmp_path / "tf"))
    with writer.as_default():
        assert result.record("conv1").write(step=3, epoch=0.5)
    writer.close()
    own = EventFileWriter(str(tmp_path / "own"))
    result.record("conv1").write_to(own, 3, epoch=0.5)
    own.close()
    by_tf, by_own = (read_records(str(tmp_path / d))[("conv1", "similarity")][3] for d in ("tf", "own"))
    assert by_tf[0] == by_own[0] and by_tf[1] == by_own[1]
    np.testing.assert_allclose(gram_of(*by_tf), result.gram, rtol=1e-6, atol=1e-6 * np.abs(result.gram).max())


# ---- the method ---------------------------------------------------------------------------

def activations(model, layer, images):
    return keras.ops.convert_to_numpy(keras.Model(model.inputs, model.get_layer(layer).output)(images))


def test_the_notebook_call_and_the_callbacks_records_hold_the_layers_gram_matrix(tmp_path):
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, y = image_data(48)
    result = tb_featviz.similarity(model, "conv2", x[:20])
    reference = activations(model, "conv2", x[:20])
    np.testing.assert_allclose(result.gram, centred_gram(reference), rtol=1e-4, atol=1e-4 * np.abs(result.gram).max())
    assert result.features == reference[0].size and result.probes == 20
    other = tb_featviz.similarity(model, "conv1", x[:20])
    assert abs(result.cka(other) - reference_cka(reference, activations(model, "conv1", x[:20]))) < 1e-6

    callback = FeatVizCallback(str(tmp_path), ["conv1", "conv2", "logits"], probe_images=x[:20],
                               methods=["similarity"], schedule="epoch", verbose=0)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])
    records = read_records(str(tmp_path))
    assert set(records) == {(layer, "similarity") for layer in ("conv1", "conv2", "logits")}
    for layer in ("conv1", "conv2", "logits"):
        header, elements = records[(layer, "similarity")][6]
        stored = gram_of(header, elements)
        expected = centred_gram(activations(model, layer, x[:20]))
        np.testing.assert_allclose(stored, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
        assert header["settings"]["probes"]["count"] == 20 and len(header["settings"]["probes"]["sha256"]) == 16
    assert records[("logits", "similarity")][6][0]["layout"]["gram"]["form"] == "factor"  # 5 units, 20 images


def test_it_needs_probe_images_and_uses_at_most_256(tmp_path, caplog):
    model = small_cnn()
    x, _ = image_data(8)
    with pytest.raises(ConfigurationError, match="method 'similarity' needs probe_images"):
        FeatVizCallback(str(tmp_path), ["conv1"], methods=["similarity"])
    with pytest.raises(ConfigurationError, match="at most 256"):
        SimilarityOptions(probes=257)
    with pytest.raises(ConfigurationError, match="at least 3 probe images"):
        tb_featviz.similarity(model, "conv1", x[:2])
    # More probe images than the option: the first ones, said once for all layers.
    callback = FeatVizCallback(str(tmp_path), ["conv1", "conv2"], probe_images=x, methods=["similarity"],
                               options={"similarity": SimilarityOptions(probes=5)}, verbose=0)
    callback.set_model(model)
    with caplog.at_level("WARNING", logger="tb_featviz"):
        callback.on_train_begin()
    said = [r.getMessage() for r in caplog.records if "first 5 of the 8 probe images" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in caplog.records]
    callback.on_train_end()


def test_the_cli_draws_the_gram_matrix_and_writes_records(tmp_path):
    from tb_featviz import cli

    model = small_cnn()
    x, _ = image_data(30)
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x)
    render = ["render", str(tmp_path / "model.keras"), "--layer", "conv2", "--method", "similarity",
              "--probe-images", str(tmp_path / "x.npy")]
    assert cli.main([*render, "--out", str(tmp_path / "gram.png")]) == 0
    picture = tb_featviz.records.decode_images([(tmp_path / "gram.png").read_bytes()])[0]
    assert picture.shape[0] > 120 and picture.shape[1] > 120  # 30 x 30, drawn at least 128 px wide
    assert cli.main([*render, "--logdir", str(tmp_path / "logs")]) == 0
    header, elements = read_records(str(tmp_path / "logs"))[("conv2", "similarity")][0]
    expected = centred_gram(activations(model, "conv2", x))
    np.testing.assert_allclose(gram_of(header, elements), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert cli.main([*render, "--channels", "0-3", "--out", str(tmp_path / "x.png")]) == 2


# ---- the plugin's route ---------------------------------------------------------------------

def write_run(logdir, seed, probes, epochs=3):
    keras.utils.set_random_seed(seed)
    model = small_cnn()
    x, y = image_data(48, seed=seed)
    callback = FeatVizCallback(str(logdir), ["conv1", "conv2"], probe_images=probes, methods=["similarity"],
                               schedule="epoch", verbose=0)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[callback])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("similarity_runs")
    probes, _ = image_data(24, seed=99)
    write_run(root / "seed0", 0, probes)
    write_run(root / "seed1", 1, probes)
    write_run(root / "other_probes", 0, image_data(24, seed=98)[0])
    return root


@pytest.fixture(scope="module")
def server(runs):
    with TensorBoardServer(str(runs)) as tb:
        tb.wait_for_plugin()
        tb.wait_until(lambda: len(tb.json("/data/plugin/featviz/runs")["runs"]) == 3, what="three runs")
        yield tb


def similarity(server, **params):
    return server.json("/data/plugin/featviz/cka?" + urllib.parse.urlencode(params))


def stored_grams(runs, run, layer):
    return {step: gram_of(*record) for step, record in read_records(str(runs / run))[(layer, "similarity")].items()}


def test_the_route_answers_cka_of_each_layer_with_its_latest_state(server, runs):
    answer = similarity(server, run="seed0", method="similarity", layer="conv2")
    assert answer["steps"] == [0, 3, 6, 9] and answer["epochs"] == [0, 1, 2, 3] and answer["reference"] == 9
    assert [layer["name"] for layer in answer["layers"]] == ["conv1", "conv2"]
    for layer in answer["layers"]:
        grams = stored_grams(runs, "seed0", layer["name"])
        expected = [cka_of_grams(grams[step], grams[9]) for step in answer["steps"]]
        np.testing.assert_allclose(layer["cka"], expected, atol=1e-6)
        assert abs(layer["cka"][-1] - 1.0) < 1e-12 and layer["probes"] == 24
        settled = next(s for s in answer["steps"] if all(v >= 0.9 for v in layer["cka"][answer["steps"].index(s):]))
        assert layer["settled"] == settled
    grams = stored_grams(runs, "seed0", "conv2")
    matrix = answer["matrix"]
    assert matrix["layer"] == "conv2" and matrix["steps"] == [0, 3, 6, 9]
    expected = [[cka_of_grams(grams[a], grams[b]) for b in matrix["steps"]] for a in matrix["steps"]]
    np.testing.assert_allclose(matrix["cka"], expected, atol=1e-6)
    # Another reference step: each layer against its state after epoch 1.
    earlier = similarity(server, run="seed0", method="similarity", step=3)
    assert earlier["reference"] == 3 and "matrix" not in earlier
    grams = stored_grams(runs, "seed0", "conv1")
    np.testing.assert_allclose(earlier["layers"][0]["cka"], [cka_of_grams(grams[s], grams[3]) for s in (0, 3, 6, 9)],
                               atol=1e-6)


def test_the_route_compares_a_layer_between_runs_at_the_same_epoch_on_the_same_probes(server, runs):
    answer = similarity(server, run="seed0", method="similarity", layer="conv1", compare="seed1")
    assert answer["same_probes"] is True and [p["epoch"] for p in answer["pairs"]] == [0, 1, 2, 3]
    mine, theirs = stored_grams(runs, "seed0", "conv1"), stored_grams(runs, "seed1", "conv1")
    np.testing.assert_allclose([p["cka"] for p in answer["pairs"]],
                               [cka_of_grams(mine[s], theirs[s]) for s in (0, 3, 6, 9)], atol=1e-6)
    refused = similarity(server, run="seed0", method="similarity", layer="conv1", compare="other_probes")
    assert refused["same_probes"] is False and all(p["cka"] is None for p in refused["pairs"])
    assert any("other probe images" in line for line in refused["problems"])


def test_grid_and_evolution_hand_out_no_image_urls_for_gram_matrices(server):
    """/image serves PNGs only: a URL to a Gram matrix would be a broken image (found by
    test_faults' check that every listed image loads)."""
    grid = server.json("/data/plugin/featviz/grid?run=seed0&layer=conv1&method=similarity")
    assert grid["images"] == {} and grid["roles"] == ["gram"] and grid["numbers"]["probes"] == [24]
    evolution = server.json("/data/plugin/featviz/evolution?run=seed0&layer=conv1&method=similarity&channel=0")
    assert [frame["image"] for frame in evolution["frames"]] == [None] * 4


@pytest.mark.parametrize("params,status,words", [
    ({"run": "seed0"}, 400, "missing parameter 'method'"),
    ({"run": "seed0", "method": "Bad-Name"}, 400, "lower-case"),
    ({"run": "nope", "method": "similarity"}, 404, "no featviz records in run 'nope'"),
    ({"run": "seed0", "method": "similarity", "layer": "conv9"}, 404, "layers: ['conv1', 'conv2']"),
    ({"run": "seed0", "method": "similarity", "step": "4"}, 404, "steps: 0, 3, 6, 9"),
    ({"run": "seed0", "method": "similarity", "step": "x"}, 400, "non-negative integer"),
    ({"run": "seed0", "method": "similarity", "compare": "seed1"}, 400, "needs 'layer'"),
    ({"run": "seed0", "method": "similarity", "layer": "conv1", "compare": "nope"}, 404, "'nope'"),
    ({"run": "seed0", "method": "am"}, 404, "no am records"),
])
def test_bad_queries_are_400_or_404_with_a_message(server, params, status, words):
    code, body, _ = server.get("/data/plugin/featviz/cka?" + urllib.parse.urlencode(params))
    assert code == status and words in body.decode(), body


def test_plugin_similarity_never_imports_tensorflow():
    code = ("import sys\nimport tb_featviz.plugin.similarity, tb_featviz.plugin.plugin\n"
            "bad = sorted(m for m in sys.modules if m == 'tensorflow' or m.startswith(('tensorflow.', 'keras')))\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_crafted_gram_records_are_a_problem_of_their_own_never_a_500(tmp_path):
    """A Gram element that is not float32, has another shape, or claims a huge one: that record's
    cells are empty and say why; the run's other records are still compared."""
    x = RNG.standard_normal((6, 10))
    good = tb_featviz.SimilarityResult(centred_gram(x), 10, None, {})
    writer = EventFileWriter(str(tmp_path / "crafted"))
    good.record("conv1").write_to(writer, 0, epoch=0.0)
    record = good.record("conv1")
    for step, element in ((1, summary.encode_array(np.zeros(5))), (2, b"\x93NUMPY junk"),
                          (3, record.blobs[1].replace(b"(21,)", b"(99999999999,)"))):
        crafted = type(record)(record.layer, record.method, (record.blobs[0], element), record.format)
        crafted.write_to(writer, step, epoch=float(step))
    good.record("conv1").write_to(writer, 4, epoch=4.0)
    writer.close()
    with TensorBoardServer(str(tmp_path)) as tb:
        tb.wait_for_plugin()
        tb.wait_until(lambda: tb.json("/data/plugin/featviz/runs")["runs"], what="the run")
        def every_step():
            status, body, _ = tb.get("/data/plugin/featviz/cka?run=crafted&method=similarity&layer=conv1")
            return status == 200 and json.loads(body)["steps"] == [0, 1, 2, 3, 4] and json.loads(body)

        answer = tb.wait_until(every_step, what="every step")
    (layer,) = answer["layers"]
    assert layer["cka"][1:4] == [None, None, None] and abs(layer["cka"][0] - 1.0) < 1e-12
    assert len(answer["problems"]) >= 3 and all("conv1 at step" in p for p in answer["problems"][:3])


def test_a_long_run_is_answered_on_evenly_spaced_steps_with_the_reference_among_them(tmp_path):
    x = RNG.standard_normal((5, 3))
    writer = EventFileWriter(str(tmp_path / "long"))
    for step in range(300):
        tb_featviz.SimilarityResult(centred_gram(x + 0.01 * step), 3, None, {}).record("dense").write_to(writer, step)
    writer.close()
    with TensorBoardServer(str(tmp_path)) as tb:
        tb.wait_for_plugin()

        def answered():
            status, body, _ = tb.get("/data/plugin/featviz/cka?run=long&method=similarity&layer=dense&step=151")
            return status == 200 and json.loads(body)["recorded"] == 300 and json.loads(body)

        answer = tb.wait_until(answered, what="all 300 steps")
    assert len(answer["steps"]) == 250 and 151 in answer["steps"] and answer["steps"][0] == 0
    assert answer["steps"][-1] == 299 and answer["steps"] == sorted(answer["steps"])
    assert len(answer["matrix"]["cka"]) == 250 and len(answer["layers"][0]["cka"]) == 250
