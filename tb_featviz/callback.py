"""FeatVizCallback: watch what a CNN's filters learn as it trains, in TensorBoard."""

from __future__ import annotations

import logging
import os
import time
import warnings
from typing import Callable, Optional, Sequence

import keras
import numpy as np

from tb_featviz import backward, checks, gfile, metadata, summary
from tb_featviz import schedule as schedules
from tb_featviz.am.maximize import AMOptions
from tb_featviz.distribute import is_chief
from tb_featviz.errors import ConfigurationError
from tb_featviz.event_writer import EventFileWriter, WriteFailed
from tb_featviz.methods import REGISTRY, Settings
from tb_featviz.model_access import ensure_built
from tb_featviz.occlude import OcclusionOptions
from tb_featviz.records import steps_since
from tb_featviz.schedule import FreqSpec, ScheduleSpec
from tb_featviz.plan import (
    DEFAULT_MAX_CHANNELS, LayerSpec, build_plans, check_backend, check_methods, name_class_units, normalize_layers,
)

log = logging.getLogger("tb_featviz")


class FeatVizCallback(keras.callbacks.Callback):
    """Writes feature visualizations of chosen layers to TensorBoard as training runs.

    Args:
      log_dir: where to write event files (the run's directory, e.g. "runs/exp1"), as for
        `keras.callbacks.TensorBoard`. (`logdir=` still works, with a deprecation warning.)
      layers: a layer name, a list of names (all channels, at most `max_channels` each), or a
        dict {name: "all" | int | iterable of channel indices}. Nested layers as "outer/inner".
      probe_images: fixed images (as `fit` takes them) for deconv projections, occlusion and the
        dead test (a channel constant on all of them is dead); float images also give the input
        value range when `input_range` is not given (integer images need `input_range`).
      probe_labels: the true class of each probe image (ints, or one-hot rows as `fit` takes
        them); turns on occlusion sensitivity: the model's output layer (added when not in
        `layers`) and every chosen layer, on the first `occlusion.images` probes.
      freq: "epoch" or an int N (epochs, like `histogram_freq`): the per-epoch points are the
        ends of every N-th epoch.
      schedule: when to visualize, in global training steps (TensorBoard's step axis: the
        optimizer's count when fit begins, plus the batches run since). "log" (default): step 0, then 10, 20, 50, 100, 200, 500, ...
        while those come before the end of epoch `freq`, then every `freq` epochs: dense early,
        where features form. "epoch": step 0, then every `freq` epochs. A list of global steps:
        exactly those. Step 0 (the global step when `fit` starts) and the end of training are
        always written.
      methods: any of "am", "deconv", "weights", "occlusion"; default every method that
        applies to each layer (one that does not is left out with a warning saying why).
      am: `AMOptions` for activation maximization (default the fast preset, `AMOptions()`:
        48 steps; pixels for small or gray inputs, a Fourier image for colour ones of 64 px on).
      occlusion: `OcclusionOptions` (images, square size and stride, batch size).
      top_k: top activations per channel for deconv projections.
      deconv_rule: "deconvnet" (Zeiler & Fergus), "guided" (guided backprop) or "gradient" (the
        plain gradient: the only one defined through gelu, swish and other non-ReLU layers).
      input_range: (low, high) of the model's input values; default from probe_images, else
        [0, 1]. Printed at the start and recorded with its source.
      preprocess: function applied to AM images (in `input_range`) before the model sees them.
      image_size: (height, width) for AM when the model accepts any size (default 64x64);
        (height, width, channels) for a Sequential model without keras.Input.
      max_channels: cap for layers given by name only.
      max_overhead: a time budget, e.g. 0.05. Step 0 and the end of training are always
        written; a scheduled point between is visualized only if the callback's total time so
        far, plus that visualization (estimated by the last one), stays within this fraction of
        the training time so far. Trades which points are recorded (then timing-dependent) for
        speed. None (default): every scheduled point.
      class_names: one name per unit of the model's output (e.g. ["cat", "dog", ...]); the
        class layer's tiles are labelled with them (kept in its records as `channel_names`).
      verbose: 1 prints one line per visualization with the time it took (and how many records
        could not be written, if any): at once inside an epoch, after Keras's line of the epoch
        at its end; 0 is silent.
      every_n_epochs: deprecated name of `freq`.

    Each record carries its global step (the event's step) and the epoch with its fraction, so
    the dashboard shows a channel forming within the first epoch, on the same axis as Keras's
    own scalars. A resumed run (`BackupAndRestore`, `initial_epoch` with the optimizer's state)
    continues the steps: the start of a resumed fit is not written again when the log already
    holds it.

    It never changes training: the model runs in inference mode, no weight, BatchNorm statistic,
    optimizer slot or random stream is touched. Every argument is checked here; what needs the
    model raises ConfigurationError in on_train_begin, before the first epoch. A failure while
    visualizing is logged once and that visualization skipped; a record that cannot be written
    is counted in `lost_records`.
    """

    def __init__(
        self,
        log_dir: Optional[str] = None,
        layers: Optional[LayerSpec] = None,
        probe_images: Optional[np.ndarray] = None,
        *,
        probe_labels: Optional[np.ndarray] = None,
        freq: FreqSpec = schedules.EPOCH,
        schedule: ScheduleSpec = schedules.LOG,
        methods: Optional[Sequence[str]] = None,
        am: Optional[AMOptions] = None,
        occlusion: Optional[OcclusionOptions] = None,
        top_k: int = 9,
        deconv_rule: str = backward.DECONVNET,
        input_range: Optional[Sequence[float]] = None,
        preprocess: Optional[Callable] = None,
        image_size: Optional[Sequence[int]] = None,
        max_channels: int = DEFAULT_MAX_CHANNELS,
        max_overhead: Optional[float] = None,
        class_names: Optional[Sequence[str]] = None,
        verbose: int = 1,
        every_n_epochs: Optional[int] = None,
        logdir: Optional[str] = None,
    ):
        super().__init__()
        # Every argument is checked here, once: a bad setting never reaches training.
        log_dir = _renamed(logdir, "logdir", log_dir, "log_dir")
        freq = _renamed(every_n_epochs, "every_n_epochs", freq, "freq", default=schedules.EPOCH)
        if isinstance(log_dir, os.PathLike):
            log_dir = os.fspath(log_dir)
        if not isinstance(log_dir, str) or not log_dir or "\x00" in log_dir:
            raise ConfigurationError(f"log_dir must be a non-empty path, got {log_dir!r}")
        gfile.check_reachable(log_dir)
        if layers is None:
            raise ConfigurationError("layers is required: a layer name, a list of names or {name: channels}")
        self.schedule = schedules.Schedule.checked(freq, schedule)
        if max_overhead is not None:
            max_overhead = checks.number(max_overhead, "max_overhead", positive=True)
            if not max_overhead < 10:
                raise ConfigurationError(f"max_overhead must be a fraction of training time in (0, 10), got {max_overhead!r}")
        max_channels = checks.integer(max_channels, "max_channels", 1)
        if not isinstance(verbose, (bool, int, np.integer)) or verbose not in (0, 1, 2):  # False/True work too
            raise ConfigurationError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        self.log_dir = log_dir
        self.layers = normalize_layers(layers, max_channels)
        self.settings = Settings.checked(
            probe_images=probe_images, probe_labels=probe_labels, input_range=input_range, preprocess=preprocess,
            image_size=image_size, am=am, top_k=top_k, deconv_rule=deconv_rule, occlusion=occlusion,
            class_names=class_names,
        )
        if self.settings.am.images_per_channel > 1:
            raise ConfigurationError("am.images_per_channel > 1 is for notebooks and the CLI's --out: records hold "
                                     "one image per channel and epoch")
        self.methods = None if methods is None else check_methods(methods)
        for method in self.methods or ():
            missing = REGISTRY[method].needs(self.settings)
            if missing:
                raise ConfigurationError(f"method {method!r} needs {missing}")
        check_backend(self.methods or [m for m, method in REGISTRY.items() if not method.needs(self.settings)])
        self.max_overhead = max_overhead
        self.max_channels = max_channels
        self.verbose = verbose
        self.timings: list = []  # (global step, seconds) of each visualization pass
        self.method_timings: list = []  # (global step, layer, method, seconds) of each visualization
        self.lost_records = 0  # records that could not be written (full disk, removed log_dir...)
        self.skipped_steps: list = []  # global steps left out to keep within max_overhead
        self._writer: Optional[EventFileWriter] = None
        self._plans = None
        self._workers: dict = {}
        self._reported: set = set()
        self._pending_lines: list = []  # printed after Keras's own line for the epoch
        self._chief = True  # only the chief writes under tf.distribute (see distribute.py)
        self._reset_progress()

    @property
    def logdir(self) -> str:
        """Deprecated name of `log_dir`."""
        return self.log_dir

    def _reset_progress(self) -> None:
        self._before_training = False
        self._ended = False  # on_train_end ran: later hooks (a hand-driven loop) write nothing
        self._global_step = 0  # the optimizer's count when fit began, plus the batches run since
        self._epoch_start_step = 0
        self._epoch_start_iterations = 0  # the optimizer's count when the epoch began
        self._epoch = 0  # the epoch in progress (0-based, as Keras passes it)
        self._batches = 0  # batches run in the epoch in progress
        self._at_epoch_end = False
        self._due_at_epoch_end = False  # a scheduled step that is the epoch's last: written after validation
        self._observed_epoch_length = None  # batches of the last whole epoch, when Keras does not say
        self._last_step = None  # global step last visualized
        self._written_before: set = set()  # (layer, method) with a record at this fit's start step
        self._started_at = None
        self._spent = 0.0  # this callback's own time in this fit

    # -- Keras hooks -----------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._chief = is_chief(self.model)
        spec = self.settings.input_spec(self.model)
        ensure_built(self.model, spec.model_shape)
        self._spec = spec
        self._plans = build_plans(self.model, self.layers, spec, self.methods, self.settings, self.max_channels)
        name_class_units(self.model, self._plans, self.settings.class_names)
        # Runners are made now, so settings that need the model fail before epoch 1.
        self._workers = {(plan.name, m): REGISTRY[m].runner(plan, spec, self.settings)
                         for plan in self._plans for m in plan.methods}
        for plan in self._plans:
            for method, why in plan.left_out.items():
                if REGISTRY[method].warn_when_left_out and not REGISTRY[method].needs(self.settings):
                    log.warning("tb_featviz: no %s for layer %r: %s", method, plan.name, why)
            if getattr(self._workers.get((plan.name, metadata.METHOD_AM)), "flat_optimum", False):
                log.warning("tb_featviz: layer %r is an affine function of the image, so the image that "
                            "maximizes it is flat (black or white by the sign of each filter's sum); the "
                            "nonlinearity after it shows patterns", plan.name)
        self._reset_progress()
        if self.verbose and self._chief:
            print(f"featviz: {spec.describe_range()}", flush=True)
        self._before_training = True
        self._started_at = time.perf_counter()

    def _started(self) -> bool:
        """Whether on_train_begin ran (a custom loop may call the hooks in another order)."""
        if self._plans is None:
            self._report(("order",), "on_train_begin was not called first; nothing is visualized")
            return False
        if self._ended:
            self._report(("ended",), "a hook was called after on_train_end; nothing is visualized until "
                         "on_train_begin")
            return False
        return True

    def on_epoch_begin(self, epoch, logs=None):
        if not self._started():
            return
        self._print_pending()
        self._epoch, self._batches, self._at_epoch_end = epoch, 0, False
        self._epoch_start_iterations = self._optimizer_step()
        if self._before_training:
            # The optimizer's count once, when the first epoch begins (BackupAndRestore has
            # restored it by then, in its on_train_begin), then the batches run: gradient
            # accumulation, a skipped mixed-precision step or a train_step with optimizers of
            # its own (GANs) do not stop this clock.
            self._global_step = self._epoch_start_iterations
            if self._chief:
                self._continue_the_log()
            self._before_training = False
            if self.verbose and self._chief:
                per_epoch, epochs = self._steps_per_epoch(), (self.params or {}).get("epochs")
                last = self._global_step + per_epoch * (epochs - epoch) if per_epoch and epochs else None
                print(f"featviz: schedule: {self.schedule.describe(per_epoch, self._global_step, last)}", flush=True)
            self._visualize("start")
        self._epoch_start_step = self._global_step

    def on_train_batch_end(self, batch, logs=None):
        if self._plans is None or self._ended:
            return
        self._before_training = False  # a loop that never called on_epoch_begin: the start is past
        # Keras passes the index of the last batch run (several per call with steps_per_execution).
        previous = self._global_step
        self._batches = int(batch) + 1 if isinstance(batch, (int, np.integer)) and batch >= 0 else self._batches + 1
        self._global_step = self._epoch_start_step + self._batches
        per_epoch = self._steps_per_epoch()
        if self.schedule.due_in_epoch(previous, self._global_step, per_epoch, self._epoch):
            if per_epoch is not None and self._batches >= per_epoch:
                self._due_at_epoch_end = True  # the epoch's end: after validation, as every epoch end
            else:
                self._visualize_if_affordable("batch")

    def on_epoch_end(self, epoch, logs=None):
        if not self._started():
            return
        if self._batches == 0:  # a custom loop that calls no batch hooks: the optimizer counted
            self._batches = max(0, self._optimizer_step() - self._epoch_start_iterations)
            self._global_step = self._epoch_start_step + self._batches
        per_epoch = self._steps_per_epoch()
        # Keras also ends an epoch that `stop_training` cut short: that one is not complete. Of
        # unknown length, an epoch that ends with training stopped may be either: its length is
        # not learnt, and its end says batches, not a fraction.
        if per_epoch is None:
            self._at_epoch_end = not getattr(self.model, "stop_training", False)
        else:
            self._at_epoch_end = self._batches >= per_epoch
        if not (self.params or {}).get("steps") and self._at_epoch_end:
            self._observed_epoch_length = self._batches or None
        completed = epoch + 1
        due = (self._at_epoch_end and self.schedule.due_at_epoch_end(completed)) or self._due_at_epoch_end
        self._due_at_epoch_end = False
        if not due or self._last_step == self._global_step:
            return
        if completed == (self.params or {}).get("epochs"):
            self._visualize("epoch_end")  # the end: never skipped
        else:
            self._visualize_if_affordable("epoch_end")

    def on_train_end(self, logs=None):
        if self._plans is None or self._ended:
            return
        self._ended = True
        if not self._before_training and self._last_step != self._global_step:
            self._visualize("end")
            if self._global_step in self.skipped_steps:
                self.skipped_steps.remove(self._global_step)
        self._before_training = False
        self._print_pending()
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception as error:  # never raise into fit
                self._report(("close",), f"closing the event file in {self.log_dir} failed: {error}")
            self._writer = None
        if self.lost_records and self.verbose and self._chief:
            print(f"featviz: {self.lost_records} records could not be written to {self.log_dir} "
                  "during this fit (see the warning above)", flush=True)

    # -- where training is -----------------------------------------------------------------
    def _optimizer_step(self) -> int:
        """The optimizer's iteration count, restored by BackupAndRestore and kept by a model
        that trains on (0 without an optimizer, e.g. a custom loop)."""
        try:
            return max(0, int(self.model.optimizer.iterations.numpy()))
        except Exception:
            return 0

    def _steps_per_epoch(self) -> Optional[int]:
        """Batches per epoch: Keras's count, else the last whole epoch's (datasets of unknown
        length); None during a first epoch of unknown length."""
        steps = (self.params or {}).get("steps")
        return int(steps) if steps else self._observed_epoch_length

    def _position(self, moment: str) -> dict:
        per_epoch = self._steps_per_epoch()
        if self._at_epoch_end:
            completed, batch = self._epoch + 1, 0
        else:
            completed, batch = self._epoch, self._batches
        epoch = float(completed) if batch == 0 else (completed + batch / per_epoch if per_epoch else None)
        return metadata.make_position(self._global_step, epoch=epoch, epochs_completed=completed, batch=batch,
                                      steps_per_epoch=per_epoch, moment=moment)

    def _continue_the_log(self) -> None:
        """Fits into a log_dir that holds records already. A resumed fit (the optimizer's count
        restored) starts where the earlier one wrote its last epoch: that step is not written
        again; records after it (an epoch redone after BackupAndRestore) are rewritten, as
        TensorBoard expects of a restart. A fit whose optimizer starts at 0 (a recompiled model
        with initial_epoch, another run in the same directory) would write over the earlier
        records: its steps continue after them instead."""
        try:
            earlier = steps_since(self.log_dir, self._global_step)
        except Exception as error:  # unreadable: write everything, as a fresh run would
            self._report(("read",), f"could not read the earlier records in {self.log_dir}: {error}")
            return
        last = max((step for steps in earlier.values() for step in steps), default=None)
        if self._global_step == 0 and last:
            log.warning("tb_featviz: the optimizer's step count starts at 0 but %s already holds records up to "
                        "step %d (a recompiled model, or another run in this log_dir): this fit's steps continue "
                        "from %d, so that no earlier record is overwritten", self.log_dir, last, last)
            self._global_step = last
        self._written_before = {key for key, steps in earlier.items() if self._global_step in steps}

    # -- work ------------------------------------------------------------------------------
    def _visualize_if_affordable(self, moment: str) -> None:
        if self.max_overhead is None or self._within_budget():
            self._visualize(moment)
        else:
            self.skipped_steps.append(self._global_step)

    def _within_budget(self) -> bool:
        """Whether one more visualization, estimated to cost as much as the last one (step 0's
        includes tracing: a cautious first estimate), keeps the total within the budget."""
        training = time.perf_counter() - self._started_at - self._spent
        estimate = self.timings[-1][1] if self.timings else 0.0
        return self._spent + estimate <= self.max_overhead * training

    def _visualize(self, moment: str) -> None:
        if not self._chief:
            return
        started = time.perf_counter()
        # Inside an epoch Keras's JAX trainer keeps the weights in its own state and empties the
        # variables; it asks callbacks that read them to put them back (the next step takes them
        # from the variables again, so training goes on unchanged).
        sync = getattr(self.model, "jax_state_sync", None)
        if callable(sync):
            sync()
        step = self._global_step
        position = self._position(moment)
        written = lost = already = 0
        writer = self._get_writer()
        try:
            vanished = writer.check()
        except Exception as error:  # an odd file system: go on, writes report their own failures
            self._report(("check",), f"could not check the event file in {self.log_dir}: {error}")
            vanished = 0
        if vanished:
            self._report(("vanished",), f"the event file in {self.log_dir} disappeared (was the log_dir removed?); "
                         f"the {vanished} records it held are lost. Writing to a new file.")
            lost += vanished
        for plan in self._plans:
            for method in plan.methods:
                if moment == "start" and (plan.name, method) in self._written_before:
                    already += 1  # a resumed fit: the earlier one wrote this step when it stopped
                    continue
                began = time.perf_counter()
                record = self._guarded(plan, method, lambda: self._record(plan, method))
                if record is not None:
                    try:
                        writer.write(record.at(position).event(step))
                        written += 1
                    except WriteFailed as error:
                        lost += 1
                        self._report(("write",), f"a record could not be written to {self.log_dir} and is lost: {error}")
                self.method_timings.append((step, plan.name, method, time.perf_counter() - began))
        self.lost_records += lost
        seconds = time.perf_counter() - started
        self._spent += seconds
        self._last_step = step
        self.timings.append((step, seconds))
        if self.verbose:
            line = (f"featviz: step {step} ({_describe_moment(position)}): "
                    f"{written} visualization{'s' if written != 1 else ''} in {seconds:.1f} s")
            if already:
                line += f"; {already} already in {self.log_dir} from the earlier fit, not written again"
            if lost:
                line += f"; {lost} records LOST, not written ({self.lost_records} in all; see the warning above)"
            if moment == "batch" and (self.params or {}).get("verbose") in (1, "auto"):  # "auto" draws the bar too
                line = "\n" + line  # off Keras's progress bar, as its ModelCheckpoint does
            self._pending_lines.append(line)
            if moment in ("start", "batch"):  # no Keras line to wait for (an epoch may take hours)
                self._print_pending()

    def _print_pending(self) -> None:
        """Prints the timing lines waiting. Keras ends an epoch's progress line after every
        callback's on_epoch_end, so epoch-end lines wait for the next epoch or the end."""
        for line in self._pending_lines:
            print(line, flush=True)
        self._pending_lines = []

    def _record(self, plan, method: str) -> summary.Record:
        result = self._workers[(plan.name, method)]()
        REGISTRY[method].check(result)
        return REGISTRY[method].record(plan.name, result)

    def _guarded(self, plan, method, work):
        """Run one visualization; a failure is reported once and skipped, never raised into fit."""
        try:
            return work()
        except Exception as error:
            self._report((plan.name, method, type(error).__name__),
                         f"{method} of {plan.name} failed and was skipped: {type(error).__name__}: {error}")
            return None

    def _get_writer(self) -> EventFileWriter:
        if self._writer is None:
            self._writer = EventFileWriter(self.log_dir)
        return self._writer

    def _report(self, key: tuple, message: str) -> None:
        """Log a failure at WARNING the first time its kind (`key`) happens, in one line (the
        whole message at DEBUG), later at DEBUG only."""
        message = f"tb_featviz: {message}"
        if key in self._reported:
            log.debug(message)
            return
        self._reported.add(key)
        first_line = message.strip().splitlines()[0]
        if first_line != message.strip():
            log.debug(message)
        log.warning(first_line + " (further failures of this kind are logged at DEBUG level)")



