"""Real logdirs for the plugin tests: `model.fit` with FeatVizCallback, written once per session."""

from __future__ import annotations

import os

import keras

from tb_featviz import AMOptions, FeatVizCallback, OcclusionOptions
from tests.conftest import image_data, small_cnn

EPOCHS = 30  # more than TensorBoard's default 10 samples per tag: every one must be served
STEPS_PER_EPOCH = 3  # 48 training images (64, a quarter held out) in batches of 16
ALL_STEPS = [STEPS_PER_EPOCH * epoch for epoch in range(EPOCHS + 1)]  # step 0, then each epoch's end
# The run whose first epoch is recorded inside (the log schedule): 48 batches of 1 per epoch.
FIRST_EPOCH_RUN = "first_epoch"
FIRST_EPOCH_STEPS = [0, 10, 20, 48, 96, 144]
# Beside it, a run of 16 batches of 3 per epoch: its step 10 is epoch 0.63, first_epoch's 0.21.
OTHER_BATCHES_RUN = "first_epoch_b3"
OTHER_BATCHES_STEPS = [0, 10, 16, 32, 48]
VERSION1_RUN = "version1"
UPGRADED_RUN = "upgraded"  # version 1 records, continued by this version (steps 200, 300)
RESTARTED_RUN = "restarted"  # two fits from epoch 0: the epochs go back, the steps go on
UNKNOWN_LENGTH_RUN = "unknown_length"


CLASS_NAMES = ("top left", "top right", "bottom left", "bottom right", "no blob")


def write_fit_run(logdir: str, *, epochs: int = EPOCHS, seed: int = 0, probes: bool = True,
                  learning_rate: float = 3e-3, class_names=None, batch_size: int = 16) -> None:
    """Trains the small CNN for `epochs` with the callback on conv1 (all 8) and conv2 (4 channels),
    and Keras's own TensorBoard callback in the same logdir (loss and accuracy curves). With
    `class_names`, also the logits layer and occlusion (the probes' labels given)."""
    keras.utils.set_random_seed(seed)
    model = small_cnn()
    x, y = image_data(64, seed=seed)
    layers = {"conv1": "all", "conv2": [0, 3, 5, 7]}
    if class_names:
        layers["logits"] = "all"
    callback = FeatVizCallback(
        logdir,
        layers,
        class_names=class_names,
        probe_images=x[:16] if probes else None,
        probe_labels=y[:16] if probes and class_names else None,
        occlusion=OcclusionOptions(images=4),
        am=AMOptions(steps=4),
        top_k=4,
        verbose=False,
    )
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    keras_board = keras.callbacks.TensorBoard(logdir, write_graph=False, profile_batch=0)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, validation_split=0.25,
              callbacks=[callback, keras_board])




HOSTILE_RUN = '<img src=x onerror="window.pwned=1">run'
HOSTILE_LAYER = "<script>window.pwned=2</script>conv ü/\"'&"


def write_hostile_and_future_runs(root: str) -> None:
    """Names that must be escaped in the page, and a record of a future format version."""
    import json

    import numpy as np
    import tensorflow as tf
    from tensorboard.compat.proto import summary_pb2

    from tb_featviz import metadata, summary

    rng = np.random.default_rng(0)
    images = [[rng.integers(0, 255, (8, 8, 1), dtype=np.uint8)] for _ in range(3)]
    writer = tf.summary.create_file_writer(os.path.join(root, HOSTILE_RUN))
    with writer.as_default():
        for step in range(2):
            summary.write_record(
                HOSTILE_LAYER, "am", [0, 1, 2], images,
                {"activation": [1.0, 2.0, 3.0], "dead": [False, True, False]}, step=step,
            )
    writer.close()

    writer = tf.summary.create_file_writer(os.path.join(root, "future"))
    with writer.as_default():
        summary.write_record("conv1", "weights", [0], [images[0]], {"norm": [1.0]}, step=0)
        future = metadata.create_summary_metadata("conv9", "am")
        future.plugin_data.content = json.dumps(
            {"version": metadata.FORMAT_VERSION + 1, "layer": "conv9", "method": "am"}
        ).encode()
        tf.summary.write("conv9/am", tf.constant([b"{}"]), step=0, metadata=future)
    writer.close()


CRAFTED_RUN = "crafted"
RUN_NAMES = ("baseline", "no_probes", "fast_lr", "future", HOSTILE_RUN, CRAFTED_RUN, FIRST_EPOCH_RUN, OTHER_BATCHES_RUN,
             VERSION1_RUN, UPGRADED_RUN, RESTARTED_RUN, UNKNOWN_LENGTH_RUN)


