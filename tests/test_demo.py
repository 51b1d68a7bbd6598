"""The demo end to end, tiny: real Fashion-MNIST, real fit, real TensorBoard serving the plugin."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tb_featviz.records import read_records
from tests.tensorboard_server import TensorBoardServer, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--epochs", "2", "--train-images", "1500"]
# 1,500 images in batches of 128: 12 steps per epoch. The log schedule: step 0, step 10 inside
# epoch 1 (20, 50, ... come after its end), then each epoch's end.
STEPS = [0, 10, 12, 24]
LAYERS = {"conv1", "conv2", "conv3", "logits"}


def demo(*args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "demo", *map(str, args)], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs,
    )


def read_until(process, marker, timeout=600):
    """stdout lines up to and including the first containing `marker`."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError("demo ended early:\n" + "".join(lines[-40:]))
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError(f"no {marker!r} within {timeout}s:\n" + "".join(lines[-40:]))


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.load(reply)


@pytest.fixture(scope="module")
def finished_demo(tmp_path_factory):
    """Runs the demo once; yields (logdir, port, output so far, process) while it serves."""
    logdir = tmp_path_factory.mktemp("demo") / "runs"
    port = free_port()
    process = demo(*TINY, "--logdir", logdir, "--port", port)
    try:
        output = read_until(process, "press Ctrl+C")
        yield logdir, port, output, process
    finally:
        if process.poll() is None:
            process.kill()


def test_demo_trains_logs_every_layer_and_serves_the_dashboard(finished_demo):
    logdir, port, output, process = finished_demo
    assert f"TensorBoard: http://127.0.0.1:{port}/#featviz" in output  # before training starts
    assert "Epoch 2/2" in output
    assert "featviz: schedule: the start (step 0), steps 10 (the log points below step 12: one epoch), then every epoch" in output
    for step in STEPS:
        assert f"featviz: step {step} " in output
    # 4 layers' am, deconv, occlusion and similarity, 3 conv layers' weights and Grad-CAM, the
    # output's saliency and integrated gradients
    assert "featviz: step 10 (Epoch 1, batch 10/12 = epoch 0.83): 24 visualizations" in output
    accuracy = float(output.split("Test accuracy: ")[1].split()[0])
    assert 0.5 < accuracy <= 1.0  # 2 epochs on 1,500 images; the full demo reaches ~0.9
    assert "Time: set-up" in output and "visualization" in output

    records = read_records(str(logdir / "featviz"))
    assert {layer for layer, _ in records} == LAYERS
    assert sorted(records[("conv3", "deconv")]) == STEPS
    assert sorted(records[("logits", "am")]) == STEPS
    occlusion = records[("logits", "occlusion")][24][0]  # where the model looks, per probe image
    assert occlusion["position"]["epoch"] == 2
    assert occlusion["roles"] == ["heatmap", "classes"] and occlusion["channels"] == list(range(8))
    assert occlusion["settings"]["class_names"][0] == "T-shirt/top"
    assert sorted(records[("conv3", "occlusion")]) == STEPS
    for key in (("logits", "saliency"), ("conv3", "gradcam"), ("logits", "integrated_gradients")):
        assert sorted(records[key]) == STEPS  # where it looks, by its gradients, with the sanity check
        assert records[key][24][0]["settings"]["reference"]["step"] == 0
    for name in ("conv1_am_first_epoch.png", "conv1_am_last_epoch.png", "conv2_evolution.png",
                 "conv2_first_epoch.png", "conv3_deconv.png", "logits_occlusion.png"):
        assert (logdir / "pictures" / name).read_bytes().startswith(b"\x89PNG")

    base = f"http://127.0.0.1:{port}"
    assert get_json(base + "/data/plugins_listing")["featviz"]["enabled"] is True

    def featviz_run():
        runs = get_json(base + "/data/plugin/featviz/runs")["runs"]
        assert any(run["name"] == "featviz" for run in runs), runs
        return get_json(base + "/data/plugin/featviz/run?run=featviz")

    deadline = time.monotonic() + 60  # TensorBoard reloads the logdir every 5 s
    while featviz_run()["layers"][0]["methods"]["am"]["steps"] != STEPS:
        assert time.monotonic() < deadline, featviz_run()
        time.sleep(0.5)
    assert [layer["name"] for layer in featviz_run()["layers"]] == ["conv1", "conv2", "conv3", "logits"]
    assert [point["epoch"] for point in featviz_run()["axis"]] == pytest.approx([0, 10 / 12, 1, 2])

    process.send_signal(signal.SIGINT)  # Ctrl+C stops TensorBoard and the demo cleanly
    assert process.wait(30) == 0


def test_existing_log_is_never_mixed_silently_then_resumes(finished_demo):
    logdir, _, _, process = finished_demo
    process.wait(30)
    refused = demo(*TINY, "--logdir", logdir, "--no-tensorboard")
    output, _ = refused.communicate(timeout=120)
    assert refused.returncode == 2
    assert "already holds a demo log (2 epochs)" in output and "--resume" in output

    resumed = demo("--epochs", "1", "--train-images", "1500", "--logdir", logdir,
                   "--resume", "--no-tensorboard")
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output[-3000:]
    assert "Continuing the demo run from epoch 2" in output and "Epoch 3/3" in output
    records = read_records(str(logdir / "featviz"))
    series = records[("conv1", "am")]  # the steps continue from the saved optimizer: no gap, no repeat
    assert sorted(series) == STEPS + [36]
    assert [series[step][0]["position"]["epoch"] for step in sorted(series)] == pytest.approx([0, 10 / 12, 1, 2, 3])
    assert "featviz: step 24 (resumed fit, after epoch 2): 0 visualizations" in output


def test_missing_dataset_is_one_clear_message(tmp_path):
    env = {**os.environ, "TB_FEATVIZ_FASHION_MNIST": str(tmp_path / "nowhere")}
    process = demo(*TINY, "--logdir", tmp_path / "runs", "--no-tensorboard", env=env)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 2
    assert "apt-get install dataset-fashion-mnist" in output and "Traceback" not in output


def test_a_port_another_tensorboard_serves_is_left_to_it(tmp_path, capsys):
    """`make demo` while the port serves another TensorBoard with FeatViz: that one answered the
    demo's check, so the demo printed its URL while its own TensorBoard died for want of a port."""
    from demo.tensorboard_process import TensorBoardProcess

    other_logdir, our_logdir = tmp_path / "other", tmp_path / "ours"
    other_logdir.mkdir()
    our_logdir.mkdir()
    with TensorBoardServer(str(other_logdir)) as other:
        other.wait_for_plugin()
        ours = TensorBoardProcess.start(str(our_logdir), other.port)
        assert ours is not None
        try:
            assert ours.port != other.port and ours.process.poll() is None
            assert get_json(ours.url + "/data/environment")["data_location"] == str(our_logdir)
            assert get_json(other.url + "/data/environment")["data_location"] == str(other_logdir)
            printed = capsys.readouterr().out
            assert (f"Port {other.port} is taken (by another TensorBoard, pid {other.process.pid}, serving "
                    f"{other_logdir})") in printed and f"uses port {ours.port}" in printed
        finally:
            ours.stop()