def _renamed(old_value, old_name: str, value, name: str, default=None):
    """The value of a renamed argument, taken from its old name with a deprecation warning."""
    if old_value is None:
        return value
    if value is not None and not (isinstance(value, str) and value == default):
        raise ConfigurationError(f"give {name} only ({old_name} is its deprecated name), not both")
    warnings.warn(f"FeatVizCallback({old_name}=...) is deprecated: use {name}=... (Keras's name)",
                  DeprecationWarning, stacklevel=3)
    return old_value


def _describe_moment(position: dict) -> str:
    """'before training', 'Epoch 1, batch 10/469 = epoch 0.021' (Keras's 1-based epoch and the
    dashboard's epochs completed), 'after epoch 3', 'end of training, ...', 'resumed fit, ...'."""
    epoch, batch, per_epoch = position["epoch"], position["batch"], position["steps_per_epoch"]
    if batch == 0 and epoch is not None:
        where = f"after epoch {schedules.format_epoch(epoch)}"
    elif epoch is None:
        where = f"Epoch {position['epochs_completed'] + 1}, batch {batch}"
    else:
        where = f"Epoch {position['epochs_completed'] + 1}, batch {batch}/{per_epoch} = epoch {schedules.format_epoch(epoch)}"
    if position["moment"] == "start":
        return f"resumed fit, {where}" if position["global_step"] else "before training"
    return f"end of training, {where}" if position["moment"] == "end" else where
