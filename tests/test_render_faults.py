"""Rendering off the training path under faults and bad input: training goes on and loses
nothing it did not have to, and every refusal is one clear line (issue: training never waits)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from tb_featviz import AMOptions, ConfigurationError, FeatVizCallback
from tb_featviz.offline.process import RenderOptions
from tb_featviz.records import read_records
from tests.conftest import image_data, small_cnn

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "tb_featviz.cli"]

pytestmark = pytest.mark.slow


def fit(callbacks, epochs=3, seed=0):
    keras.utils.set_random_seed(seed)
    model = small_cnn()
    x, y = image_data(48)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=callbacks)
    return model


def callback(log_dir, render, **kwargs):
    probes, _ = image_data(8, seed=1)
    return FeatVizCallback(str(log_dir), {"conv2": [0, 1]}, probe_images=probes, am=AMOptions(steps=3), top_k=2,
                           methods=["am", "weights"], schedule="epoch", render=render, **kwargs)


def snapshots(log_dir) -> list:
    return sorted((Path(log_dir) / ".featviz" / "snapshots").glob("*.npz"))


class KillRenderer(keras.callbacks.Callback):
    """Kills the render process at the end of each epoch in `epochs` (0-based)."""

    def __init__(self, watched, epochs):
        super().__init__()
        self.watched, self.epochs, self.killed = watched, epochs, []

    def on_epoch_end(self, epoch, logs=None):
        if epoch in self.epochs and self.watched._process is not None:
            pid = self.watched._process.pid
            os.kill(pid, signal.SIGKILL)
            self.watched._process._child.wait()
            self.killed.append(pid)


def test_a_killed_render_process_is_restarted_once_then_training_renders_inline(tmp_path, caplog):
    watched = callback(tmp_path, "process", verbose=0)
    killer = KillRenderer(watched, epochs=(0, 1))
    trained = fit([killer, watched])
    plain = fit([])
    for a, b in zip(plain.weights, trained.weights):  # training went on, unchanged
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert len(killer.killed) == 2 and "started it again" in messages
    assert "died again" in messages and "rendering inline for the rest of this fit" in messages
    records = read_records(str(tmp_path))
    # Epochs 2 and 3 end after the second death: drawn inline. What the killed children left
    # stays as snapshots, for `tb-featviz follow`, which draws them (nothing lost).
    assert {6, 9} <= set(records[("conv2", "am")])
    subprocess.run([*CLI, "follow", str(tmp_path)], check=True, capture_output=True, timeout=600)
    assert sorted(read_records(str(tmp_path))[("conv2", "am")]) == [0, 3, 6, 9] and not snapshots(tmp_path)


# A fit whose disk fills once training has begun: snapshots after the first epoch cannot be
# written (RLIMIT_FSIZE is per file; the limit lets the job's small files and nothing bigger).
_FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
import keras
from tb_featviz import AMOptions, FeatVizCallback
from tests.conftest import image_data, small_cnn

class FillTheDisk(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))

keras.utils.set_random_seed(0)
model = small_cnn()
x, y = image_data(48)
model.compile("adam", "sparse_categorical_crossentropy")
watched = FeatVizCallback(sys.argv[1], {"conv2": [0, 1]}, methods=["am", "weights"], am=AMOptions(steps=3),
                          schedule="epoch", render="sidecar", verbose=0)
history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[watched, FillTheDisk()])
print("EPOCHS", len(history.history["loss"]), "LOST", watched.lost_records)
"""


