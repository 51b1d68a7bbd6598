"""The schedule in training steps: log points inside the first epoch, then per epoch; records at
global steps with their epoch as a fraction; resumed runs continue without gap or duplicate."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from tb_featviz import ConfigurationError, FeatVizCallback
from tb_featviz.records import read_records
from tb_featviz.schedule import Schedule, log_steps
from tests.conftest import image_data, small_cnn


def positions(log_dir, layer="conv1", method="weights"):
    """[(global step, epoch)] of a series, in step order."""
    series = read_records(str(log_dir))[(layer, method)]
    return [(step, series[step][0]["position"]["epoch"]) for step in sorted(series)]


def compiled(seed=0):
    keras.utils.set_random_seed(seed)
    model = small_cnn(size=16)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    return model


def weights_only(log_dir, **kwargs):
    return FeatVizCallback(str(log_dir), ["conv1"], methods=["weights"], verbose=0, **kwargs)


# -- the schedule alone ----------------------------------------------------------------------

def test_log_points_are_1_2_5_per_decade_below_the_limit():
    assert list(log_steps(1000)) == [10, 20, 50, 100, 200, 500]
    assert list(log_steps(10)) == []
    assert list(log_steps(11)) == [10]


def test_due_counts_every_step_crossed_by_the_batches_just_run():
    log = Schedule.checked()
    assert log.due_in_epoch(9, 10, 100, 0) and not log.due_in_epoch(10, 11, 100, 0)
    assert log.due_in_epoch(8, 12, 100, 0)  # steps_per_execution=4 ran 9..12: 10 lies within
    assert not log.due_in_epoch(49, 50, 40, 1)  # 50 is past the end of epoch 1 (40 steps)
    assert log.due_in_epoch(49, 50, None, 0) and not log.due_in_epoch(49, 50, None, 1)  # unknown length
    assert Schedule.checked(freq=2).due_in_epoch(49, 50, 40, 1)  # 50 < 2 epochs of 40
    assert not Schedule.checked(schedule="epoch").due_in_epoch(9, 10, 100, 0)
    explicit = Schedule.checked(schedule=[5, 7, 300])
    assert explicit.due_in_epoch(4, 5, 10, 0) and explicit.due_in_epoch(250, 300, 10, 25)
    assert not explicit.due_in_epoch(7, 299, 10, 3) and not explicit.due_at_epoch_end(1)
    assert [Schedule.checked(freq=3).due_at_epoch_end(e) for e in (1, 2, 3, 6)] == [False, False, True, True]


def test_the_schedule_says_which_steps_it_will_write():
    log = Schedule.checked()
    assert log.describe(469) == ("the start (step 0), steps 10, 20, 50, 100, 200 (the log points below step 469: "
                                 "one epoch), then every epoch")
    assert log.describe(3) == "the start (step 0), then every epoch (one epoch: 3 steps, too few for the log points 10, 20, 50, ...)"
    assert log.describe(None).startswith("the start (step 0), steps 10, 20, 50, 100, ... until one epoch ends")
    assert log.describe(100, first=200) == ("the start (step 200), then every epoch (the log points, below step 100, "
                                            "are behind this fit)")
    assert Schedule.checked(freq=2).describe(100, first=30) == ("the start (step 30), steps 50, 100 (the log points "
                                                                "below step 200: 2 epochs), then every 2 epochs")
    assert Schedule.checked(freq=2, schedule="epoch").describe(10) == "the start (step 0), then every 2 epochs"
    explicit = Schedule.checked(schedule=[0, 15, 150, 1000])
    assert explicit.describe(100, 0, 400) == ("the start (step 0), steps 15, 150, 1000 and the end of training "
                                              "(1 listed step after this fit's last, 400)")


@pytest.mark.parametrize("kwargs,message", [
    ({"freq": 0}, "freq counts epochs"),
    ({"freq": "batch"}, "freq counts epochs"),
    ({"freq": 1.5}, "freq counts epochs"),
    ({"schedule": "linear"}, "schedule must be 'log', 'epoch' or a list"),
    ({"schedule": []}, "schedule lists no steps"),
    ({"schedule": [10, -1]}, "global steps"),
    ({"schedule": [1.5]}, "global steps"),
    ({"schedule": 5}, "schedule must be"),
    ({"schedule": np.zeros((2, 2), int)}, "flat list"),
    ({"schedule": [10, 20], "freq": 2}, "explicit schedule lists every global step"),
])
def test_bad_schedules_are_refused_at_construction(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        FeatVizCallback("runs/never", ["conv1"], **kwargs)


def test_log_dir_is_keras_s_name_and_logdir_still_works_with_a_warning(tmp_path):
    assert FeatVizCallback(log_dir=str(tmp_path), layers=["conv1"]).log_dir == str(tmp_path)
    with pytest.warns(DeprecationWarning, match="use log_dir"):
        old = FeatVizCallback(logdir=str(tmp_path), layers=["conv1"])
    assert old.log_dir == old.logdir == str(tmp_path)
    with pytest.raises(ConfigurationError, match="give log_dir only"):
        FeatVizCallback(str(tmp_path), ["conv1"], logdir=str(tmp_path))
    with pytest.warns(DeprecationWarning, match="use freq"):
        assert FeatVizCallback(str(tmp_path), ["conv1"], every_n_epochs=3).schedule.freq == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FeatVizCallback(str(tmp_path), ["conv1"], freq=3)
    with pytest.raises(ConfigurationError, match="layers is required"):
        FeatVizCallback(str(tmp_path))


# -- in model.fit ----------------------------------------------------------------------------

def test_the_log_schedule_writes_inside_the_first_epoch_at_global_steps(tmp_path, capsys):
    x, y = image_data(48, size=16)
    model = compiled()
    callback = FeatVizCallback(str(tmp_path), ["conv1"], methods=["weights", "am"], verbose=1,
                               am=__import__("tb_featviz").AMOptions(steps=2))
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[callback])  # 24 batches an epoch
    expected = [(0, 0.0), (10, 10 / 24), (20, 20 / 24), (24, 1.0), (48, 2.0)]
    assert positions(tmp_path) == expected
    assert positions(tmp_path, method="am") == expected
    series = read_records(str(tmp_path))[("conv1", "weights")]
    assert series[20][0]["position"] == {"global_step": 20, "epoch": 20 / 24, "epochs_completed": 0, "batch": 20,
                                         "steps_per_epoch": 24, "moment": "batch"}
    assert series[0][0]["position"]["moment"] == "start" and series[48][0]["position"]["moment"] == "epoch_end"
    # The filters really differ between the records inside the first epoch: they show training.
    from tb_featviz.records import decode_images
    frames = [decode_images(series[step][1]).astype(int) for step in (0, 10, 20)]
    assert np.abs(frames[0] - frames[1]).max() > 0 and np.abs(frames[1] - frames[2]).max() > 0
    out = capsys.readouterr().out
    assert "schedule: the start (step 0), steps 10, 20 (the log points below step 24: one epoch), then every epoch" in out
    assert "featviz: step 10 (Epoch 1, batch 10/24 = epoch 0.42): 2 visualizations" in out
    assert [step for step, _ in callback.timings] == [0, 10, 20, 24, 48]


@pytest.mark.parametrize("keras_verbose", [1, "auto"])
def test_a_line_inside_an_epoch_starts_under_keras_progress_bar(tmp_path, capsys, keras_verbose):
    """fit(verbose="auto") draws Keras's progress bar as 1 does: the line must not be glued to it."""
    x, y = image_data(48, size=16)
    callback = FeatVizCallback(str(tmp_path), ["conv1"], methods=["weights"], verbose=1)
    compiled().fit(x, y, batch_size=2, epochs=1, verbose=keras_verbose, callbacks=[callback])
    out = capsys.readouterr().out
    assert "featviz: step 10 (Epoch 1, batch 10/24" in out
    assert "\nfeatviz: step 10 " in out and "\nfeatviz: step 20 " in out  # each on a line of its own


