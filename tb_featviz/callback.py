"""FeatVizCallback: watch what a CNN's filters learn, epoch by epoch, in TensorBoard."""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, Optional, Sequence

import keras
import numpy as np

from tb_featviz import backward, checks, metadata, summary
from tb_featviz.am.maximize import AMOptions
from tb_featviz.distribute import is_chief
from tb_featviz.errors import ConfigurationError
from tb_featviz.event_writer import EventFileWriter, WriteFailed
from tb_featviz.methods import REGISTRY, Settings
from tb_featviz.model_access import ensure_built
from tb_featviz.occlude import OcclusionOptions
from tb_featviz.plan import (
    DEFAULT_MAX_CHANNELS, LayerSpec, build_plans, check_backend, check_methods, name_class_units, normalize_layers,
)

log = logging.getLogger("tb_featviz")


class FeatVizCallback(keras.callbacks.Callback):
    """Writes feature visualizations of chosen layers to TensorBoard, before training and per epoch.

    Args:
      logdir: where to write event files (the run's directory, e.g. "runs/exp1").
      layers: a layer name, a list of names (all channels, at most `max_channels` each), or a
        dict {name: "all" | int | iterable of channel indices}. Nested layers as "outer/inner".
      probe_images: fixed images (as `fit` takes them) for deconv projections, occlusion and the
        dead test (a channel constant on all of them is dead); float images also give the input
        value range when `input_range` is not given (integer images need `input_range`).
      probe_labels: the true class of each probe image (ints, or one-hot rows as `fit` takes
        them); turns on occlusion sensitivity: the model's output layer (added when not in
        `layers`) and every chosen layer, on the first `occlusion.images` probes.
      every_n_epochs: visualize after every N-th epoch (step = epoch number, 1-based as Keras
        prints them); step 0 (or `initial_epoch`) before training and the final epoch are always
        written.
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
      max_overhead: a time budget, e.g. 0.05. Step 0 and the final epoch are always written;
        an epoch between is visualized only if the callback's total time so far, plus that
        visualization (estimated by the last one), stays within this fraction of the training
        time so far. Trades which epochs are recorded (then timing-dependent) for speed.
        None (default): every N-th epoch.
      class_names: one name per unit of the model's output (e.g. ["cat", "dog", ...]); the
        class layer's tiles are labelled with them (kept in its records as `channel_names`).
      verbose: 1 prints one line per visualized epoch with the time it took (and how many
        records could not be written, if any); 0 is silent.

    It never changes training: the model runs in inference mode, no weight, BatchNorm statistic,
    optimizer slot or random stream is touched. Every argument is checked here; what needs the
    model raises ConfigurationError in on_train_begin, before the first epoch. A failure while
    visualizing is logged once and that visualization skipped; a record that cannot be written
    is counted in `lost_records`.
    """

    def __init__(
        self,
        logdir: str,
        layers: LayerSpec,
        probe_images: Optional[np.ndarray] = None,
        *,
        probe_labels: Optional[np.ndarray] = None,
        every_n_epochs: int = 1,
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
    ):
        super().__init__()
        # Every argument is checked here, once: a bad setting never reaches training.
        if isinstance(logdir, os.PathLike):
            logdir = os.fspath(logdir)
        if not isinstance(logdir, str) or not logdir or "\x00" in logdir:
            raise ConfigurationError(f"logdir must be a non-empty path, got {logdir!r}")
        every_n_epochs = checks.integer(every_n_epochs, "every_n_epochs", 1)
        if max_overhead is not None:
            max_overhead = checks.number(max_overhead, "max_overhead", positive=True)
            if not max_overhead < 10:
                raise ConfigurationError(f"max_overhead must be a fraction of training time in (0, 10), got {max_overhead!r}")
        max_channels = checks.integer(max_channels, "max_channels", 1)
        if not isinstance(verbose, (bool, int, np.integer)) or verbose not in (0, 1, 2):  # False/True work too
            raise ConfigurationError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        self.logdir = logdir
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
        self.every_n_epochs = every_n_epochs
        self.max_overhead = max_overhead
        self.max_channels = max_channels
        self.verbose = verbose
        self.timings: list = []  # (step, seconds) of each visualization pass
        self.method_timings: list = []  # (step, layer, method, seconds) of each visualization
        self.lost_records = 0  # records that could not be written (full disk, removed logdir...)
        self._writer: Optional[EventFileWriter] = None
        self._plans = None
        self._workers: dict = {}
        self._reported: set = set()
        self._before_training = False
        self._last_step = None  # last step visualized
        self._final_step = None  # last epoch completed, written at the end if not yet
        self._pending_line = None  # printed after Keras's own line for the epoch
        self._chief = True  # only the chief writes under tf.distribute (see distribute.py)
        self._epoch_started = None
        self._training_seconds = 0.0  # fit's time in epochs, without this callback's own
        self.skipped_steps: list = []  # epochs left out to keep within max_overhead

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
        if self.verbose and self._chief:
            print(f"featviz: {spec.describe_range()}", flush=True)
        self._before_training = True
        self._last_step = self._final_step = None
        self._training_seconds = 0.0
        self.skipped_steps = []

    def _started(self) -> bool:
        """Whether on_train_begin ran (a custom loop may call the hooks in another order)."""
        if self._plans is None:
            self._report(("order",), "on_train_begin was not called first; nothing is visualized")
            return False
        return True

    def on_epoch_begin(self, epoch, logs=None):
        if not self._started():
            return
        self._print_pending()
        if self._before_training:
            self._before_training = False
            self._visualize(epoch, label="before training")
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if not self._started():
            return
        if self._epoch_started is not None:
            self._training_seconds += time.perf_counter() - self._epoch_started
        step = epoch + 1
        self._final_step = step
        if step % self.every_n_epochs != 0:
            return
        final = step == (self.params or {}).get("epochs")
        if final or self.max_overhead is None or self._within_budget():
            self._visualize(step)
        else:
            self.skipped_steps.append(step)

    def _within_budget(self) -> bool:
        """Whether one more visualization, estimated to cost as much as the last one (step 0's
        includes tracing: a cautious first estimate), keeps the total within the budget."""
        spent = sum(seconds for _, seconds in self.timings)
        estimate = self.timings[-1][1] if self.timings else 0.0
        return spent + estimate <= self.max_overhead * self._training_seconds

    def on_train_end(self, logs=None):
        if self._plans is None:
            return
        if self._final_step is not None and self._last_step != self._final_step:
            self._visualize(self._final_step)
            if self._final_step in self.skipped_steps:
                self.skipped_steps.remove(self._final_step)
        self._print_pending()
        self._final_step = None
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception as error:  # never raise into fit
                self._report(("close",), f"closing the event file in {self.logdir} failed: {error}")
            self._writer = None
        if self.lost_records and self.verbose and self._chief:
            print(f"featviz: {self.lost_records} records could not be written to {self.logdir} "
                  "during this fit (see the warning above)", flush=True)

    # -- work ------------------------------------------------------------------------------
    def _visualize(self, step: int, label: str = "") -> None:
        if not self._chief:
            return
        started = time.perf_counter()
        written = lost = 0
        writer = self._get_writer()
        try:
            vanished = writer.check()
        except Exception as error:  # an odd file system: go on, writes report their own failures
            self._report(("check",), f"could not check the event file in {self.logdir}: {error}")
            vanished = 0
        if vanished:
            self._report(("vanished",), f"the event file in {self.logdir} disappeared (was the logdir removed?); "
                         f"the {vanished} records it held are lost. Writing to a new file.")
            lost += vanished
        for plan in self._plans:
            for method in plan.methods:
                began = time.perf_counter()
                record = self._guarded(plan, method, lambda: self._record(plan, method))
                if record is not None:
                    try:
                        writer.write(record.event(step))
                        written += 1
                    except WriteFailed as error:
                        lost += 1
                        self._report(("write",), f"a record could not be written to {self.logdir} and is lost: {error}")
                self.method_timings.append((step, plan.name, method, time.perf_counter() - began))
        self.lost_records += lost
        seconds = time.perf_counter() - started
        self._last_step = step
        self.timings.append((step, seconds))
        if self.verbose:
            what = label or f"after epoch {step}"
            line = f"featviz: step {step} ({what}): {written} visualization{'s' if written != 1 else ''} in {seconds:.1f} s"
            if lost:
                line += f"; {lost} records LOST, not written ({self.lost_records} in all; see the warning above)"
            self._pending_line = line
            if label:  # before training: no Keras line to wait for
                self._print_pending()

    def _print_pending(self) -> None:
        """Prints the last timing line. Keras's progress bar ends an epoch's line after every
        other callback's on_epoch_end, so epoch-end lines wait for the next epoch or the end."""
        if self._pending_line:
            print(self._pending_line, flush=True)
            self._pending_line = None

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
            self._writer = EventFileWriter(self.logdir)
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

