"""The plugin's HTTP routes, served by a real `tensorboard` process over real `model.fit` logs.

Every test runs against both of TensorBoard's loading modes: the Rust data server
(`--load_fast=true`) and the Python multiplexer (`--load_fast=false`).
"""

import json
import subprocess
import sys
import urllib.parse

import pytest

from tb_featviz.records import read_records
from tests.logs import (
    ALL_STEPS, CRAFTED_RUN, EPOCHS, FIRST_EPOCH_RUN, FIRST_EPOCH_STEPS, HOSTILE_LAYER, HOSTILE_RUN, RUN_NAMES,
    RESTARTED_RUN, UNKNOWN_LENGTH_RUN, UPGRADED_RUN, VERSION1_RUN,
)
from tests.tensorboard_server import LOADERS, TensorBoardServer, serving

LAST = ALL_STEPS[-1]  # the global step of the last epoch's end


@pytest.fixture(scope="module", **LOADERS)
def server(request, featviz_logdir):
    with serving(featviz_logdir, request.param, _ready, "all runs loaded") as tb:
        yield tb


def _ready(tb):
    runs = json.loads(tb.get("/data/plugin/featviz/runs")[1])["runs"]
    return len(runs) == len(RUN_NAMES) and all(
        series["steps"][-1] == LAST
        for name in ("baseline", "no_probes", "fast_lr")
        for layer in run_detail(tb, name)["layers"] for series in layer["methods"].values()
    )


def run_detail(tb, name):
    return tb.json(query("run", run=name))


def query(path, **params):
    return f"/data/plugin/featviz/{path}?{urllib.parse.urlencode(params)}"


def test_plugin_is_listed_active_with_its_es_module(server):
    listing = server.wait_for_plugin()["featviz"]
    assert listing["enabled"] is True
    assert listing["loading_mechanism"] == {
        "type": "IFRAME", "module_path": "/data/plugin/featviz/static/index.js"
    }
    status, body, headers = server.get("/data/plugin/featviz/static/index.js")
    assert status == 200 and b"export async function render" in body
    assert headers["Content-Type"].startswith("text/javascript")


def test_runs_list_every_epoch_beyond_tensorboards_default_of_10(server):
    listing = {run["name"]: run for run in server.json("/data/plugin/featviz/runs")["runs"]}
    assert set(listing) == set(RUN_NAMES)  # Keras's train/validation runs hold no featviz records
    runs = {name: run_detail(server, name) for name in listing}
    baseline = runs["baseline"]
    assert [layer["name"] for layer in baseline["layers"]] == ["conv1", "conv2"]  # model order
    for layer in baseline["layers"]:
        assert set(layer["methods"]) == {"am", "deconv", "weights", "similarity"}
        for series in layer["methods"].values():
            assert series["steps"] == ALL_STEPS
    assert [point["epoch"] for point in baseline["axis"]] == list(range(EPOCHS + 1))
    # No probe images → no deconv, and the listing says so by its absence.
    assert set(runs["no_probes"]["layers"][0]["methods"]) == {"am", "weights"}
    # A record from a newer tb-featviz is reported, the readable rest still served.
    assert [layer["name"] for layer in runs["future"]["layers"]] == ["conv1"]
    assert any("newer" in problem for problem in runs["future"]["problems"])
    assert any("newer" in problem for problem in listing["future"]["problems"])
    assert runs[HOSTILE_RUN]["layers"][0]["name"] == HOSTILE_LAYER


def test_grid_has_every_channel_with_numbers_and_the_stored_pngs(server, featviz_logdir):
    grid = server.json(query("grid", run="baseline", layer="conv1", method="am", step=21))
    assert grid["step"] == 21 and grid["steps"] == ALL_STEPS
    assert grid["channels"] == list(range(8))
    assert grid["roles"] == ["image"]
    assert len(grid["numbers"]["activation"]) == 8 and len(grid["numbers"]["dead"]) == 8
    header, pngs = read_records(str(featviz_logdir / "baseline"))[("conv1", "am")][21]
    assert header["position"]["epoch"] == 7
    assert grid["numbers"]["activation"] == pytest.approx(header["numbers"]["activation"])
    for position, url in enumerate(grid["images"]["image"]):
        status, body, headers = server.get("/data/plugin/featviz/" + url)
        assert status == 200
        assert headers["Content-Type"] == "image/png"
        assert "max-age" in headers["Cache-Control"]
        assert body == pngs[position]  # served as stored: no decode, no re-encode