def test_steps_per_epoch_and_steps_per_execution_and_an_explicit_schedule(tmp_path):
    x, y = image_data(48, size=16)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(2).repeat()
    model = compiled()
    model.fit(data, steps_per_epoch=30, epochs=2, verbose=0, callbacks=[weights_only(tmp_path / "a")])
    assert positions(tmp_path / "a") == [(0, 0.0), (10, 1 / 3), (20, 2 / 3), (30, 1.0), (60, 2.0)]
    # Four batches per call: the log points 10 and 20 are written at the batch ends that pass them.
    model = compiled()
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", steps_per_execution=4)
    model.fit(x, y, batch_size=1, epochs=1, verbose=0, callbacks=[weights_only(tmp_path / "b")])
    assert positions(tmp_path / "b") == [(0, 0.0), (12, 0.25), (20, 20 / 48), (48, 1.0)]
    model = compiled()
    model.fit(x, y, batch_size=2, epochs=3, verbose=0, callbacks=[weights_only(tmp_path / "c", schedule=[5, 30, 1000])])
    assert positions(tmp_path / "c") == [(0, 0.0), (5, 5 / 24), (30, 1.25), (72, 3.0)]  # and the end


def test_a_dataset_of_unknown_length_records_its_first_epoch_without_inventing_a_fraction(tmp_path):
    x, y = image_data(48, size=16)
    data = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: True).batch(2)
    assert data.cardinality() == tf.data.UNKNOWN_CARDINALITY
    model = compiled()
    model.fit(data, epochs=2, verbose=0, callbacks=[weights_only(tmp_path)])
    series = read_records(str(tmp_path))[("conv1", "weights")]
    # Steps count batches (Keras's optimizer counts one more at the end of such an epoch).
    assert sorted(series) == [0, 10, 20, 24, 48]
    first = series[10][0]["position"]
    assert first["epoch"] is None and first["epochs_completed"] == 0 and first["batch"] == 10
    assert first["steps_per_epoch"] is None
    assert series[48][0]["position"]["steps_per_epoch"] == 24  # learnt from the first epoch
    assert [series[s][0]["position"]["epoch"] for s in (0, 24, 48)] == [0.0, 1.0, 2.0]


