"""Logdirs on a non-local TensorFlow file system: TensorFlow's in-memory `ram://` runs here and
goes through the same tf.io.gfile layer as gs:// or hdfs://."""

import keras

from tb_featviz import AMOptions, FeatVizCallback
from tb_featviz.records import read_records
from tests.conftest import image_data, small_cnn


def test_callback_writes_to_a_ram_filesystem_logdir():
    logdir = "ram://featviz-remote-test/run1"
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, y = image_data(32)
    model.compile("adam", "sparse_categorical_crossentropy")
    callback = FeatVizCallback(logdir, ["conv1"], probe_images=x[:8], am=AMOptions(steps=2), top_k=2, verbose=False)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])
    records = read_records(logdir)
    assert set(records) == {("conv1", "am"), ("conv1", "deconv"), ("conv1", "weights"), ("conv1", "similarity")}
    assert all(sorted(steps) == [0, 2, 4] for steps in records.values())  # 2 steps an epoch


def test_a_gs_log_dir_is_accepted_when_given():
    """Only schemes no file system answers to are refused when the callback is made (issue 23):
    gs:// is TensorFlow's, and nothing reaches the bucket before fit."""
    callback = FeatVizCallback("gs://featviz-no-such-bucket/run1", ["conv1"], methods=["weights"], verbose=False)
    assert callback.log_dir == "gs://featviz-no-such-bucket/run1"
