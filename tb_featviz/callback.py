"""FeatVizCallback: watch what a CNN's filters learn as it trains, in TensorBoard."""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, Mapping, Optional, Sequence

import keras
import numpy as np

from tb_featviz import checks, gfile
from tb_featviz import schedule as schedules
from tb_featviz.clock import TrainingClock, describe_moment, optimizer_step
from tb_featviz.distribute import is_chief
from tb_featviz.errors import ConfigurationError
from tb_featviz.event_writer import EventFileWriter, WriteFailed
from tb_featviz.offline.process import (
    INLINE, PROCESS, RenderOptions, RenderProcess, SnapshotQueue, finish_off_the_path,
)
from tb_featviz.offline.renderer import prime_references
from tb_featviz.plan import DEFAULT_MAX_CHANNELS, LayerSpec, normalize_layers
from tb_featviz.prepare import Prepared, check_request, prepare
from tb_featviz.records import steps_since
from tb_featviz.schedule import FreqSpec, ScheduleSpec
from tb_featviz.settings import Settings, options_from_arguments

log = logging.getLogger("tb_featviz")


class FeatVizCallback(keras.callbacks.Callback):
    """Writes feature visualizations of chosen layers to TensorBoard as training runs.

    Args:
      log_dir: where to write event files (the run's directory, e.g. "runs/exp1"), as for
        `keras.callbacks.TensorBoard`, made when training begins. A file, a path under a file or
        an unknown scheme is refused here; a folder that cannot be written, in on_train_begin.
        (`logdir=` still works, with a deprecation warning.)
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
      methods: names of methods (`tb_featviz.methods.names()`: "am", "deconv", "weights",
        "occlusion", ...); default every method that applies to each layer (one that does not is
        left out with a warning saying why).
      options: {method name: its options}, e.g. {"am": AMOptions(steps=24), "deconv":
        DeconvOptions(top_k=4)}; a method not named runs with its defaults. The arguments below
        set the same for one method each.
      am: `AMOptions` for activation maximization (default the fast preset, `AMOptions()`:
        48 steps; pixels for small or gray inputs, a Fourier image for colour ones of 64 px on).
      occlusion: `OcclusionOptions` (images, square size and stride, batch size).
      top_k: top activations per channel for deconv projections (default 9).
      deconv_rule: "deconvnet" (default; Zeiler & Fergus), "guided" (guided backprop) or
        "gradient" (the plain gradient: the only one defined through gelu, swish and other
        non-ReLU layers).
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
      render: where the pictures are drawn. "inline" (default): in `fit`, which waits for them.
        "process": training only writes a snapshot of the weights at each scheduled step (under
        log_dir/.featviz/) and goes on; a child process at the lowest CPU priority draws the same
        records at the same steps, and `on_train_end` waits for its backlog. "sidecar": only the
        snapshots; `tb-featviz follow LOG_DIR` draws them (on any machine that sees the log).
        A `RenderOptions` sets how long to wait, the backlog's bound and the child's device.
        Off the training path the model must rebuild from its config (as `keras.models.
        model_from_json` does) and `preprocess` is not available.
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
        options: Optional[Mapping[str, object]] = None,
        am=None,
        occlusion=None,
        top_k: Optional[int] = None,
        deconv_rule: Optional[str] = None,
        input_range: Optional[Sequence[float]] = None,
        preprocess: Optional[Callable] = None,
        image_size: Optional[Sequence[int]] = None,
        max_channels: int = DEFAULT_MAX_CHANNELS,
        max_overhead: Optional[float] = None,
        class_names: Optional[Sequence[str]] = None,
        render="inline",
        verbose: int = 1,
        every_n_epochs: Optional[int] = None,
        logdir: Optional[str] = None,
    ):
        super().__init__()
        # Every argument is checked here, once: a bad setting never reaches training.
        log_dir = checks.renamed(logdir, "logdir", log_dir, "log_dir")
        freq = checks.renamed(every_n_epochs, "every_n_epochs", freq, "freq", default=schedules.EPOCH)
        if isinstance(log_dir, os.PathLike):
            log_dir = os.fspath(log_dir)
        if not isinstance(log_dir, str) or not log_dir or "\x00" in log_dir:
            raise ConfigurationError(f"log_dir must be a non-empty path, got {log_dir!r}")
        gfile.check_log_dir(log_dir)
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
            image_size=image_size, class_names=class_names,
            options=options_from_arguments(options, am=am, occlusion=occlusion, top_k=top_k, deconv_rule=deconv_rule),
        )
        self.methods = check_request(methods, self.settings, recorded=True)
        self.render = RenderOptions.of(render)
        if self.render.mode != INLINE and self.settings.preprocess is not None:
            raise ConfigurationError(f"render={self.render.mode!r} draws in another process, which cannot rebuild "
                                     "preprocess (a Python function): use render=\"inline\", or put the "
                                     "preprocessing into the model")
        self.max_overhead = max_overhead
        self.max_channels = max_channels
        self.verbose = verbose
        self.timings: list = []  # (global step, seconds) of each visualization pass
        self.method_timings: list = []  # (global step, layer, method, seconds) of each visualization
        self.lost_records = 0  # records that could not be written (full disk, removed log_dir...)
        self.skipped_steps: list = []  # global steps left out to keep within max_overhead
        self._writer: Optional[EventFileWriter] = None
        self._prepared: Optional[Prepared] = None
        self._clock = TrainingClock()
        self._queue: Optional[SnapshotQueue] = None  # render="process"/"sidecar": where snapshots go
        self._process: Optional[RenderProcess] = None  # render="process": the child drawing them
        self._reported: set = set()
        self._pending_lines: list = []  # printed after Keras's own line for the epoch
        self._chief = True  # only the chief writes under tf.distribute (see distribute.py)
        self._reset_progress()

    @property
    def plans(self) -> list:
        """What `on_train_begin` planned: a `LayerPlan` per layer (model order) with its methods,
        channels and the methods left out with why; empty before training."""
        return list(self._prepared.plans) if self._prepared is not None else []

    @property
    def logdir(self) -> str:
        """Deprecated name of `log_dir`."""
        return self.log_dir

    def _reset_progress(self) -> None:
        self._before_training = False
        self._ended = False  # on_train_end ran: later hooks (a hand-driven loop) write nothing
        self._clock.reset()
        self._due_at_epoch_end = False  # a scheduled step that is the epoch's last: written after validation
        self._falling_back = False  # the render process died twice: inline for the rest of the fit
        self._last_step = None  # global step last visualized
        self._written_before: set = set()  # (layer, method) with a record at this fit's start step
        self._started_at = None
        self._spent = 0.0  # this callback's own time in this fit

    # -- Keras hooks -----------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._chief = is_chief(self.model)
        self._prepared = prepare(self.model, self.layers, self.settings, self.methods, self.max_channels,
                                 recorded=True)
        for warning in self._prepared.warnings:
            log.warning("tb_featviz: %s", warning)
        self._queue = self._process = None
        if self._chief:
            self._open_writer()
        if self.render.mode != INLINE and self._chief:
            self._start_rendering_off_the_path()
        self._reset_progress()
        if self.verbose and self._chief:
            print(f"featviz: {self._prepared.spec.describe_range()}", flush=True)
        self._before_training = True
        self._started_at = time.perf_counter()

    def _start_rendering_off_the_path(self) -> None:
        """The job for the renderer, its snapshot queue and (render="process") the child."""
        from tb_featviz.offline.job import write_job

        job = write_job(self.log_dir, self.model, self.layers, self.methods, self.max_channels, self.settings)
        self._queue = SnapshotQueue(job, self.render.backlog())
        if self.render.mode == PROCESS:
            self._process = RenderProcess(job, self.render.device, say=lambda text: log.warning("tb_featviz: %s", text))
            self._process.start()

    def _started(self) -> bool:
        """Whether on_train_begin ran (a custom loop may call the hooks in another order)."""
        if self._prepared is None:
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
        clock = self._clock
        clock.set_params(self.params)
        clock.begin_epoch(epoch, optimizer_step(self.model), first=self._before_training)
        if self._before_training:
            if self._chief:
                self._continue_the_log()
            self._before_training = False
            if self.verbose and self._chief:
                per_epoch, epochs = clock.steps_per_epoch(), (self.params or {}).get("epochs")
                last = clock.global_step + per_epoch * (epochs - epoch) if per_epoch and epochs else None
                print(f"featviz: schedule: {self.schedule.describe(per_epoch, clock.global_step, last)}", flush=True)
            self._visualize("start")

    def on_train_batch_end(self, batch, logs=None):
        if self._prepared is None or self._ended:
            return
        self._before_training = False  # a loop that never called on_epoch_begin: the start is past
        clock = self._clock
        clock.set_params(self.params)
        previous = clock.end_batch(batch)
        per_epoch = clock.steps_per_epoch()
        if self.schedule.due_in_epoch(previous, clock.global_step, per_epoch, clock.epoch):
            if per_epoch is not None and clock.batches >= per_epoch:
                self._due_at_epoch_end = True  # the epoch's end: after validation, as every epoch end
            else:
                self._visualize_if_affordable("batch")

    def on_epoch_end(self, epoch, logs=None):
        if not self._started():
            return
        clock = self._clock
        clock.set_params(self.params)
        clock.end_epoch(optimizer_step(self.model), bool(getattr(self.model, "stop_training", False)))
        completed = epoch + 1
        due = (clock.at_epoch_end and self.schedule.due_at_epoch_end(completed)) or self._due_at_epoch_end
        self._due_at_epoch_end = False
        if not due or self._last_step == clock.global_step:
            return
        if completed == (self.params or {}).get("epochs"):
            self._visualize("epoch_end")  # the end: never skipped
        else:
            self._visualize_if_affordable("epoch_end")

    def on_train_end(self, logs=None):
        if self._prepared is None or self._ended:
            return
        self._ended = True
        step = self._clock.global_step
        if not self._before_training and self._last_step != step:
            self._visualize("end")
            if step in self.skipped_steps:
                self.skipped_steps.remove(step)
        self._before_training = False
        self._print_pending()
        if self._queue is not None:
            self._finish_rendering_off_the_path(step)
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception as error:  # never raise into fit
                self._report(("close",), f"closing the event file in {self.log_dir} failed: {error}")
            self._writer = None
        if self.lost_records and self.verbose and self._chief:
            print(f"featviz: {self.lost_records} records could not be written to {self.log_dir} "
                  "during this fit (see the warning above)", flush=True)

    def _finish_rendering_off_the_path(self, step: int) -> None:
        """Marks the job ended (a follower exits once it is drawn) and waits for the child."""
        try:
            self._queue.job.mark_ended(step, self._queue.dropped)
        except Exception as error:  # never raise into fit
            self._report(("ended",), f"could not mark the end of training in {self.log_dir}/.featviz: {error}")
        say = (lambda text: print(f"featviz: {text}", flush=True)) if self.verbose else (lambda text: None)
        process = None if self._falling_back else self._process
        fit_seconds = time.perf_counter() - self._started_at
        finish_off_the_path(self._queue, process, self.render.wait_seconds(fit_seconds), say)

    # -- where training is -----------------------------------------------------------------
    def _continue_the_log(self) -> None:
        """Fits into a log_dir that holds records already. A resumed fit (the optimizer's count
        restored) starts where the earlier one wrote its last epoch: that step is not written
        again; records after it (an epoch redone after BackupAndRestore) are rewritten, as
        TensorBoard expects of a restart. A fit whose optimizer starts at 0 (a recompiled model
        with initial_epoch, another run in the same directory) would write over the earlier
        records: its steps continue after them instead."""
        start = self._clock.global_step
        try:
            earlier = steps_since(self.log_dir, start)
        except Exception as error:  # unreadable: write everything, as a fresh run would
            self._report(("read",), f"could not read the earlier records in {self.log_dir}: {error}")
            return
        last = max((step for steps in earlier.values() for step in steps), default=None)
        if start == 0 and last:
            log.warning("tb_featviz: the optimizer's step count starts at 0 but %s already holds records up to "
                        "step %d (a recompiled model, or another run in this log_dir): this fit's steps continue "
                        "from %d, so that no earlier record is overwritten", self.log_dir, last, last)
            self._clock.continue_from(last)
        self._written_before = {key for key, steps in earlier.items() if self._clock.global_step in steps}

    # -- work ------------------------------------------------------------------------------
    def _visualize_if_affordable(self, moment: str) -> None:
        if self.max_overhead is None or self._within_budget():
            self._visualize(moment)
        else:
            self.skipped_steps.append(self._clock.global_step)

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
        step = self._clock.global_step
        position = self._clock.position(moment)
        # A resumed fit: the earlier one wrote its last step when it stopped.
        skip = self._written_before if moment == "start" else set()
        already = sum((plan.name, method.name) in skip for plan, method, _ in self._prepared.work())
        if self._queue is not None and not self._falling_back and self._renderer_alive():
            what, lost = self._snapshot(step, position, moment, skip)
        else:
            what, lost = self._render_inline(step, position, skip)
        self.lost_records += lost
        seconds = time.perf_counter() - started
        self._spent += seconds
        self._last_step = step
        self.timings.append((step, seconds))
        if self.verbose:
            line = f"featviz: step {step} ({describe_moment(position)}): {what.format(seconds=seconds)}"
            if already:
                line += f"; {already} already in {self.log_dir} from the earlier fit, not written again"
            if lost:
                line += f"; {lost} records LOST, not written ({self.lost_records} in all; see the warning above)"
            if moment == "batch" and (self.params or {}).get("verbose") in (1, "auto"):  # "auto" draws the bar too
                line = "\n" + line  # off Keras's progress bar, as its ModelCheckpoint does
            self._pending_lines.append(line)
            if moment in ("start", "batch"):  # no Keras line to wait for (an epoch may take hours)
                self._print_pending()

    def _render_inline(self, step: int, position: dict, skip: set) -> tuple:
        """Every record of this step, drawn now and written; ("N visualizations in {seconds}", lost)."""
        written = lost = 0
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
        if self._falling_back:  # the render process drew the first step: its maps are the reference
            prime_references(self.model, self._prepared, self._queue.reference, step, restore=True)
        for layer, method, record, seconds in self._prepared.records(self._failed, skip, step):
            if record is not None:
                try:
                    writer.write(record.at(position).event(step))
                    written += 1
                except WriteFailed as error:
                    lost += 1
                    self._report(("write",), f"a record could not be written to {self.log_dir} and is lost: {error}")
            self.method_timings.append((step, layer, method, seconds))
        return f"{written} visualization{'s' if written != 1 else ''} in {{seconds:.1f}} s", lost

    def _snapshot(self, step: int, position: dict, moment: str, skip: set) -> tuple:
        """Only the weights, for the renderer; ("snapshot in {seconds}, ...", lost)."""
        count = sum((plan.name, method.name) not in skip for plan, method, _ in self._prepared.work())
        epochs = (self.params or {}).get("epochs")
        protected = (moment in ("start", "end") or (position["epoch"] is not None and position["epoch"] <= 1)
                     or position["epochs_completed"] == epochs)
        try:
            dropped = self._queue.put(self.model, step, position, protected=protected, skip=sorted(skip))
        except Exception as error:  # a full disk: training goes on, this step's records are lost
            self._report(("snapshot",), f"a snapshot could not be written to {self.log_dir}/.featviz and its "
                         f"{count} records are lost: {error}")
            return "snapshot LOST", count
        who = "the render process" if self._process is not None else "tb-featviz follow"
        what = f"snapshot in {{seconds:.2f}} s for {who} ({self._queue.waiting()} waiting)"
        if dropped is not None:
            if not self._queue.dropped[:-1]:
                self._report(("backlog",), f"{self._queue.limit} snapshots wait for {who}: while the backlog is full, "
                             "a scheduled step is not drawn (step 0, the first epoch and the end always are)")
            self.skipped_steps.append(dropped)
            what = (f"backlog full, step {step} not drawn" if dropped == step else
                    what + f"; backlog full: step {dropped} dropped for it")
        return what, 0

    def _renderer_alive(self) -> bool:
        """Whether the render process runs (restarted once); if not, inline from now on."""
        if self._process is None or self._process.keep_alive():
            return True
        self._falling_back = True
        self._report(("render process",), f"the render process died again (its log: {self._process.log_path}): "
                     f"rendering inline for the rest of this fit; {self._queue.waiting()} snapshots wait for: "
                     f"tb-featviz follow {self.log_dir}")
        return False

    def _print_pending(self) -> None:
        """Prints the timing lines waiting. Keras ends an epoch's progress line after every
        callback's on_epoch_end, so epoch-end lines wait for the next epoch or the end."""
        for line in self._pending_lines:
            print(line, flush=True)
        self._pending_lines = []

    def _failed(self, layer: str, method: str, error: Exception) -> None:
        """One visualization failed: reported once per kind and skipped, never raised into fit."""
        self._report((layer, method, type(error).__name__),
                     f"{method} of {layer} failed and was skipped: {type(error).__name__}: {error}")

    def _open_writer(self) -> None:
        """The event file, opened before epoch 1: a log_dir that cannot be written (read-only, a
        bucket out of reach) is a ConfigurationError, not a fit whose every record is lost."""
        try:
            self._get_writer().open()
        except WriteFailed as error:
            self._writer, self._prepared = None, None
            raise ConfigurationError(f"cannot write to log_dir {self.log_dir!r}: {error}") from None

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