def test_max_overhead_also_thins_the_points_inside_an_epoch(tmp_path):
    x, y = image_data(48, size=16)
    model = compiled()
    callback = weights_only(tmp_path, max_overhead=1e-9)
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[callback])
    assert positions(tmp_path) == [(0, 0.0), (48, 2.0)]
    assert callback.skipped_steps == [10, 20, 24]


def test_a_second_fit_continues_the_global_steps_without_a_duplicate(tmp_path, capsys):
    x, y = image_data(48, size=16)
    model = compiled()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[weights_only(tmp_path)])
    second = FeatVizCallback(str(tmp_path), ["conv1"], methods=["weights"], verbose=1)
    model.fit(x, y, batch_size=16, epochs=4, initial_epoch=2, verbose=0, callbacks=[second])
    assert positions(tmp_path) == [(0, 0.0), (3, 1.0), (6, 2.0), (9, 3.0), (12, 4.0)]
    assert [step for step, _ in second.timings] == [6, 9, 12]  # step 6 was looked at, not written again
    steps = [event_step for path in _event_files(tmp_path) for event_step in _steps_in(path)]
    assert sorted(steps) == [0, 3, 6, 9, 12]
    out = capsys.readouterr().out
    assert "featviz: step 6 (resumed fit, after epoch 2): 0 visualizations in" in out
    assert "; 1 already in" in out and "from the earlier fit, not written again" in out