def test_a_full_disk_while_snapshotting_warns_counts_and_training_goes_on(tmp_path):
    result = subprocess.run([sys.executable, "-c", _FULL_DISK, str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert "EPOCHS 3 LOST 4" in result.stdout, result.stderr[-3000:]  # steps 6 and 9, 2 records each
    assert "a snapshot could not be written" in result.stderr
    assert len(snapshots(tmp_path)) == 2  # step 0 and the first epoch's end, written before the disk filled
    assert not list((tmp_path / ".featviz" / "snapshots").glob("*.partial-*"))  # nothing half written left


def test_a_truncated_or_foreign_snapshot_is_set_aside_with_a_line(tmp_path):
    fit([callback(tmp_path, "sidecar", verbose=0)], epochs=2)
    first, second, third = snapshots(tmp_path)
    first.write_bytes(first.read_bytes()[:300])  # truncated
    foreign = second.with_name(second.name.replace(second.name.split("-", 2)[-1], "19990101-000000-abcdef.npz"))
    second.rename(foreign)  # of a job this log does not hold
    follow = subprocess.run([*CLI, "follow", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert follow.returncode == 0, follow.stderr
    assert follow.stdout.count("set aside as .bad") == 2 and "not a whole snapshot" in follow.stdout
    assert "cannot be read" in follow.stdout
    assert sorted(read_records(str(tmp_path))[("conv2", "am")]) == [6]
    assert len(list((tmp_path / ".featviz" / "snapshots").glob("*.bad"))) == 2


def test_two_followers_split_a_log_and_write_no_record_twice(tmp_path):
    fit([callback(tmp_path, "sidecar", verbose=0)], epochs=6)
    assert len(snapshots(tmp_path)) == 7
    followers = [subprocess.Popen([*CLI, "follow", str(tmp_path)], stdout=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outputs = [follower.communicate(timeout=600)[0] for follower in followers]
    assert all(follower.returncode == 0 for follower in followers)
    assert sum(output.count("rendered step") for output in outputs) == 7
    steps = _every_record_step(tmp_path)
    assert sorted(steps[("conv2", "am")]) == [0, 3, 6, 9, 12, 15, 18]  # each once


def test_a_follower_killed_mid_render_loses_nothing(tmp_path):
    fit([callback(tmp_path, "sidecar", verbose=0)], epochs=4)
    follower = subprocess.Popen([*CLI, "follow", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    for line in follower.stdout:
        if "rendered step 0" in line:
            break
    follower.kill()  # while it draws the next snapshot (or between two: either must lose nothing)
    follower.wait()
    rest = subprocess.run([*CLI, "follow", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert rest.returncode == 0, rest.stderr
    steps = _every_record_step(tmp_path)
    assert sorted(steps[("conv2", "am")]) == [0, 3, 6, 9, 12] and sorted(steps[("conv2", "weights")]) == [0, 3, 6, 9, 12]
    assert not snapshots(tmp_path)


def test_a_follower_on_a_log_without_snapshots_says_so_and_exits_0(tmp_path):
    result = subprocess.run([*CLI, "follow", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "no snapshots in" in result.stdout
    missing = subprocess.run([*CLI, "follow", str(tmp_path / "nope")], capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "no such log directory" in missing.stderr


def test_replaying_weights_that_do_not_fit_is_one_line_and_exit_2(tmp_path):
    model = small_cnn()
    model.save(tmp_path / "model.keras")
    other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    other.save_weights(tmp_path / "ckpt-01.weights.h5")
    result = subprocess.run([*CLI, "replay", str(tmp_path / "ckpt-01.weights.h5"), "--model", str(tmp_path / "model.keras"),
                             "--logdir", str(tmp_path / "out"), "--layers", "conv1", "--methods", "weights"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "do not fit the model" in result.stderr


def test_a_model_that_cannot_be_rebuilt_is_refused_before_epoch_1_naming_inline(tmp_path):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)  # Python code: Keras will not rebuild it safely
    x = keras.layers.Conv2D(4, 3, name="conv")(x)
    model = keras.Model(inputs, keras.layers.Dense(5)(keras.layers.Flatten()(x)))
    model.compile("adam", "sparse_categorical_crossentropy")
    x_train, y_train = image_data(16)
    for render in ("process", "sidecar"):
        epochs = []
        counter = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs.append(epoch))
        with pytest.raises(ConfigurationError, match='cannot be rebuilt.*render="inline"'):
            model.fit(x_train, y_train, epochs=1, verbose=0, callbacks=[
                FeatVizCallback(str(tmp_path / render), ["conv"], methods=["weights"], render=render), counter])
        assert epochs == []


def test_preprocess_and_unknown_modes_are_refused_where_given(tmp_path):
    with pytest.raises(ConfigurationError, match='preprocess.*render="inline"'):
        FeatVizCallback(str(tmp_path), ["conv1"], render="process", preprocess=lambda x: x)
    with pytest.raises(ConfigurationError, match="render must be one of"):
        FeatVizCallback(str(tmp_path), ["conv1"], render="thread")
    with pytest.raises(ConfigurationError, match="max_backlog must be an int >= 1"):
        RenderOptions("process", max_backlog=0)


def test_a_full_backlog_drops_intermediate_steps_never_the_protected_ones(tmp_path, capsys):
    """Sidecar with a backlog of 2 and nobody drawing: step 0, the first epoch and the end are
    kept; the steps between are dropped, said and recorded."""
    watched = callback(tmp_path, RenderOptions("sidecar", max_backlog=2))
    fit([watched], epochs=5)
    kept = sorted(int(path.name.split("-")[0]) for path in snapshots(tmp_path))
    assert kept == [0, 3, 15]
    assert watched.skipped_steps == [6, 9, 12]
    out = capsys.readouterr().out
    assert "backlog full, step 6 not drawn" in out and "3 scheduled steps were not drawn" in out
    (ended,) = (tmp_path / ".featviz" / "jobs").glob("*/ended.json")
    assert json.loads(ended.read_text())["dropped_steps"] == [6, 9, 12]  # recorded for whoever reads the log


def test_the_end_waits_at_most_the_timeout_and_says_what_is_left(tmp_path, capsys):
    fit([callback(tmp_path, RenderOptions("process", timeout=0))], epochs=2)
    out = capsys.readouterr().out
    assert "stopped waiting after 0 s" in out and f"tb-featviz follow {tmp_path}" in out
    left = len(snapshots(tmp_path))
    assert left >= 1
    subprocess.run([*CLI, "follow", str(tmp_path)], check=True, capture_output=True, timeout=600)
    assert sorted(read_records(str(tmp_path))[("conv2", "am")]) == [0, 3, 6]


def _every_record_step(log_dir) -> dict:
    """{(layer, method): [step, ...]} over every event file, duplicates kept."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    from tb_featviz import metadata

    found: dict = {}
    for path in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == metadata.PLUGIN_NAME:
                    info = metadata.parse_plugin_content(value.metadata.plugin_data.content)
                    found.setdefault((info["layer"], info["method"]), []).append(event.step)
    return found


def test_by_default_the_end_waits_a_tenth_of_the_fit_then_the_child_finishes_alone(tmp_path, capsys):
    """render="process" keeps the fit within 1.1x its time without the callback: the end waits at
    most a tenth of the fit, and the render process draws the rest after `fit` has returned."""
    watched = callback(tmp_path, "process")
    began = time.perf_counter()
    fit([watched], epochs=2)
    fit_seconds = time.perf_counter() - began
    out = capsys.readouterr().out
    # A fit of seconds ends long before the child has even imported Keras: it goes on alone.
    assert "goes on drawing the" in out and f"pid {watched._process.pid}" in out
    waited = float(out.split("stopped waiting after ")[1].split(" s")[0])
    assert waited <= 0.1 * fit_seconds + 0.05
    assert watched._process._child.wait(timeout=600) == 0  # it exits once everything is drawn
    assert sorted(read_records(str(tmp_path))[("conv2", "am")]) == [0, 3, 6] and not snapshots(tmp_path)


def test_a_renderer_that_did_not_draw_the_first_step_compares_with_it(tmp_path):
    """The attributions' sanity check compares every step with the fit's first: a second
    follower, a restarted render process, or a later `follow` that did not draw step 0 writes
    the same reference step and the same rho as inline (they read the job's reference)."""
    from tb_featviz.offline.renderer import SnapshotRenderer

    probes, labels = image_data(8, seed=1)

    def attributions(log_dir, render):
        return FeatVizCallback(str(log_dir), ["conv2"], probe_images=probes, probe_labels=labels,
                               methods=["saliency", "gradcam"], schedule="epoch", render=render, verbose=0)

    fit([attributions(tmp_path / "inline", "inline")], epochs=2)
    fit([attributions(tmp_path / "sidecar", "sidecar")], epochs=2)
    waiting = snapshots(tmp_path / "sidecar")
    assert len(waiting) == 3
    first = SnapshotRenderer(str(tmp_path / "sidecar"))
    assert first.render(str(waiting[0])).outcome == "rendered"  # step 0, then this renderer stops
    first.close()
    later = SnapshotRenderer(str(tmp_path / "sidecar"))  # a new process's renderer: no step 0 of its own
    for path in waiting[1:]:
        assert later.render(str(path)).outcome == "rendered"
    later.close()
    expected, got = read_records(str(tmp_path / "inline")), read_records(str(tmp_path / "sidecar"))
    keys = [key for key in expected if key[1] in ("saliency", "gradcam")]
    assert sorted(method for _, method in keys) == ["gradcam", "saliency"], sorted(expected)
    for key in keys:
        assert sorted(got[key]) == sorted(expected[key]) == [0, 3, 6]
        for step in (3, 6):
            header = got[key][step][0]
            assert header["settings"]["reference"]["step"] == 0, (key, step)
            assert header == expected[key][step][0], (key, step)  # the same rho, to the digit


def test_follow_of_some_layers_leaves_the_rest_of_each_snapshot_for_a_later_follower(tmp_path):
    probes, _ = image_data(8, seed=1)
    fit([FeatVizCallback(str(tmp_path), ["conv1", "conv2"], probe_images=probes, am=AMOptions(steps=3),
                         methods=["am", "weights"], schedule="epoch", render="sidecar", verbose=0)], epochs=2)
    some = subprocess.run([*CLI, "follow", str(tmp_path), "--layers", "conv1"], capture_output=True, text=True,
                          timeout=600)
    assert some.returncode == 0, some.stderr
    assert some.stdout.count("rendered step") == 3
    assert len(snapshots(tmp_path)) == 3  # conv2's records are still to be drawn
    assert set(_every_record_step(tmp_path)) == {("conv1", "am"), ("conv1", "weights")}
    job = snapshots(tmp_path)[0].name.split("-", 2)[-1]
    (tmp_path / ".featviz" / "snapshots" / f"000000000000099-000099-{job}").mkdir()  # a folder so named
    rest = subprocess.run([*CLI, "follow", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert rest.returncode == 0, rest.stderr
    assert "set aside as .bad" in rest.stdout
    assert not snapshots(tmp_path)
    steps = _every_record_step(tmp_path)
    assert set(steps) == {(layer, method) for layer in ("conv1", "conv2") for method in ("am", "weights")}
    for key, written in steps.items():
        assert sorted(written) == [0, 3, 6], key  # each once: the second follower skipped conv1's


@pytest.mark.parametrize("flags, words", [
    (["--global-steps", "0,99999999999999999999999"], "each in 0..9007199254740992"),
    (["--global-steps", "5,5"], "each later than the one before"),
    (["--global-steps", "9,5"], "each later than the one before"),
    (["--global-steps", "3,6", "--steps-per-epoch", "3"], "not both"),
    (["--steps-per-epoch", "-5"], "1 or more"),
    (["--steps-per-epoch", "0"], "1 or more"),
    (["--logdir-is-a-file"], "--logdir"),
    (["--same-checkpoint-twice"], "given twice"),
])
def test_replay_steps_and_paths_that_would_lose_or_misplace_records_are_one_line_and_exit_2(tmp_path, flags, words):
    model = small_cnn()
    model.save(tmp_path / "model.keras")
    checkpoints = [str(tmp_path / "ckpt-01.weights.h5"), str(tmp_path / "ckpt-02.weights.h5")]
    for path in checkpoints:
        model.save_weights(path)
    log_dir = tmp_path / "out"
    if flags == ["--logdir-is-a-file"]:
        log_dir.write_text("not a folder")
        flags = []
    if flags == ["--same-checkpoint-twice"]:
        checkpoints, flags = [checkpoints[0], checkpoints[0]], ["--global-steps", "1,2"]
    result = subprocess.run([*CLI, "replay", *checkpoints, "--model", str(tmp_path / "model.keras"), "--logdir",
                             str(log_dir), "--layers", "conv1", "--methods", "weights", *flags],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert words in result.stderr
    assert not list(tmp_path.glob("out/events.out.tfevents.*"))  # nothing written