def write_version1_run(logdir: str, epochs: int = 4, continued_at: tuple = ()) -> None:
    """Records as tb-featviz 0.1 wrote them (format version 1): step = epochs completed, no
    position in the header. Readers must still serve them, on the same epoch axis. With
    `continued_at` (global steps), this version's records follow, one epoch apart, as when a
    newer tb-featviz resumes an old log."""
    import json

    import numpy as np

    from tb_featviz import metadata, summary
    from tb_featviz.event_writer import EventFileWriter

    rng = np.random.default_rng(2)

    def record(epoch):
        images = [[rng.integers(0, 255, (8, 8, 1), dtype=np.uint8)] for _ in range(2)]
        return summary.make_record("conv1", "am", [0, 1], images, {"activation": [1.0 + epoch, 2.0], "dead": [False] * 2})

    writer = EventFileWriter(logdir)
    for epoch in range(epochs):
        header = {**json.loads(record(epoch).blobs[0]), "version": 1}
        event = summary.Record("conv1", "am", (json.dumps(header).encode(),) + record(epoch).blobs[1:]).event(epoch)
        event.summary.value[0].metadata.plugin_data.content = json.dumps(
            {"version": 1, "layer": "conv1", "method": "am"}).encode()
        writer.write(event)
    for epoch, step in enumerate(continued_at, start=epochs):
        position = metadata.make_position(step, epoch=float(epoch), epochs_completed=epoch, batch=0,
                                          steps_per_epoch=100, moment="epoch_end")
        writer.write(record(epoch).at(position).event(step))
    writer.close()
    assert metadata.FORMAT_VERSION > 1  # this run stands for the older version


def write_restarted_run(logdir: str) -> None:
    """`fit(epochs=2)` twice on one model: Keras numbers the second fit's epochs from 0 again,
    the global steps go on (0, 3, 6, then 9 at epoch 1 and 12 at epoch 2)."""
    keras.utils.set_random_seed(4)
    model = small_cnn(size=16)
    x, y = image_data(48, size=16, seed=4)
    model.compile("adam", "sparse_categorical_crossentropy")
    for _ in range(2):
        model.fit(x, y, batch_size=16, epochs=2, verbose=0,
                  callbacks=[FeatVizCallback(logdir, ["conv1"], methods=["am"], am=AMOptions(steps=2), verbose=0)])


def write_unknown_length_run(logdir: str) -> None:
    """A fit over a dataset of unknown length (a filter): the first epoch's records cannot say
    their epoch when written; the reader gives them the length a later record states."""
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    model = small_cnn(size=16)
    x, y = image_data(48, size=16, seed=3)
    data = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: True).batch(2)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data, epochs=2, verbose=0, callbacks=[FeatVizCallback(logdir, ["conv1"], methods=["weights"], verbose=0)])


def write_crafted_run(root: str) -> None:
    """Records that follow the format's outline but contradict themselves: every route must
    answer them with a message (404), never a 500, and the readable rest must still be served.

    * ``conv1/deconv``: the tag's plugin content says deconv (2 images per channel) but the
      header inside says am (1 image per channel);
    * ``conv3/am``: a rank-0 string tensor instead of the rank-1 blob sequence;
    * ``conv4/weights``: a readable record, so the run is listed;
    * from the bad-input attack: plugin content nested 100,000 deep (``deep/am``), a tensor
      declaring 3,000,000 elements (``huge/am``), an int64 tensor whose value would be read as
      a size (``int64/am``), a header with bool channels (``bools/am``) and one with an
      infinite number (``infinite/am``);
    * ``junk/occlusion``: junk layout and numbers, CSS in its class colours.
    """
    import json
    import numpy as np
    from tensorboard.compat.proto import tensor_pb2, tensor_shape_pb2, types_pb2

    from tb_featviz import summary
    from tb_featviz.event_writer import EventFileWriter

    rng = np.random.default_rng(1)
    images = [[rng.integers(0, 255, (8, 8, 1), dtype=np.uint8)] for _ in range(3)]
    am = summary.make_record("conv1", "am", [0, 1, 2], images, {"activation": [1.0, 2.0, 3.0]})
    lying = summary.Record("conv1", "deconv", am.blobs)
    scalar = summary.Record("conv3", "am", ()).event(0)
    value = scalar.summary.value[0]
    value.tensor.CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING, tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        string_val=[am.blobs[0]]))
    good = summary.make_record("conv4", "weights", [0], [images[0]], {"norm": [1.0]})
    deep = summary.Record("deep", "am", am.blobs).event(0)
    deep.summary.value[0].metadata.plugin_data.content = b"[" * 100_000 + b"]" * 100_000
    huge = summary.Record("huge", "am", am.blobs[:2]).event(0)
    huge.summary.value[0].tensor.tensor_shape.dim[0].size = 3_000_000
    int64 = summary.Record("int64", "am", ()).event(0)
    int64.summary.value[0].tensor.CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_INT64, int64_val=[1_000_000_000],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)])))
    header = json.loads(am.blobs[0])
    bools = summary.Record("bools", "am", (json.dumps({**header, "layer": "bools", "channels": [True, False, True]})
                                           .encode(),) + am.blobs[1:])
    infinite = summary.Record("infinite", "am", (json.dumps({**header, "layer": "infinite",
                                                             "numbers": {"activation": [1.0, 1e999, 3.0]}}).encode(),)
                              + am.blobs[1:])
    # An occlusion record whose layout and numbers are junk, with CSS in its colours: the page
    # must draw what it can, as text, and never put record content into a style.
    junk = summary.make_record(
        "junk", "occlusion", [0, 1, 2], [[image[0], image[0]] for image in images],
        {"score": [0.5, 0.2, 0.9], "classes": [5, "x", [[1, None]]], "label": [0, 1, "2"]},
        layout={"grid": 5, "colormap": "viridis", "size": None, "boxes": "none",
                "class_colours": {"1": ["0,0,0); background-image: url(http://127.0.0.1:1/leak); x: (", 0, 0]}},
        settings={"layer_output": "false", "class_names": "not a list"},
    )
    writer = EventFileWriter(os.path.join(root, CRAFTED_RUN))
    writer.write(junk.event(0))
    for step in range(2):
        writer.write(lying.event(step))
        scalar.step = step
        writer.write(scalar)
        writer.write(good.event(step))
    for event in (deep, huge, int64, bools.event(0), infinite.event(0)):
        writer.write(event)
    writer.close()