def test_grid_without_step_is_the_latest_and_deconv_has_projections_and_patches(server):
    grid = server.json(query("grid", run="baseline", layer="conv2", method="deconv"))
    assert grid["step"] == LAST
    assert grid["channels"] == [0, 3, 5, 7]
    assert grid["roles"] == ["projections", "patches"]
    assert grid["layout"]["top_k"] == 4
    for role in grid["roles"]:
        assert len(grid["images"][role]) == 4
        assert server.get("/data/plugin/featviz/" + grid["images"][role][0])[0] == 200


def test_evolution_has_one_frame_per_epoch(server, featviz_logdir):
    evolution = server.json(query("evolution", run="baseline", layer="conv2", method="am", channel=5))
    assert [frame["step"] for frame in evolution["frames"]] == ALL_STEPS
    records = read_records(str(featviz_logdir / "baseline"))[("conv2", "am")]
    position = [0, 3, 5, 7].index(5)
    for frame in evolution["frames"]:
        header, pngs = records[frame["step"]]
        assert frame["numbers"]["activation"] == pytest.approx(header["numbers"]["activation"][position])
        status, body, _ = server.get("/data/plugin/featviz/" + frame["image"])
        assert status == 200 and body == pngs[position]


def test_evolution_of_deconv_patches(server):
    evolution = server.json(
        query("evolution", run="baseline", layer="conv1", method="deconv", channel=2, role="patches")
    )
    assert len(evolution["frames"]) == len(ALL_STEPS) and evolution["role"] == "patches"


def test_occlusion_items_are_probe_images_with_the_roles_each_record_holds(server, featviz_logdir):
    formats = server.json("/data/plugin/featviz/runs")["formats"]
    assert formats["occlusion"]["item"] == "image" and formats["occlusion"]["headline"] == "score"
    assert formats["am"]["label"] == "Activation max."
    layers = {layer["name"]: layer["methods"] for layer in run_detail(server, "fast_lr")["layers"]}
    assert {name for name, methods in layers.items() if "occlusion" in methods} == {"conv1", "conv2", "logits"}
    grid = server.json(query("grid", run="fast_lr", layer="logits", method="occlusion", step=9))
    assert grid["roles"] == ["heatmap", "classes"] and grid["channels"] == [0, 1, 2, 3]
    header, pngs = read_records(str(featviz_logdir / "fast_lr"))[("logits", "occlusion")][9]
    assert grid["numbers"]["scores"] == header["numbers"]["scores"]
    assert server.get("/data/plugin/featviz/" + grid["images"]["classes"][1])[1] == pngs[3]  # image 1's class map
    feature = server.json(query("grid", run="fast_lr", layer="conv2", method="occlusion"))
    assert feature["roles"] == ["heatmap"] and len(feature["images"]["heatmap"]) == 4
    evolution = server.json(query("evolution", run="fast_lr", layer="logits", method="occlusion", channel=2,
                                  role="classes"))
    assert len(evolution["frames"]) == len(ALL_STEPS) and not evolution["problems"]
    status, body, _ = server.get(query("evolution", run="fast_lr", layer="conv2", method="occlusion", channel=2,
                                       role="classes"))
    assert status == 404 and b"has no classes images in its occlusion records; roles: heatmap" in body


