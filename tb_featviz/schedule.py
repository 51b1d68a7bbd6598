"""When the callback visualizes: a schedule in training steps, dense early where features form.

Zeiler & Fergus show epochs 1, 2, 5, 10, 20, 30, 40, 64: features change fastest at the start.
The "log" schedule does the same in optimizer steps: step 0, then 1-2-5 points per decade
(10, 20, 50, 100, 200, 500, ...) while they are denser than the per-epoch points, then every
`freq` epochs. Steps are global (the optimizer's count when fit begins, plus the batches run
since), so a resumed run continues the schedule where it stopped instead of starting it again.
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from tb_featviz import checks
from tb_featviz.errors import ConfigurationError

LOG = "log"
EPOCH = "epoch"
_FIRST_LOG_STEP = 10
_MAX_EXPLICIT_STEPS = 100_000
_MAX_FREQ = 1_000_000  # epochs

FreqSpec = Union[int, str]
ScheduleSpec = Union[str, Sequence[int], None]


def format_epoch(epoch: float) -> str:
    """Epochs as the dashboard writes them: '3', '0.021' (two significant digits below 1), '2.25'."""
    if float(epoch).is_integer():
        return str(int(epoch))
    return f"{epoch:.2g}" if epoch < 1 else f"{epoch:.2f}".rstrip("0")


def log_steps(below: Optional[int]) -> Iterable[int]:
    """10, 20, 50, 100, 200, 500, ... (1-2-5 per decade), each < `below` (endless if None)."""
    decade = _FIRST_LOG_STEP
    while True:
        for factor in (1, 2, 5):
            point = factor * decade
            if below is not None and point >= below:
                return
            yield point
        decade *= 10


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Which batch ends and epoch ends are visualized. Step 0 (the start) and the end of
    training are always visualized by the callback, whatever the schedule."""

    kind: str  # LOG, EPOCH, or "steps" (explicit)
    freq: int = 1  # epochs between per-epoch points (LOG and EPOCH)
    steps: tuple = ()  # explicit global steps, sorted ("steps")

    @classmethod
    def checked(cls, freq: FreqSpec = EPOCH, schedule: ScheduleSpec = LOG) -> "Schedule":
        """From the callback's `freq` and `schedule` arguments; raises ConfigurationError."""
        if isinstance(freq, str):  # numpy's str_ too
            if freq != EPOCH:
                raise ConfigurationError(f"freq counts epochs (like histogram_freq): 'epoch' or an int >= 1, got "
                                         f"{freq!r}; for points inside epochs use schedule='log' or a list of steps")
            freq = 1
        else:
            try:
                freq = checks.integer(freq, "freq", 1)
                if freq > _MAX_FREQ:
                    raise ConfigurationError("too large")
            except ConfigurationError:
                raise ConfigurationError(f"freq counts epochs (like histogram_freq): 'epoch' or an int >= 1, got "
                                         f"{freq!r}; for points inside epochs use schedule='log' or a list of steps"
                                         ) from None
        if schedule is None:
            schedule = EPOCH
        if isinstance(schedule, str):
            if schedule not in (LOG, EPOCH):
                raise ConfigurationError(
                    f"schedule must be 'log', 'epoch' or a list of global steps, got {schedule!r}")
            return cls(schedule, freq)
        steps = _explicit_steps(schedule)
        if freq != 1:
            raise ConfigurationError("freq (every_n_epochs) applies to the 'log' and 'epoch' schedules; an "
                                     "explicit schedule lists every global step to visualize")
        return cls("steps", 1, steps)

    def due_in_epoch(self, previous: int, current: int, steps_per_epoch: Optional[int], epoch: int) -> bool:
        """Whether a scheduled step lies in (previous, current]: the batches that just ran
        (several at once with `steps_per_execution`). `epoch` is the 0-based epoch in progress."""
        if current <= previous:
            return False
        if self.kind == "steps":
            at = bisect.bisect_right(self.steps, previous)
            return at < len(self.steps) and self.steps[at] <= current
        if self.kind != LOG:
            return False
        # Log points stop where the per-epoch points take over: the end of epoch `freq`. With
        # an unknown epoch length, while the first `freq` epochs run.
        if steps_per_epoch is None:
            if epoch >= self.freq:
                return False
            below = None
        else:
            below = self.freq * steps_per_epoch
        for point in log_steps(below):
            if point > current:
                return False
            if point > previous:
                return True
        return False

    def due_at_epoch_end(self, epochs_completed: int) -> bool:
        """Whether the end of epoch `epochs_completed` (1-based, as Keras prints) is scheduled."""
        return self.kind in (LOG, EPOCH) and epochs_completed % self.freq == 0

    def describe(self, steps_per_epoch: Optional[int] = None, first: int = 0, last: Optional[int] = None) -> str:
        """In words, for the callback's first lines: what this fit, starting at global step
        `first` (and ending at `last`, when known), will write."""
        every = "every epoch" if self.freq == 1 else f"every {self.freq} epochs"
        start = f"the start (step {first})"
        if self.kind == "steps":
            coming = [s for s in self.steps if s > first]
            shown = ", ".join(str(s) for s in coming[:8]) + (", ..." if len(coming) > 8 else "")
            text = f"{start}, steps {shown} and the end of training" if coming else f"{start} and the end of training"
            late = [s for s in coming if last is not None and s > last]
            if late:
                text += f" ({len(late)} listed step{'s' if len(late) > 1 else ''} after this fit's last, {last})"
            return text
        if self.kind == EPOCH:
            return f"{start}, then {every}"
        window = "one epoch" if self.freq == 1 else f"{self.freq} epochs"
        if steps_per_epoch is None:
            return f"{start}, steps 10, 20, 50, 100, ... until {window} ends (its length is not known yet), then {every}"
        below = self.freq * steps_per_epoch
        points = [str(p) for p in log_steps(below) if p > first]
        if points:
            shown = ", ".join(points[:9]) + (", ..." if len(points) > 9 else "")
            return f"{start}, steps {shown} (the log points below step {below}: {window}), then {every}"
        if first > 0 and any(True for _ in log_steps(below)):
            return f"{start}, then {every} (the log points, below step {below}, are behind this fit)"
        return f"{start}, then {every} ({window}: {below} steps, too few for the log points 10, 20, 50, ...)"


def _explicit_steps(schedule) -> tuple:
    if isinstance(schedule, (bytes, bytearray, memoryview, dict)) or not hasattr(schedule, "__iter__"):
        raise ConfigurationError(f"schedule must be 'log', 'epoch' or a list of global steps, got {schedule!r}")
    if isinstance(schedule, np.ndarray) and schedule.ndim != 1:
        raise ConfigurationError(f"schedule must be a flat list of global steps, got an array of shape {schedule.shape}")
    steps = []
    for value in schedule:
        if len(steps) >= _MAX_EXPLICIT_STEPS:
            raise ConfigurationError(f"schedule lists more than {_MAX_EXPLICIT_STEPS} steps")
        try:
            steps.append(checks.integer(value, "schedule steps", 0))
        except ConfigurationError:
            raise ConfigurationError(f"schedule must list global steps (ints >= 0), got {value!r}") from None
    if not steps:
        raise ConfigurationError("schedule lists no steps; give 'log', 'epoch' or some global steps")
    return tuple(sorted(set(steps)))