class _Interrupt(keras.callbacks.Callback):
    """Stops training with an error in the middle of an epoch, as a killed job would."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("interrupted")


def test_backup_and_restore_resumes_the_schedule_without_gap_or_duplicate(tmp_path):
    x, y = image_data(48, size=16)
    backup = str(tmp_path / "backup")
    log_dir = tmp_path / "log"

    def run(callbacks):
        model = compiled()
        model.fit(x, y, batch_size=2, epochs=3, verbose=0,
                  callbacks=[keras.callbacks.BackupAndRestore(backup), weights_only(log_dir)] + callbacks)

    with pytest.raises(RuntimeError, match="interrupted"):
        run([_Interrupt(epoch=1, batch=5)])  # during epoch 2, after epoch 1 was saved (step 24)
    assert [s for s, _ in positions(log_dir)] == [0, 10, 20, 24]
    run([])  # a new process: restores the weights, the optimizer and the epoch
    assert positions(log_dir) == [(0, 0.0), (10, 10 / 24), (20, 20 / 24), (24, 1.0), (48, 2.0), (72, 3.0)]
    steps = [event_step for path in _event_files(log_dir) for event_step in _steps_in(path)]
    assert sorted(steps) == sorted(set(steps))  # no step written twice


def _event_files(log_dir):
    return sorted(tf.io.gfile.glob(str(log_dir / "events.out.tfevents.*")))


def _steps_in(path):
    from tensorboard.compat.proto import event_pb2

    for raw in tf.compat.v1.io.tf_record_iterator(path):
        event = event_pb2.Event.FromString(raw)
        if event.summary.value:
            yield event.step


def test_epochs_are_written_as_the_dashboard_writes_them():
    from tb_featviz.schedule import format_epoch

    assert [format_epoch(e) for e in (0.0, 3.0, 10 / 469, 0.4264, 2.5, 2.256)] == ["0", "3", "0.021", "0.43", "2.5", "2.26"]


def test_a_scheduled_step_at_an_epochs_end_is_written_at_the_end_after_validation(tmp_path):
    """freq=2 puts the log point 50 on the end of epoch 1 (50 steps): an epoch end like any other."""
    x, y = image_data(100, size=16)
    model = compiled()
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, validation_data=(x[:4], y[:4]),
              callbacks=[weights_only(tmp_path, freq=2)])
    series = read_records(str(tmp_path))[("conv1", "weights")]
    assert sorted(series) == [0, 10, 20, 50, 100]
    assert series[50][0]["position"] == {"global_step": 50, "epoch": 1.0, "epochs_completed": 1, "batch": 0,
                                         "steps_per_epoch": 50, "moment": "epoch_end"}


class _StopAt(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) >= self.step:
            self.model.stop_training = True


def test_training_stopped_inside_an_epoch_ends_at_its_fraction(tmp_path, capsys):
    x, y = image_data(48, size=16)
    model = compiled()
    callback = FeatVizCallback(str(tmp_path), ["conv1"], methods=["weights"], verbose=1)
    model.fit(x, y, batch_size=2, epochs=3, verbose=0, callbacks=[callback, _StopAt(30)])
    series = read_records(str(tmp_path))[("conv1", "weights")]
    assert sorted(series) == [0, 10, 20, 24, 30]
    assert series[30][0]["position"] == {"global_step": 30, "epoch": 1.25, "epochs_completed": 1, "batch": 6,
                                         "steps_per_epoch": 24, "moment": "end"}
    assert "featviz: step 30 (end of training, Epoch 2, batch 6/24 = epoch 1.25)" in capsys.readouterr().out


def test_a_second_fit_from_epoch_0_restarts_keras_epochs_and_the_steps_go_on(tmp_path):
    """Keras numbers a second fit's epochs from 0 again (its own epoch scalars too); the steps go on."""
    x, y = image_data(48, size=16)
    model = compiled()
    for _ in range(2):
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[weights_only(tmp_path)])
    assert positions(tmp_path) == [(0, 0.0), (3, 1.0), (6, 2.0), (9, 1.0), (12, 2.0)]


