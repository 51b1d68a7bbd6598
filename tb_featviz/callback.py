"""FeatVizCallback: watch what a CNN's filters learn, epoch by epoch, in TensorBoard."""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tb_featviz import inputs, metadata, summary
from tb_featviz.am.maximize import ActivationMaximizer, AMOptions
from tb_featviz.am.selected import SelectedChannelsForward
from tb_featviz.deconv import RULES, DeconvProjector
from tb_featviz.distribute import is_chief
from tb_featviz.errors import ConfigurationError
from tb_featviz.model_access import input_shape, shape_from_first_kernel
from tb_featviz.plan import DEFAULT_MAX_CHANNELS, LayerSpec, build_plans, check_top_k, normalize_layers
from tb_featviz.visualize import check_probe_images
from tb_featviz.weights import filter_weights

log = logging.getLogger("tb_featviz")


class FeatVizCallback(keras.callbacks.Callback):
    """Writes feature visualizations of chosen layers to TensorBoard, before training and per epoch.

    Args:
      logdir: where to write event files (the run's directory, e.g. "runs/exp1").
      layers: a layer name, a list of names (all channels, at most `max_channels` each), or a
        dict {name: "all" | int | iterable of channel indices}. Nested layers as "outer/inner".
      probe_images: fixed images (as `fit` takes them) for deconv projections; also used to
        infer the input value range when `input_range` is not given.
      every_n_epochs: visualize after every N-th epoch (step = epoch number, 1-based as Keras
        prints them); step 0 (or `initial_epoch`) before training and the final epoch are always
        written.
      methods: any of "am", "deconv", "weights"; default every method that applies.
      am: `AMOptions` for activation maximization (steps, parameterization, regularization...).
      top_k: top activations per channel for deconv projections.
      deconv_rule: "deconvnet" (Zeiler & Fergus) or "guided" (guided backprop).
      input_range: (low, high) of the model's input values; default from probe_images, else [0, 1].
      preprocess: function applied to AM images (in `input_range`) before the model sees them.
      image_size: (height, width) for AM when the model accepts any size (default 64x64).
      max_channels: cap for layers given by name only.
      max_overhead: a time budget, e.g. 0.05. Step 0 and the final epoch are always written;
        an epoch between is visualized only if the callback's total time so far, plus that
        visualization (estimated by the last one), stays within this fraction of the training
        time so far. Trades which epochs are recorded (then timing-dependent) for speed.
        None (default): every N-th epoch.
      verbose: 1 prints one line per visualized epoch with the time it took; 0 is silent.

    It never changes training: the model runs in inference mode, no weight, BatchNorm statistic,
    optimizer slot or random stream is touched. A failure while visualizing is logged once and
    that visualization skipped; a misconfiguration raises ConfigurationError in on_train_begin.
    """

    def __init__(
        self,
        logdir: str,
        layers: LayerSpec,
        probe_images: Optional[np.ndarray] = None,
        *,
        every_n_epochs: int = 1,
        methods: Optional[Sequence[str]] = None,
        am: Optional[AMOptions] = None,
        top_k: int = 9,
        deconv_rule: str = "deconvnet",
        input_range: Optional[Sequence[float]] = None,
        preprocess: Optional[Callable] = None,
        image_size: Optional[Sequence[int]] = None,
        max_channels: int = DEFAULT_MAX_CHANNELS,
        max_overhead: Optional[float] = None,
        verbose: int = 1,
    ):
        super().__init__()
        if not isinstance(logdir, str) or not logdir:
            raise ConfigurationError(f"logdir must be a non-empty path string, got {logdir!r}")
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ConfigurationError(f"every_n_epochs must be an int >= 1, got {every_n_epochs!r}")
        if max_overhead is not None and (
            isinstance(max_overhead, bool) or not isinstance(max_overhead, (int, float))
            or not 0 < max_overhead < 10
        ):
            raise ConfigurationError(
                f"max_overhead must be None or a fraction of training time in (0, 10), got {max_overhead!r}"
            )
        if isinstance(max_channels, bool) or not isinstance(max_channels, int) or max_channels < 1:
            raise ConfigurationError(f"max_channels must be an int >= 1, got {max_channels!r}")
        if deconv_rule not in RULES:
            raise ConfigurationError(f"deconv_rule must be one of {list(RULES)}, got {deconv_rule!r}")
        if am is not None and not isinstance(am, AMOptions):
            raise ConfigurationError(f"am must be an AMOptions, got {type(am).__name__}")
        self.logdir = logdir
        self.layers = normalize_layers(layers, max_channels)
        self.probe_images = None if probe_images is None else check_probe_images(probe_images)
        self.every_n_epochs = every_n_epochs
        self.max_overhead = max_overhead
        self.methods = methods
        self.am_options = am or AMOptions()
        self.am_options.validate()
        self.top_k = check_top_k(top_k)
        self.deconv_rule = deconv_rule
        self.input_range = input_range
        self.preprocess = preprocess
        self.image_size = image_size
        self.max_channels = max_channels
        self.verbose = verbose
        self.timings: list = []  # (step, seconds) of each visualization pass
        self.method_timings: list = []  # (step, layer, method, seconds) of each visualization
        self._writer = None
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
        if self.probe_images is not None:
            fallback = self.probe_images.shape[1:]
        else:
            fallback = shape_from_first_kernel(self.model, self.image_size)
        image_size = self.image_size
        if image_size is None and self.probe_images is not None:
            image_size = self.probe_images.shape[1:3]
        spec = inputs.resolve(
            input_shape(self.model, fallback),
            image_size=image_size,
            value_range=self.input_range,
            preprocess=self.preprocess,
            probe_images=self.probe_images,
        )
        if self.probe_images is not None and self.probe_images.shape[1:] != spec.shape:
            raise ConfigurationError(
                f"probe_images have shape {self.probe_images.shape[1:]}, the model takes {spec.shape}"
            )
        self._spec = spec
        self._plans = build_plans(
            self.model, self.layers, spec, self.methods, self.probe_images is not None, self.max_channels
        )
        self._workers = {}
        self._before_training = True
        self._last_step = self._final_step = None
        self._training_seconds = 0.0
        self.skipped_steps = []

    def on_epoch_begin(self, epoch, logs=None):
        self._print_pending()
        if self._before_training:
            self._before_training = False
            self._visualize(epoch, label="before training")
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
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
                self._report("writer", "close", error)
            self._writer = None

    # -- work ------------------------------------------------------------------------------
    def _visualize(self, step: int, label: str = "") -> None:
        if not self._chief:
            return
        started = time.perf_counter()
        written = 0
        writer = self._get_writer()
        if writer is None:
            return
        with writer.as_default(step=step):
            for plan in self._plans:
                for method in plan.methods:
                    began = time.perf_counter()
                    written += self._guarded(plan, method, lambda: self._write(plan, method, step))
                    self.method_timings.append((step, plan.name, method, time.perf_counter() - began))
        try:
            writer.flush()
        except Exception as error:
            self._report("writer", "flush", error)
        seconds = time.perf_counter() - started
        self._last_step = step
        self.timings.append((step, seconds))
        if self.verbose:
            what = label or f"after epoch {step}"
            self._pending_line = f"featviz: step {step} ({what}): {written} visualizations in {seconds:.1f} s"
            if label:  # before training: no Keras line to wait for
                self._print_pending()

    def _print_pending(self) -> None:
        """Prints the last timing line. Keras's progress bar ends an epoch's line after every
        other callback's on_epoch_end, so epoch-end lines wait for the next epoch or the end."""
        if self._pending_line:
            print(self._pending_line, flush=True)
            self._pending_line = None

    def _write(self, plan, method: str, step: int) -> bool:
        settings = {"input": self._spec.settings(), "num_channels": plan.num_channels}
        if method == metadata.METHOD_AM:
            worker = self._worker(plan, method)
            result = worker.run(plan.channels)
            _check_finite(result.activation, "activation")
            _check_finite(result.images, "AM image")
            return summary.activation_maximization(plan.name, result, step=step, settings={**settings, **self.am_options.settings()})
        if method == metadata.METHOD_DECONV:
            result = self._worker(plan, method).run(self.probe_images, plan.channels, top_k=self.top_k)
            _check_finite(result.projections, "deconv projection")
            return summary.deconvnet(plan.name, result, step=step, settings=settings)
        result = filter_weights(plan.ref.layer, plan.channels)
        _check_finite(result.kernels, "kernel")
        return summary.filter_weights(plan.name, result, step=step, settings=settings)

    def _worker(self, plan, method):
        key = (plan.name, method)
        if key not in self._workers:
            if method == metadata.METHOD_AM:
                selected = SelectedChannelsForward.for_layer(plan.ref)
                self._workers[key] = ActivationMaximizer(
                    plan.forward, plan.ref.layer, self._spec, self.am_options, selected
                )
            else:
                self._workers[key] = DeconvProjector(self.model, plan.forward, plan.ref.layer, plan.field, self.deconv_rule)
        return self._workers[key]

    def _guarded(self, plan, method, work) -> int:
        """Run one visualization; a failure is reported once and skipped, never raised into fit."""
        try:
            return int(bool(work()))
        except Exception as error:
            self._report(plan.name, method, error)
            return 0

    def _get_writer(self):
        if self._writer is None:
            try:
                self._writer = tf.summary.create_file_writer(self.logdir)
            except Exception as error:
                self._report("writer", "create", error)
        return self._writer

    def _report(self, layer: str, method: str, error: Exception) -> None:
        key = (layer, method, type(error).__name__)
        message = f"tb_featviz: {method} of {layer} failed and was skipped: {type(error).__name__}: {error}"
        if key in self._reported:
            log.debug(message)
            return
        self._reported.add(key)
        log.warning(message + " (further failures of this kind are logged at DEBUG level)")


def _check_finite(values: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(values)):
        raise FloatingPointError(f"{what} contains NaN or infinity")
