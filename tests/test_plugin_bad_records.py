"""One bad record or curve loses only itself (issue 23), in both of TensorBoard's loading modes,
and every route answers any path with a 4xx, never a 500.

The log is written without TensorFlow (tests/logs.py `write_one_bad_record_each`): good records
beside one bad record of each kind.
"""

import json
import urllib.parse

import pytest

from tb_featviz.plugin import assets
from tests.logs import DEEP_STEP, ONE_BAD_RUN, OUT_OF_RANGE_STEPS, write_one_bad_record_each
from tests.tensorboard_server import LOADERS, serving

RUN = ONE_BAD_RUN


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("one_bad_each")
    write_one_bad_record_each(str(root))
    return root


@pytest.fixture(scope="module", **LOADERS)
def server(request, logdir):
    with serving(logdir, request.param, _loaded, "every record loaded") as tb:
        yield tb


def _loaded(tb):
    """Loaded as far as TensorBoard's own routes tell: Keras's curves and the last featviz record."""
    tags = json.loads(tb.get("/data/plugin/scalars/tags")[1])
    curves = all("epoch_accuracy" in tags.get(f"{RUN}/{split}", {}) for split in ("train", "validation"))
    return curves and tb.get(query("grid", run=RUN, layer="conv1", method="am", step=2))[0] == 200


def query(path, **params):
    return f"/data/plugin/featviz/{path}?{urllib.parse.urlencode(params)}"


def python_loader(tb) -> bool:
    return "--load_fast=false" in tb.process.args


# ---- 1: a path too long for the file system -------------------------------------------------


def test_a_static_file_name_too_long_for_the_file_system_is_a_404(server):
    for name in ("a" * 256 + ".js", "b" * 5000 + ".css"):
        status, body, headers = server.get("/data/plugin/featviz/static/" + name)
        assert status == 404, (status, body[:200])
        assert headers["Content-Type"].startswith("text/plain") and b"no frontend file" in body


def test_assets_answer_names_too_long_for_the_file_system_as_not_ours():
    assert assets.read_frontend_file("a" * 256 + ".js") is None
    assert assets.read_frontend_file("index.js")[1] == "text/javascript"


# ---- 2: a header nested too deep -----------------------------------------------------------


def test_a_header_nested_too_deep_loses_only_its_own_step(server):
    detail = server.json(query("run", run=RUN))
    methods = {layer["name"]: layer["methods"] for layer in detail["layers"]}
    assert methods["conv1"]["am"]["steps"] == [0, 1, 2, DEEP_STEP]
    assert {0, 1, 2, DEEP_STEP} <= {point["step"] for point in detail["axis"]}
    for step in (0, 1, 2):
        grid = server.json(query("grid", run=RUN, layer="conv1", method="am", step=step))
        assert grid["numbers"]["activation"] == [1.0, 2.0]
        assert server.get("/data/plugin/featviz/" + grid["images"]["image"][1])[0] == 200
    status, body, _ = server.get(query("grid", run=RUN, layer="conv1", method="am", step=DEEP_STEP))
    assert status == 404 and b"nested deeper than" in body, body[:300]
    evolution = server.json(query("evolution", run=RUN, layer="conv1", method="am", channel=1))
    assert [frame["step"] for frame in evolution["frames"]] == [0, 1, 2]
    assert len(evolution["problems"]) == 1 and evolution["problems"][0].startswith(f"step {DEEP_STEP}: ")
    assert "nested deeper than" in evolution["problems"][0]


# ---- 3: a Keras curve that is not numbers --------------------------------------------------


def test_a_keras_curve_that_is_not_numbers_loses_only_itself(server):
    answer = server.json(query("scalars", run=RUN))
    curves = {(s["split"], s["metric"]): [p["value"] for p in s["points"]] for s in answer["series"]}
    assert curves[("train", "loss")] == pytest.approx([1.0, 0.5, 1 / 3])
    assert curves[("train", "accuracy")] == curves[("validation", "accuracy")] == pytest.approx([0.5, 0.6, 0.7])
    assert ("validation", "loss") not in curves
    if python_loader(server):  # (the fast data server leaves a string tensor out of the scalars)
        assert [p for p in answer["problems"] if p.startswith(f"{RUN}/validation: epoch_loss: ")], answer["problems"]


# ---- 9: steps no route can ask for, a wall time that is not a number ------------------------


def test_steps_outside_0_to_2_53_are_left_out_and_the_rest_is_served(server):
    detail = server.json(query("run", run=RUN))
    methods = {layer["name"]: layer["methods"] for layer in detail["layers"]}
    assert methods["conv2"]["am"]["steps"] == [0, 1]
    assert not set(OUT_OF_RANGE_STEPS) & {point["step"] for point in detail["axis"]}
    (note,) = [p for p in detail["problems"] if p.startswith("conv2/am: ")]
    assert all(str(step) in note for step in OUT_OF_RANGE_STEPS) and "left out" in note
    grid = server.json(query("grid", run=RUN, layer="conv2", method="am"))
    assert grid["step"] == 1 and grid["steps"] == [0, 1]
    assert server.get("/data/plugin/featviz/" + grid["images"]["image"][0])[0] == 200
    evolution = server.json(query("evolution", run=RUN, layer="conv2", method="am", channel=0))
    assert [frame["step"] for frame in evolution["frames"]] == [0, 1] and not evolution["problems"]
    # The largest step a record may have is one a route takes.
    status, body, _ = server.get(query("grid", run=RUN, layer="conv2", method="am", step=2**53))
    assert status == 404 and b"steps: 0, 1" in body
    status, body, _ = server.get(query("grid", run=RUN, layer="conv2", method="am", step=2**53 + 1))
    assert status == 400


def test_a_wall_time_that_is_not_a_number_gives_image_urls_a_finite_version(server):
    layers = [layer["name"] for layer in server.json(query("run", run=RUN))["layers"]]
    if not python_loader(server):
        assert "conv3" not in layers  # the fast data server drops an event with a NaN wall time
        return
    grid = server.json(query("grid", run=RUN, layer="conv3", method="weights"))
    for url in grid["images"]["filter"]:
        version = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["v"]
        assert version == ["0"], url
        assert server.get("/data/plugin/featviz/" + url)[0] == 200
    assert grid["wall_time"] is None