BAD_REQUESTS = [
    # (path, expected status, words the message must contain)
    (query("grid", layer="conv1", method="am"), 400, "missing parameter 'run'"),
    (query("grid", run="baseline", layer="conv1"), 400, "missing parameter 'method'"),
    (query("grid", run="baseline", layer="conv1", method="Grad-CAM"), 400, "lower-case letters"),
    (query("grid", run="baseline", layer="conv1", method="nomethod"), 404, "has no nomethod records of layer"),
    (query("grid", run="baseline", layer="conv1", method="am", step="seven"), 400, "non-negative integer"),
    (query("grid", run="baseline", layer="conv1", method="am", step="-1"), 400, "non-negative integer"),
    (query("grid", run="baseline", layer="conv1", method="am", step="1e9"), 400, "non-negative integer"),
    (query("grid", run="baseline", layer="conv1", method="am", step=10**11), 404, f"steps: 0..{LAST}"),
    (query("grid", run="nope", layer="conv1", method="am"), 404, "no featviz records in run"),
    (query("grid", run="baseline", layer="conv3", method="am"), 404, "available: ['conv1/am'"),
    (query("grid", run="no_probes", layer="conv1", method="deconv"), 404, "has no deconv records"),
    (query("grid", run="future", layer="conv9", method="am"), 404, "has no am records"),
    (query("evolution", run="baseline", layer="conv2", method="am"), 400, "missing parameter 'channel'"),
    (query("evolution", run="baseline", layer="conv2", method="am", channel=1), 404, "channels: 0, 3, 5, 7"),
    (query("evolution", run="baseline", layer="conv2", method="am", channel=0, role="patches"), 400, "no image role"),
    (query("evolution", run="baseline", layer="conv2", method="am", channel="0x1"), 400, "non-negative integer"),
    ("/data/plugin/featviz/grid?run=baseline&run=no_probes&layer=conv1&method=am", 400, "given 2 times"),
    (query("grid", run="x" * 5000, layer="conv1", method="am"), 400, "too long"),
    (query("grid", run=HOSTILE_RUN, layer="<svg onload=alert(1)>", method="am"), 404, "has no am records"),
    (query("image"), 400, "missing parameter 'key'"),
    (query("image", key="../../etc/passwd"), 400, "not a blob key"),
    (query("image", key="AAAA"), 404, "no image"),
    (query("image", key="WyIiLCJiYXNlbGluZSIsImNvbnYxL2FtIiwwLDk5XQ"), 404, ""),  # index 99
    ("/data/plugin/featviz/static/../../../setup.py", 404, ""),
    ("/data/plugin/featviz/static/missing.js", 404, "no frontend file"),
    ("/data/plugin/featviz/static/index.html", 404, "no frontend file"),
]


@pytest.mark.parametrize("path,status,words", BAD_REQUESTS, ids=[str(i) for i in range(len(BAD_REQUESTS))])
def test_bad_requests_get_a_clear_4xx_never_a_500(server, path, status, words):
    got, body, headers = server.get(path)
    text = body.decode("utf-8", "replace")
    assert got == status, (path, got, text[:300])
    assert words in text
    assert "Traceback" not in text
    assert headers["Content-Type"].startswith("text/plain")  # a message, never HTML


def test_hostile_names_are_served_or_explained(server):
    path = query("grid", run=HOSTILE_RUN, layer=HOSTILE_LAYER, method="am", step=1)
    status, body, _ = server.get(path)
    if "load_fast=true" in " ".join(server.process.args):
        # tensorboard-data-server cannot parse back its own blob keys for names with quotes.
        assert status == 404 and b"--load_fast=false" in body
    else:
        grid = json.loads(body)
        assert grid["layer"] == HOSTILE_LAYER and grid["numbers"]["dead"] == [False, True, False]


