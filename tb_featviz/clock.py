"""Where training is: the global step and the epoch with its fraction, from Keras's hooks.

TensorBoard's step axis is the optimizer's iteration count. The clock reads it once, when the
first epoch begins (BackupAndRestore has restored it by then), and then counts the batches Keras
reports: gradient accumulation, a skipped mixed-precision step or a `train_step` with optimizers
of its own (GANs) do not stop it.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from tb_featviz import metadata
from tb_featviz.schedule import format_epoch


class TrainingClock:
    """The global step and epoch position of a fit, advanced by the callback's hooks."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.global_step = 0  # the optimizer's count when fit began, plus the batches run since
        self.epoch = 0  # the epoch in progress (0-based, as Keras passes it)
        self.batches = 0  # batches run in the epoch in progress
        self.at_epoch_end = False
        self._epoch_start_step = 0
        self._epoch_start_iterations = 0  # the optimizer's count when the epoch began
        self._observed_epoch_length = None  # batches of the last whole epoch, when Keras does not say
        self._params: dict = {}

    def set_params(self, params: Optional[dict]) -> None:
        self._params = params or {}

    def begin_epoch(self, epoch: int, optimizer_step: int, first: bool) -> None:
        """At `on_epoch_begin`; `first`: the fit's first epoch (the optimizer's count is the start)."""
        self.epoch, self.batches, self.at_epoch_end = epoch, 0, False
        self._epoch_start_iterations = optimizer_step
        if first:
            self.global_step = optimizer_step
        self._epoch_start_step = self.global_step

    def continue_from(self, step: int) -> None:
        """Steps continue after `step` (a log that holds later records than the optimizer's count)."""
        self.global_step = self._epoch_start_step = step

    def end_batch(self, batch) -> int:
        """At `on_train_batch_end` with Keras's index of the last batch run (several per call with
        steps_per_execution); returns the global step before it."""
        previous = self.global_step
        valid = isinstance(batch, (int, np.integer)) and batch >= 0
        self.batches = int(batch) + 1 if valid else self.batches + 1
        self.global_step = self._epoch_start_step + self.batches
        return previous

    def end_epoch(self, optimizer_step: int, stop_training: bool) -> None:
        """At `on_epoch_end`. Keras also ends an epoch that `stop_training` cut short: that one is
        not complete. Of unknown length, an epoch that ends with training stopped may be either:
        its length is not learnt, and its end says batches, not a fraction."""
        if self.batches == 0:  # a custom loop that calls no batch hooks: the optimizer counted
            self.batches = max(0, optimizer_step - self._epoch_start_iterations)
            self.global_step = self._epoch_start_step + self.batches
        per_epoch = self.steps_per_epoch()
        self.at_epoch_end = (not stop_training) if per_epoch is None else self.batches >= per_epoch
        if not self._params.get("steps") and self.at_epoch_end:
            self._observed_epoch_length = self.batches or None

    def steps_per_epoch(self) -> Optional[int]:
        """Batches per epoch: Keras's count, else the last whole epoch's (datasets of unknown
        length); None during a first epoch of unknown length."""
        steps = self._params.get("steps")
        return int(steps) if steps else self._observed_epoch_length

    def position(self, moment: str) -> dict:
        """Where training is now, as records store it (`metadata.make_position`)."""
        per_epoch = self.steps_per_epoch()
        if self.at_epoch_end:
            completed, batch = self.epoch + 1, 0
        else:
            completed, batch = self.epoch, self.batches
        epoch = float(completed) if batch == 0 else (completed + batch / per_epoch if per_epoch else None)
        return metadata.make_position(self.global_step, epoch=epoch, epochs_completed=completed, batch=batch,
                                      steps_per_epoch=per_epoch, moment=moment)


def optimizer_step(model) -> int:
    """The optimizer's iteration count, restored by BackupAndRestore and kept by a model that
    trains on (0 without an optimizer, e.g. a custom loop)."""
    try:
        return max(0, int(model.optimizer.iterations.numpy()))
    except Exception:
        return 0


def describe_moment(position: dict) -> str:
    """'before training', 'Epoch 1, batch 10/469 = epoch 0.021' (Keras's 1-based epoch and the
    dashboard's epochs completed), 'after epoch 3', 'end of training, ...', 'resumed fit, ...'."""
    epoch, batch, per_epoch = position["epoch"], position["batch"], position["steps_per_epoch"]
    if batch == 0 and epoch is not None:
        where = f"after epoch {format_epoch(epoch)}"
    elif epoch is None:
        where = f"Epoch {position['epochs_completed'] + 1}, batch {batch}"
    else:
        where = f"Epoch {position['epochs_completed'] + 1}, batch {batch}/{per_epoch} = epoch {format_epoch(epoch)}"
    if position["moment"] == "start":
        return f"resumed fit, {where}" if position["global_step"] else "before training"
    return f"end of training, {where}" if position["moment"] == "end" else where
