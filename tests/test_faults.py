"""Faults: a training killed mid-visualization, resumed runs, an unwritable logdir, damaged event
files. Nothing shown broken, nothing lost that was written, training never stopped by us."""

import glob
import os
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path

import keras
import pytest

from tb_featviz import ConfigurationError, FeatVizCallback
from tb_featviz.records import read_records
from tests.conftest import FAST_AM, fit_model, small_cnn
from tests.tensorboard_server import TensorBoardServer

ROOT = Path(__file__).resolve().parent.parent


def listing(tb):
    return {run["name"]: tb.json("/data/plugin/featviz/run?run=" + urllib.parse.quote(run["name"]))
            for run in tb.json("/data/plugin/featviz/runs")["runs"]}


def steps_of(run):
    return {(layer["name"], method): series["steps"]
            for layer in run["layers"] for method, series in layer["methods"].items()}


def assert_everything_listed_is_whole(tb, run_name):
    """Every listed grid answers 200 with all its images loadable."""
    for (layer, method), steps in steps_of(listing(tb)[run_name]).items():
        for step in steps:
            grid = tb.json(f"/data/plugin/featviz/grid?run={run_name}&layer={layer}&method={method}&step={step}")
            for urls in grid["images"].values():
                for url in urls:
                    status, body, _ = tb.get("/data/plugin/featviz/" + url)
                    assert status == 200 and body.startswith(b"\x89PNG"), (layer, method, step)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["true", "false"])
def test_killed_mid_visualization_keeps_every_earlier_epoch_whole(tmp_path, mode):
    logdir = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.killed_fit", str(logdir)], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    inside = False
    for line in process.stdout:
        if "INSIDE 3" in line:
            inside = True
            break
    process.send_signal(signal.SIGKILL)
    assert inside, "the training ended before reaching epoch 3's visualization"
    process.wait(30)
    with TensorBoardServer(tmp_path, f"--load_fast={mode}") as tb:
        tb.wait_for_plugin()
        series = tb.wait_until(lambda: steps_of(listing(tb)["killed"]), what="killed run")
        assert len(series) == 8  # conv1 and conv2, four methods each (similarity among them)
        for steps in series.values():  # 2 steps an epoch: epoch 3 ends at step 6
            assert steps[:3] == [0, 2, 4] and steps in ([0, 2, 4], [0, 2, 4, 6])
        assert_everything_listed_is_whole(tb, "killed")


def fit(model, callbacks, **kwargs):
    return fit_model(model, callbacks, images=32, optimizer="adam", **kwargs)


class StopAfter(keras.callbacks.Callback):
    """Crashes the training at the end of an epoch, like a preempted job."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise RuntimeError("preempted")


@pytest.mark.slow
def test_resume_with_backup_and_restore_and_initial_epoch_continues_numbering(tmp_path):
    keras.utils.set_random_seed(0)
    backup = str(tmp_path / "backup")
    restore = tmp_path / "logs" / "restored"
    model = small_cnn()
    with pytest.raises(RuntimeError, match="preempted"):
        fit(model, [FeatVizCallback(str(restore), ["conv1"], am=FAST_AM, verbose=False),
                    keras.callbacks.BackupAndRestore(backup), StopAfter(3)], epochs=5)
    fit(model, [FeatVizCallback(str(restore), ["conv1"], am=FAST_AM, verbose=False),
                keras.callbacks.BackupAndRestore(backup)], epochs=5)

    continued = tmp_path / "logs" / "continued"
    model = small_cnn()
    fit(model, [FeatVizCallback(str(continued), ["conv1"], am=FAST_AM, verbose=False)], epochs=3)
    fit(model, [FeatVizCallback(str(continued), ["conv1"], am=FAST_AM, verbose=False)], epochs=5, initial_epoch=3)

    for run in (restore, continued):  # 2 steps an epoch: epochs 0..5 at steps 0..10, each once
        series = read_records(str(run))[("conv1", "am")]
        assert sorted(series) == [0, 2, 4, 6, 8, 10]
        assert [series[step][0]["position"]["epoch"] for step in sorted(series)] == [0, 1, 2, 3, 4, 5]
    for mode in ("true", "false"):
        with TensorBoardServer(tmp_path / "logs", f"--load_fast={mode}") as tb:
            tb.wait_for_plugin()
            def both():
                runs = listing(tb)
                return len(runs) == 2 and all(
                    s == [0, 2, 4, 6, 8, 10] for run in runs.values() for s in steps_of(run).values())
            tb.wait_until(both, what="both runs with steps 0..10, each once")


@pytest.mark.parametrize("log_dir, message", [
    ("{file}", r"log_dir '.*a_file' is a file, not a folder"),
    ("{file}/logs", r"log_dir '.*a_file/logs': '.*a_file' is a file, so no folder can be made in it"),
    ("/proc/x", r"cannot write to log_dir '/proc/x': .*No such file or directory"),  # found by opening it
    ("foo://x", r"log_dir 'foo://x': no file system for 'foo://' \(known: .*gs://.*ram://"),
], ids=["a-file", "under-a-file", "proc", "unknown-scheme"])
def test_an_unusable_log_dir_is_refused_before_the_first_epoch(tmp_path, log_dir, message):
    """Not a fit that runs to its end with every record lost (issue 23)."""
    (tmp_path / "a_file").write_text("a file where the log_dir should be")
    log_dir = log_dir.format(file=tmp_path / "a_file")
    epochs = []
    with pytest.raises(ConfigurationError, match=message):
        callback = FeatVizCallback(log_dir, ["conv1"], am=FAST_AM, methods=["weights"], verbose=False)
        fit(small_cnn(), [callback, keras.callbacks.LambdaCallback(on_epoch_begin=lambda *_: epochs.append(1))],
            epochs=2)
    assert epochs == []


def test_a_log_dir_that_does_not_exist_yet_is_made_when_fit_begins(tmp_path):
    log_dir = tmp_path / "new" / "run"
    callback = FeatVizCallback(str(log_dir), ["conv1"], methods=["weights"], verbose=False)
    assert not (tmp_path / "new").exists()  # as Keras's TensorBoard callback: nothing made before fit
    fit(small_cnn(), [callback], epochs=1)
    assert sorted(read_records(str(log_dir))[("conv1", "weights")]) == [0, 2]
    assert callback.lost_records == 0


def test_a_fit_that_ends_before_its_first_epoch_leaves_no_empty_event_file(tmp_path):
    """The event file is opened in on_train_begin (to refuse an unwritable log_dir); with no record
    written it is removed when the fit ends."""
    callback = FeatVizCallback(str(tmp_path / "run"), ["conv1"], methods=["weights"], verbose=False)
    fit(small_cnn(), [callback], epochs=0)
    assert list((tmp_path / "run").glob("events.out.tfevents.*")) == []


# The disk fills up as a run writes: first a file holds one record and no more (RLIMIT_FSIZE is
# per file), so each second write fails and the next record starts a new file; then not even a
# new file's header fits, as on a disk with no block left.
_FILLING_DISK = """
import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
from tensorboard.compat.proto import event_pb2
from tb_featviz.event_writer import EventFileWriter, WriteFailed
writer, failed = EventFileWriter(sys.argv[1]), []
writer.write(event_pb2.Event(step=0, wall_time=1.0))
room = os.path.getsize(writer.path) + 4  # a file's header and one record
resource.setrlimit(resource.RLIMIT_FSIZE, (room, resource.RLIM_INFINITY))
for step in range(1, 40):
    if step == 30:
        resource.setrlimit(resource.RLIMIT_FSIZE, (8, resource.RLIM_INFINITY))
    try:
        writer.write(event_pb2.Event(step=step, wall_time=1.0))
    except WriteFailed:
        failed.append(step)