def test_plugin_modules_never_import_tensorflow():
    code = (
        "import sys\n"
        "import tb_featviz.plugin.loader, tb_featviz.plugin.plugin, tb_featviz.plugin.reader\n"
        "from tensorboard import default, program\n"
        "program.TensorBoard(plugins=default.get_plugins()).configure(logdir='.')\n"
        "bad = sorted(m for m in sys.modules if m == 'tensorflow' or m.startswith(('tensorflow.', 'keras')))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_users_samples_per_plugin_flag_wins(featviz_logdir):
    with TensorBoardServer(featviz_logdir, "--samples_per_plugin=featviz=3", "--load_fast=false") as tb:
        tb.wait_for_plugin()
        def loaded():
            runs = json.loads(tb.get("/data/plugin/featviz/runs")[1])["runs"]
            return any(r["name"] == "baseline" for r in runs) and run_detail(tb, "baseline")
        baseline = tb.wait_until(loaded, what="baseline run")
        steps = baseline["layers"][0]["methods"]["am"]["steps"]
        assert len(steps) == 3 and steps[-1] == LAST  # TensorBoard's reservoir keeps the last


def test_empty_logdir_lists_the_plugin_inactive(tmp_path):
    with TensorBoardServer(tmp_path) as tb:
        listing = tb.wait_for_plugin()
        assert listing["featviz"]["enabled"] is False
        assert tb.json("/data/plugin/featviz/runs")["runs"] == []


def test_self_contradicting_records_are_answered_with_a_message(server):
    """Tag says deconv, header says am; a rank-0 tensor: 404 with what is wrong, never a 500,
    and the readable record of the same run is still served."""
    detail = run_detail(server, CRAFTED_RUN)
    assert "conv4" in [layer["name"] for layer in detail["layers"]]
    status, body, headers = server.get(query("grid", run=CRAFTED_RUN, layer="conv1", method="deconv"))
    assert status == 404 and headers["Content-Type"].startswith("text/plain")
    assert b"tag says conv1/deconv but its header says conv1/am" in body
    evolution = server.json(query("evolution", run=CRAFTED_RUN, layer="conv1", method="deconv", channel=0))
    assert evolution["frames"] == [] and "header says conv1/am" in evolution["problems"][0]
    for path in (query("grid", run=CRAFTED_RUN, layer="conv3", method="am"),
                 query("evolution", run=CRAFTED_RUN, layer="conv3", method="am", channel=0)):
        status, body, _ = server.get(path)
        assert status in (200, 404), (path, status, body[:300])
        assert b"Traceback" not in body and b"<html" not in body.lower()
    grid = server.json(query("grid", run=CRAFTED_RUN, layer="conv4", method="weights"))
    assert grid["channels"] == [0]


def test_hostile_records_cost_nothing_and_lose_nothing(server):
    """From the bad-input attack: each once made a listing vanish, a route take 10 s and 500 MB,
    or a request allocate a gigabyte; now each is a one-line problem and the rest is served."""
    listing = {run["name"]: run for run in server.json("/data/plugin/featviz/runs")["runs"]}
    assert "baseline" in listing  # one unparseable tag does not hide every run
    crafted = " ".join(listing[CRAFTED_RUN]["problems"])
    assert "deep/am: plugin content is nested deeper than" in crafted
    detail = run_detail(server, CRAFTED_RUN)
    if not any("declares 3000000 elements" in p for p in detail["problems"]):  # never read
        # the fast data server stores what the tensor holds, 2 elements: an incomplete record
        status, body, _ = server.get(query("grid", run=CRAFTED_RUN, layer="huge", method="am"))
        assert status == 404 and b"unreadable" in body, body[:200]
    for layer, words in (("int64", b"not a string element"), ("bools", b"no list of channel indices")):
        status, body, _ = server.get(query("grid", run=CRAFTED_RUN, layer=layer, method="am"))
        # (the fast data server drops a non-string tensor altogether: "no am records")
        assert status == 404 and (words in body or b"has no am records" in body), (layer, body[:200])
    grid = server.json(query("grid", run=CRAFTED_RUN, layer="infinite", method="am"))
    assert grid["numbers"]["activation"] == [1.0, None, 3.0]  # null, as FORMAT.md says


def test_scalars_are_keras_epoch_curves_on_the_featviz_epoch_axis(server, featviz_logdir):
    """Keras logs epoch_loss at step = epoch index (0-based); on featviz's epoch axis that is
    epoch index + 1 (epochs completed)."""
    answer = server.json(query("scalars", run="baseline"))
    assert answer["searched"][:2] == ["baseline/train", "baseline/validation"]
    series = {(s["split"], s["metric"]): s for s in answer["series"]}
    assert {("train", "loss"), ("validation", "loss"), ("train", "accuracy")} <= set(series)
    loss = series[("train", "loss")]["points"]
    assert [p["keras_step"] for p in loss] == list(range(EPOCHS))
    assert [p["epoch"] for p in loss] == list(range(1, EPOCHS + 1))  # after epoch 1 .. after epoch 30
    # Independent reading of Keras's own event file: the value Keras logged for its epoch 0.
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(
        str(featviz_logdir / "baseline" / "train"), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    import numpy as np

    logged = {e.step: float(np.frombuffer(e.tensor_proto.tensor_content, np.float32)[0])
              if e.tensor_proto.tensor_content else e.tensor_proto.float_val[0]
              for e in accumulator.Tensors("epoch_loss")}
    assert loss[0]["value"] == pytest.approx(logged[0]) and loss[-1]["value"] == pytest.approx(logged[EPOCHS - 1])
    assert server.json(query("scalars", run="no_such_run"))["series"] == []


def test_the_axis_places_every_step_in_training(server, featviz_logdir):
    """Each step's epoch with its fraction, from the records' headers (format version 2)."""
    axis = run_detail(server, FIRST_EPOCH_RUN)["axis"]
    assert [point["step"] for point in axis] == FIRST_EPOCH_STEPS
    assert [point["epoch"] for point in axis] == pytest.approx([0, 10 / 48, 20 / 48, 1, 2, 3])
    assert [point["moment"] for point in axis] == ["start", "batch", "batch", "epoch_end", "epoch_end", "epoch_end"]
    assert axis[1]["batch"] == 10 and axis[1]["steps_per_epoch"] == 48
    grid = server.json(query("grid", run=FIRST_EPOCH_RUN, layer="conv2", method="am", step=10))
    assert grid["step"] == 10
    # The Keras curves of that run are on the same epoch axis.
    loss = {(s["split"], s["metric"]): s for s in server.json(query("scalars", run=FIRST_EPOCH_RUN))["series"]}
    assert [p["epoch"] for p in loss[("train", "loss")]["points"]] == [1, 2, 3]


def test_version_1_logs_still_browse_with_their_steps_as_epochs(server):
    detail = run_detail(server, VERSION1_RUN)
    assert detail["layers"][0]["methods"]["am"]["steps"] == [0, 1, 2, 3] and not detail["problems"]
    assert [(p["step"], p["epoch"]) for p in detail["axis"]] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    grid = server.json(query("grid", run=VERSION1_RUN, layer="conv1", method="am", step=2))
    assert grid["numbers"]["activation"] == [3.0, 2.0]
    evolution = server.json(query("evolution", run=VERSION1_RUN, layer="conv1", method="am", channel=0))
    assert [frame["numbers"]["activation"] for frame in evolution["frames"]] == [1.0, 2.0, 3.0, 4.0]


def test_a_version_1_log_continued_by_this_version_reads_each_record_by_its_own_version(server):
    """TensorBoard keeps the first record's plugin content (version 1) for the whole series."""
    axis = run_detail(server, UPGRADED_RUN)["axis"]
    assert [(p["step"], p["epoch"]) for p in axis] == [(0, 0), (1, 1), (2, 2), (200, 3), (300, 4)]


def test_a_second_fit_from_epoch_0_is_served_as_written(server):
    axis = run_detail(server, RESTARTED_RUN)["axis"]
    assert [(p["step"], p["epoch"]) for p in axis] == [(0, 0), (3, 1), (6, 2), (9, 1), (12, 2)]
    assert [p["moment"] for p in axis] == ["start", "epoch_end", "epoch_end", "epoch_end", "epoch_end"]


def test_a_first_epoch_of_unknown_length_gets_its_epochs_from_later_records(server):
    axis = run_detail(server, UNKNOWN_LENGTH_RUN)["axis"]
    assert [point["step"] for point in axis] == [0, 10, 20, 24, 48]
    assert [point["epoch"] for point in axis] == pytest.approx([0, 10 / 24, 20 / 24, 1, 2])
    assert axis[1]["epoch_from"] == "the epoch length of later records" and "epoch_from" not in axis[3]
