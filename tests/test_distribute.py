"""FeatVizCallback under tf.distribute: MirroredStrategy on 2 logical CPUs and a 2-worker
MultiWorkerMirroredStrategy on 127.0.0.1. Only the chief writes, what it writes equals a
single-process rendering from the same weights, and no worker waits on another."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_featviz
from tb_featviz.records import decode_images, read_records
from tests.conftest import image_data, small_cnn
from tests.tensorboard_server import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def launch(kind, outdir, tf_config=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.distributed_fit", kind, str(outdir)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def single_process_rendering(weights_file):
    """AM and deconv of conv2 from the trained weights, in this (undistributed) process."""
    model = small_cnn(batchnorm=False)
    with np.load(weights_file) as saved:
        model.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])
    x, _ = image_data(64)
    am = tb_featviz.maximize_activation(model, "conv2", [0, 5, 9], steps=4, input_range=(0, 1), preset="fast")
    deconv = tb_featviz.deconvnet(model, "conv2", x[:8], [0, 5, 9], top_k=2)
    return am, deconv


def assert_records_match(logdir, weights_file):
    records = read_records(str(logdir))
    series = records[("conv2", "am")]
    assert [series[step][0]["position"]["epoch"] for step in sorted(series)] == [0, 1, 2]
    am, deconv = single_process_rendering(weights_file)
    header, pngs = series[max(series)]
    np.testing.assert_allclose(header["numbers"]["activation"], am.activation, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(decode_images(pngs), am.tiles())
    header, _ = records[("conv2", "deconv")][max(series)]
    np.testing.assert_allclose(header["numbers"]["top_values"], deconv.values, rtol=1e-4, atol=1e-5)


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    process = launch("mirrored", tmp_path)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
    assert "visualized steps: [0, 4, 8]" in output  # 64 images in batches of 16: 4 steps an epoch
    assert_records_match(tmp_path / "logs", tmp_path / "weights.npz")


def test_multi_worker_only_the_chief_writes_and_nobody_hangs(tmp_path):
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(2):
        outdir = tmp_path / f"worker{index}"
        outdir.mkdir()
        workers.append(launch("multiworker", outdir, {"cluster": cluster, "task": {"type": "worker", "index": index}}))
    outputs = []
    for worker in workers:
        try:
            output, _ = worker.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            pytest.fail("a worker hung")
        outputs.append(output)
        assert worker.returncode == 0, output[-3000:]
    # A custom loop that calls no batch hooks: the steps come from the optimizer's count.
    assert re.search(r"visualized steps: \[0, (\d+), (\d+)\]", outputs[0])
    assert "visualized steps: []" in outputs[1]
    assert not (tmp_path / "worker1" / "logs").exists()  # the non-chief wrote nothing at all
    assert_records_match(tmp_path / "worker0" / "logs", tmp_path / "worker0" / "weights.npz")


def test_is_chief_follows_the_cluster_spec():
    from tb_featviz.distribute import is_chief

    class Resolver:
        def __init__(self, task_type, task_id, cluster):
            self.task_type, self.task_id, self._cluster = task_type, task_id, cluster

        def cluster_spec(self):
            return tf.train.ClusterSpec(self._cluster)

    class Strategy:
        def __init__(self, resolver):
            self.cluster_resolver = resolver

    class Model:
        def __init__(self, resolver):
            self.distribute_strategy = Strategy(resolver)

    workers = {"worker": ["a:1", "b:1"]}
    with_chief = {"chief": ["c:1"], "worker": ["a:1"], "ps": ["p:1"]}
    assert is_chief(keras.Sequential())  # no strategy: a single process writes
    assert is_chief(Model(Resolver("worker", 0, workers)))
    assert not is_chief(Model(Resolver("worker", 1, workers)))
    assert is_chief(Model(Resolver("chief", 0, with_chief)))
    assert not is_chief(Model(Resolver("worker", 0, with_chief)))
    assert not is_chief(Model(Resolver("ps", 0, with_chief)))