def test_the_step_clock_counts_batches_where_the_optimizer_does_not(tmp_path):
    """With gradient accumulation the optimizer's count advances every 4th batch; the schedule
    must not fire at every batch nor write two records at one step (from the bad-input attack)."""
    x, y = image_data(80, size=16)
    keras.utils.set_random_seed(0)
    model = small_cnn(size=16)
    model.compile(keras.optimizers.SGD(0.01, gradient_accumulation_steps=4), "sparse_categorical_crossentropy")
    callback = weights_only(tmp_path)
    model.fit(x, y, batch_size=1, epochs=1, verbose=0, callbacks=[callback])
    assert positions(tmp_path) == [(0, 0.0), (10, 0.125), (20, 0.25), (50, 0.625), (80, 1.0)]
    assert [step for step, _ in callback.timings] == [0, 10, 20, 50, 80]


def test_a_resumed_fit_passes_over_unreadable_files_in_the_log_and_never_blocks(tmp_path):
    import os

    x, y = image_data(48, size=16)
    model = compiled()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[weights_only(tmp_path)])
    os.mkfifo(tmp_path / "events.out.tfevents.0.fifo")  # reading a pipe would wait forever
    os.mkdir(tmp_path / "events.out.tfevents.1.folder")
    (tmp_path / "events.out.tfevents.2.junk").write_bytes(b"\x00" * 64)
    model.fit(x, y, batch_size=16, epochs=2, initial_epoch=1, verbose=0, callbacks=[weights_only(tmp_path)])
    steps = [s for path in _event_files(tmp_path) if os.path.isfile(path) and not path.endswith(("fifo", "junk"))
             for s in _steps_in(path)]
    assert sorted(steps) == [0, 3, 6]  # step 3 (the resumed start) found in the readable file


def test_hooks_after_the_end_and_odd_batch_arguments_write_nothing_and_raise_nothing(tmp_path):
    x, y = image_data(48, size=16)
    model = compiled()
    callback = weights_only(tmp_path)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[callback])
    files = _event_files(tmp_path)
    callback.on_train_batch_end(None)
    callback.on_epoch_end(5)
    callback.on_train_end()
    assert _event_files(tmp_path) == files and positions(tmp_path) == [(0, 0.0), (3, 1.0)]


def test_an_epoch_of_unknown_length_cut_short_states_no_length(tmp_path):
    """stop_training inside the first epoch of a dataset of unknown length: its batches are not
    that dataset's epoch length, so no record claims it."""
    x, y = image_data(48, size=16)
    data = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: True).batch(2)
    model = compiled()
    model.fit(data, epochs=3, verbose=0, callbacks=[weights_only(tmp_path), _StopAt(15)])
    series = read_records(str(tmp_path))[("conv1", "weights")]
    assert sorted(series) == [0, 10, 15]
    end = series[15][0]["position"]
    assert end["epoch"] is None and end["steps_per_epoch"] is None and (end["epochs_completed"], end["batch"]) == (0, 15)


def test_a_recompiled_model_resumed_with_initial_epoch_continues_after_the_logs_steps(tmp_path, caplog):
    """compile() again makes a fresh optimizer (count 0): steps 0, 3, 6 would be written over."""
    import logging

    x, y = image_data(48, size=16)
    model = compiled()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[weights_only(tmp_path)])
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    with caplog.at_level(logging.WARNING, logger="tb_featviz"):
        model.fit(x, y, batch_size=16, epochs=4, initial_epoch=2, verbose=0, callbacks=[weights_only(tmp_path)])
    assert positions(tmp_path) == [(0, 0.0), (3, 1.0), (6, 2.0), (9, 3.0), (12, 4.0)]
    assert any("starts at 0 but" in r.getMessage() and "continue from 6" in r.getMessage() for r in caplog.records)
