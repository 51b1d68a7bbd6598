"""Rendering off the training path draws the same pictures, on whichever backend runs: for the
same weights, records drawn by the render process, by `tb-featviz follow` and by `replay` equal
the callback's inline ones (the same PNG bytes; the header's position and settings equal), and
training is the same with any of them."""

import copy
import subprocess
import sys

import keras
import numpy as np
import pytest

from tb_featviz import AMOptions, FeatVizCallback
from tb_featviz.offline.process import RenderOptions
from tb_featviz.records import read_records
from tests.conftest import image_data, small_cnn

BACKEND = keras.backend.backend()
pytestmark = pytest.mark.slow  # three small fits and a subprocess each


def train(log_dir, render, epochs=2, **kwargs):
    keras.utils.set_random_seed(5)
    model = small_cnn()
    x, y = image_data(48)
    probes, labels = image_data(8, seed=1)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    callback = FeatVizCallback(str(log_dir), ["conv1", "conv2"], probe_images=probes,
                               probe_labels=labels, am=AMOptions(steps=6), top_k=2, schedule=[1, 3],
                               render=render, verbose=0, **kwargs)
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[callback])
    return model, callback


def same_records(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for key, series in expected.items():
        assert sorted(got[key]) == sorted(series), key
        for step, (header, pngs) in series.items():
            other_header, other_pngs = got[key][step]
            assert other_header == header, (key, step)  # position and settings included
            assert other_pngs == pngs, (key, step)  # byte for byte


@pytest.fixture(scope="module")
def inline(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("inline")
    model, _ = train(log_dir, "inline")
    return model, read_records(str(log_dir))


def test_a_render_process_writes_what_inline_writes(inline, tmp_path):
    model, expected = inline
    trained, callback = train(tmp_path, RenderOptions("process", timeout=None))  # wait: records read next
    assert sorted(expected[("conv2", "am")]) == [0, 1, 3, 6]  # the start, step 1, each epoch's end
    same_records(read_records(str(tmp_path)), expected)
    for a, b in zip(model.weights, trained.weights):  # and training was the same
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert not list((tmp_path / ".featviz" / "snapshots").glob("*.npz"))  # every snapshot drawn and gone


def test_a_sidecar_log_drawn_by_follow_equals_inline(inline, tmp_path):
    _, expected = inline
    train(tmp_path, "sidecar")
    assert read_records(str(tmp_path)) == {}  # training wrote only snapshots
    assert len(list((tmp_path / ".featviz" / "snapshots").glob("*.npz"))) == 4
    follow = subprocess.run([sys.executable, "-m", "tb_featviz.cli", "follow", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert follow.returncode == 0, follow.stderr
    assert follow.stdout.count("rendered step") == 4
    same_records(read_records(str(tmp_path)), expected)


def test_replayed_checkpoints_equal_inline(inline, tmp_path):
    """The same weights, saved by ModelCheckpoint at each epoch's end and replayed, give the
    inline records of those steps (positions: the epoch's end)."""
    _, expected = inline
    keras.utils.set_random_seed(5)
    model = small_cnn()
    x, y = image_data(48)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "ckpt-{epoch:02d}.weights.h5"), save_weights_only=True)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[checkpoint])
    model.save(tmp_path / "model.keras")
    probes, labels = image_data(8, seed=1)
    np.save(tmp_path / "probes.npy", probes)
    np.save(tmp_path / "labels.npy", labels)
    replay = subprocess.run(
        [sys.executable, "-m", "tb_featviz.cli", "replay", str(tmp_path / "ckpt-01.weights.h5"),
         str(tmp_path / "ckpt-02.weights.h5"), "--model", str(tmp_path / "model.keras"), "--logdir",
         str(tmp_path / "replayed"), "--layers", "conv1,conv2", "--probe-images", str(tmp_path / "probes.npy"),
         "--labels", str(tmp_path / "labels.npy"), "--steps-per-epoch", "3", "--preset", "fast", "--steps", "6",
         "--top-k", "2"], capture_output=True, text=True, timeout=600)
    assert replay.returncode == 0, replay.stderr
    got = read_records(str(tmp_path / "replayed"))
    for series in got.values():  # the last checkpoint is an epoch's end; inline called it the end
        series[6][0]["position"]["moment"] = "end"
    expected = {key: {step: series[step] for step in (3, 6)} for key, series in expected.items()}
    # The attributions' sanity check compares with the first step drawn: inline step 0, here step 3
    # (no checkpoint of the untrained model was saved), as their records say.
    assert {header["settings"]["reference"]["step"] for series in got.values() for header, _ in series.values()
            if "reference" in header["settings"]} == {3}
    same_records(without_sanity_check(got), without_sanity_check(expected))


def without_sanity_check(records: dict) -> dict:
    """The records with the attributions' comparison with their first step taken out."""
    records = copy.deepcopy(records)
    for series in records.values():
        for header, _ in series.values():
            if header["settings"].pop("reference", None) is not None:
                header["numbers"].pop("spearman_vs_first")
    return records
