"""Rendering off the training path on a keras.applications network, not only the small CNN:
MobileNetV2 (depthwise convs, BatchNorm, ReLU6, residual adds) rebuilt from its config in the
render process draws every method's records byte for byte as inline does, and training is the
same."""

import keras
import numpy as np
import pytest

from tb_featviz import AMOptions, FeatVizCallback
from tb_featviz.offline.process import RenderOptions
from tb_featviz.records import read_records
from tests.conftest import image_data

pytestmark = pytest.mark.slow  # two fits of a small MobileNetV2 and a render process

LAYERS = ["Conv1", "block_2_depthwise", "block_5_project", "predictions"]


def train(log_dir, render):
    keras.utils.set_random_seed(11)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=4)
    x, y = image_data(32, size=32)
    probes, labels = image_data(6, size=32, seed=2)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    callback = FeatVizCallback(str(log_dir), LAYERS, probe_images=probes, probe_labels=labels % 4,
                               am=AMOptions(steps=4), top_k=2, max_channels=4, schedule=[1],
                               render=render, verbose=0)
    model.fit(x, y % 4, epochs=1, batch_size=16, verbose=0, callbacks=[callback])
    return model, read_records(str(log_dir))


def test_mobilenet_v2_rendered_in_a_process_equals_inline(tmp_path):
    inline_model, expected = train(tmp_path / "inline", "inline")
    process_model, got = train(tmp_path / "process", RenderOptions("process", timeout=None))
    methods = {method for _, method in expected}
    assert {"am", "deconv", "weights", "occlusion", "saliency", "gradcam", "similarity"} <= methods
    assert set(got) == set(expected)
    for key, series in expected.items():
        assert sorted(got[key]) == sorted(series) == [0, 1, 2], key  # the start, step 1, the end
        for step, (header, pngs) in series.items():
            assert got[key][step][0] == header, (key, step)
            assert got[key][step][1] == pngs, (key, step)
    for a, b in zip(inline_model.weights, process_model.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