print("FAILED", *failed)
"""


def test_a_filling_disk_leaves_no_empty_event_files_and_later_files_sort_later(tmp_path):
    """Once one zero-byte event file per failed write, and the 10th file of a second sorted before
    the 2nd (TensorBoard reads a run's files in name order)."""
    result = subprocess.run([sys.executable, "-c", _FILLING_DISK, str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.stdout.startswith("FAILED"), result.stderr[-2000:]
    failed = [int(step) for step in result.stdout.split()[1:]]
    assert failed == list(range(1, 30, 2)) + list(range(30, 40))
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    names = sorted(os.listdir(tmp_path))
    assert [name for name in names if (tmp_path / name).stat().st_size == 0] == []
    steps = [[event.step for event in EventFileLoader(str(tmp_path / name)).Load() if not event.file_version]
             for name in names]
    assert steps == [[step] for step in range(0, 30, 2)]  # one record a file, in the order written


@pytest.fixture(scope="module")
def damaged_logdir(tmp_path_factory):
    """Three copies of one run: intact, truncated inside its last record, a record's bytes flipped."""
    root = tmp_path_factory.mktemp("damaged")
    keras.utils.set_random_seed(0)
    fit(small_cnn(), [FeatVizCallback(str(root / "intact"), ["conv1"], am=FAST_AM, methods=["am"],
                                      verbose=False)], epochs=4)
    (event_file,) = glob.glob(str(root / "intact" / "events.out.tfevents.*"))
    data = Path(event_file).read_bytes()
    for name, damaged in (("truncated", data[:-200]), ("flipped", _flip_middle(data))):
        (root / name).mkdir()
        (root / name / Path(event_file).name).write_bytes(damaged)
    return root


def _flip_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["true", "false"])
def test_damaged_event_files_show_what_is_readable(damaged_logdir, mode):
    with TensorBoardServer(damaged_logdir, f"--load_fast={mode}") as tb:
        tb.wait_for_plugin()
        runs = tb.wait_until(lambda: len(listing(tb)) == 3 and listing(tb), what="three runs")
        intact = steps_of(runs["intact"])[("conv1", "am")]
        assert intact == [0, 2, 4, 6, 8]
        assert steps_of(runs["truncated"])[("conv1", "am")] == [0, 2, 4, 6]  # the last one is cut
        flipped = steps_of(runs["flipped"]).get(("conv1", "am"), [])
        assert flipped[:1] == [0] and set(flipped) <= set(intact)  # what precedes the damage
        for run in runs:
            assert_everything_listed_is_whole(tb, run)
    # The TensorFlow-side reader keeps what is complete, too.
    assert sorted(read_records(str(damaged_logdir / "truncated"))[("conv1", "am")]) == [0, 2, 4, 6]
