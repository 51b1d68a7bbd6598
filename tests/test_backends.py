"""The same weights and seed give the same pictures on TensorFlow, JAX and PyTorch, and a record
is the same bytes whether `tf.summary` or TensorBoard's own event writer wrote it."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tb_featviz import summary
from tb_featviz.records import _events
from tests.backend_results import results

pytestmark = pytest.mark.backends

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tensorflow_results():
    return results()  # this process runs the TensorFlow backend


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_method_gives_the_same_results_on_every_backend(backend, tensorflow_results, tmp_path):
    out = tmp_path / f"{backend}.npz"
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": ROOT}
    run = subprocess.run([sys.executable, "-m", "tests.backend_results", str(out)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    other = np.load(out)
    assert str(other["backend"]) == backend
    for key, expected in tensorflow_results.items():
        got = other[key]
        assert got.shape == np.shape(expected), key
        if np.asarray(expected).dtype.kind in "biu":  # indices, dead flags, classes, filter pictures
            np.testing.assert_array_equal(got, expected, err_msg=key)
        else:  # float32 on another backend's kernels: rounding, not a different picture
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-5, err_msg=key)


def test_a_record_is_the_same_bytes_from_tf_summary_and_from_tensorboards_writer(tmp_path):
    record = summary.make_record(
        "conv1", "weights", [0, 1], [[np.zeros((3, 3, 1), np.uint8)], [np.full((3, 3, 1), 200, np.uint8)]],
        {"norm": [1.0, 2.0], "mean": [0.0, 0.1], "std": [1.0, 1.5], "input_channels": [[0], [0]]})
    writer = tf.summary.create_file_writer(str(tmp_path / "tf"))
    with writer.as_default():
        assert record.write(step=5, epoch=0.5) and record.write(step=10, epoch=1.0)
    writer.close()
    own = summary.EventWriter(str(tmp_path / "own"))
    record.write_to(own, 5, epoch=0.5)
    record.write_to(own, 10, epoch=1.0)
    own.close()

    def records_of(folder):
        from tensorboard.compat.proto import event_pb2

        (path,) = glob.glob(str(folder / "events.out.tfevents.*"))
        events = [event for event in _events(tf.io.gfile, event_pb2, path) if event.HasField("summary")]
        for event in events:
            event.wall_time = 0
        return [event.SerializeToString() for event in events]

    written = records_of(tmp_path / "tf")
    assert len(written) == 2
    assert written == records_of(tmp_path / "own")


def test_pngs_written_by_tensorflow_in_older_logs_decode_without_it():
    """Logs written before this project encoded its own PNGs hold TensorFlow's (every row filter)."""
    from tb_featviz import imaging

    rng = np.random.default_rng(2)
    for image in (rng.integers(0, 256, (12, 9, 3)).astype(np.uint8),
                  (np.add.outer(np.arange(16), np.arange(16)) * 5 % 256).astype(np.uint8)[..., None],
                  rng.integers(0, 256, (6, 6, 4)).astype(np.uint8)):
        np.testing.assert_array_equal(imaging.decode_png(tf.io.encode_png(image).numpy()), image)
        np.testing.assert_array_equal(tf.io.decode_png(imaging.encode_png(image)).numpy(), image)