def write_all(root: str) -> None:
    write_fit_run(os.path.join(root, "baseline"))
    write_fit_run(os.path.join(root, "no_probes"), seed=1, probes=False)
    write_fit_run(os.path.join(root, "fast_lr"), seed=2, learning_rate=1e-2, class_names=CLASS_NAMES)
    write_fit_run(os.path.join(root, FIRST_EPOCH_RUN), seed=3, epochs=3, batch_size=1)
    write_fit_run(os.path.join(root, OTHER_BATCHES_RUN), seed=4, epochs=3, batch_size=3)
    write_hostile_and_future_runs(root)
    write_crafted_run(root)
    write_version1_run(os.path.join(root, VERSION1_RUN))
    write_version1_run(os.path.join(root, UPGRADED_RUN), epochs=3, continued_at=(200, 300))
    write_restarted_run(os.path.join(root, RESTARTED_RUN))
    write_unknown_length_run(os.path.join(root, UNKNOWN_LENGTH_RUN))


if __name__ == "__main__":
    import sys

    write_all(sys.argv[1])


ONE_BAD_RUN = "one_bad_each"
DEEP_STEP = 3  # the step of conv1/am whose header nests 600 deep
OUT_OF_RANGE_STEPS = (-5, 2**60)  # steps of conv2/am no route can ask for


def write_one_bad_record_each(root: str) -> None:
    """Good records beside one bad record of each kind (issue 23), without TensorFlow:

    * ``conv1/am`` at steps 0, 1, 2, and at DEEP_STEP a header whose numbers nest 600 deep
      (valid JSON, deeper than any record of the format);
    * ``conv2/am`` at steps 0 and 1, and at OUT_OF_RANGE_STEPS;
    * ``conv3/weights`` at step 0 with a NaN wall time;
    * Keras's curves beside it: ``train`` with epoch_loss and epoch_accuracy, ``validation`` with
      a good epoch_accuracy and an epoch_loss that is a string tensor.
    """
    import json

    import numpy as np
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2

    from tb_featviz import summary
    from tb_featviz.event_writer import EventFileWriter

    rng = np.random.default_rng(5)

    def record(layer, method="am"):
        images = [[rng.integers(0, 255, (8, 8, 1), dtype=np.uint8)] for _ in range(2)]
        numbers = {"activation": [1.0, 2.0]} if method == "am" else {"norm": [1.0, 2.0]}
        return summary.make_record(layer, method, [0, 1], images, numbers)

    good = record("conv1")
    header, nested = json.loads(good.blobs[0]), 0.5
    for _ in range(600):
        nested = [nested]
    header["numbers"]["activation"] = [nested, 2.0]
    deep = summary.Record("conv1", "am", (json.dumps(header).encode(),) + good.blobs[1:])

    writer = EventFileWriter(os.path.join(root, ONE_BAD_RUN))
    for step in range(DEEP_STEP):
        writer.write(record("conv1").event(step, wall_time=1000.0 + step))
    writer.write(deep.event(DEEP_STEP, wall_time=1000.0 + DEEP_STEP))
    for step in (OUT_OF_RANGE_STEPS[0], 0, 1, OUT_OF_RANGE_STEPS[1]):
        writer.write(record("conv2").event(step, wall_time=1010.0))
    writer.write(record("conv3", "weights").event(0, wall_time=float("nan")))
    writer.close()

    def scalar(tag, step, value):
        tensor = (tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[value]) if isinstance(value, bytes)
                  else tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[value]))
        meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
                                           data_class=summary_pb2.DATA_CLASS_SCALAR)
        value = summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor)
        return event_pb2.Event(wall_time=2000.0 + step, step=step, summary=summary_pb2.Summary(value=[value]))

    for split in ("train", "validation"):
        writer = EventFileWriter(os.path.join(root, ONE_BAD_RUN, split))
        for step in range(3):
            writer.write(scalar("epoch_loss", step, b"not a number" if split == "validation" else 1.0 / (step + 1)))
            writer.write(scalar("epoch_accuracy", step, 0.5 + step / 10))
        writer.close()
