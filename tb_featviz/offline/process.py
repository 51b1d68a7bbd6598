"""The training side of rendering off the training path: snapshots, their backlog, the child.

`SnapshotQueue` writes a snapshot at each scheduled step and keeps the backlog bounded;
`RenderProcess` starts the renderer as a child process (`follower.main`) at the lowest CPU
priority, restarts it once if it dies, and at the end of training waits for it with a progress
line, for at most `RenderOptions.timeout` seconds; after that the child goes on drawing on its
own and exits once the backlog is drawn.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from typing import Callable, Optional, Union

from tb_featviz import backend, checks
from tb_featviz.errors import ConfigurationError
from tb_featviz.offline import snapshots
from tb_featviz.offline.job import Job, _join

INLINE, PROCESS, SIDECAR = "inline", "process", "sidecar"
MODES = (INLINE, PROCESS, SIDECAR)
DEVICES = ("cpu", "same")
DEFAULT_BACKLOG = 16  # snapshots waiting for the render process before steps are skipped
AUTO = "auto"
WAIT_FRACTION = 0.10  # timeout="auto": the end of training waits at most this share of the fit


@dataclasses.dataclass(frozen=True)
class RenderOptions:
    """Where FeatVizCallback's pictures are drawn (`render=`; a mode name is these with defaults).

    mode: "inline" (in `fit`, training waits), "process" (a child process at the lowest CPU
      priority draws weight snapshots while training goes on), "sidecar" (only snapshots are
      written; `tb-featviz follow LOG_DIR` draws them, here or on another machine).
    timeout: seconds `on_train_end` waits at most for the render process's backlog; then `fit`
      returns and the render process goes on drawing what is left on its own. "auto" (default):
      a tenth of the fit's time so far, so that the fit takes at most 1.1x its time without the
      callback; None: until every snapshot is drawn (a script that reads the records next).
    max_backlog: snapshots waiting before a scheduled step is skipped (step 0, the first epoch's
      points and the end never are); default 16 for "process", unbounded for "sidecar".
    device: "cpu" (the render process leaves accelerators to training) or "same" (it sees what
      training sees).
    """

    mode: str = INLINE
    timeout: Union[float, str, None] = AUTO
    max_backlog: Optional[int] = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        checks.choice(self.mode, "render", MODES)
        if self.timeout is not None and not (isinstance(self.timeout, str) and self.timeout == AUTO):
            checks.number(self.timeout, "RenderOptions.timeout", minimum=0)
        if self.max_backlog is not None:
            checks.integer(self.max_backlog, "RenderOptions.max_backlog", 1)
        checks.choice(self.device, "RenderOptions.device", DEVICES)

    @classmethod
    def of(cls, value) -> "RenderOptions":
        if isinstance(value, RenderOptions):
            return value
        if isinstance(value, str):
            return cls(mode=value)
        raise ConfigurationError(f"render must be one of {list(MODES)} or a RenderOptions, got {value!r}")

    def wait_seconds(self, fit_seconds: float) -> Optional[float]:
        """How long the end of training waits for the backlog (None: until it is drawn)."""
        if isinstance(self.timeout, str):
            return WAIT_FRACTION * fit_seconds
        return self.timeout

    def backlog(self) -> Optional[int]:
        if self.max_backlog is not None:
            return self.max_backlog
        return DEFAULT_BACKLOG if self.mode == PROCESS else None


class SnapshotQueue:
    """Writes a job's snapshots and keeps their backlog within `limit` (None: unbounded)."""

    def __init__(self, job: Job, limit: Optional[int]):
        self.job = job
        self.limit = limit
        self.dropped: list = []  # global steps not rendered because the backlog was full
        self._sequence = 0

    def put(self, model, step: int, position: dict, *, protected: bool, skip=()) -> Optional[int]:
        """Writes a snapshot of `model`'s weights (OSError: nothing written). Returns the step
        dropped to keep the backlog bounded, if one was: this one, or (when this one is
        protected) the newest waiting unprotected one."""
        dropped = None
        if self.limit is not None:
            waiting = snapshots.list_snapshots(self.job.log_dir, self.job.id)
            if len(waiting) >= self.limit:
                if not protected:
                    self.dropped.append(int(step))
                    return int(step)
                dropped = self._drop_newest_unprotected(waiting)
        weights = [backend.numpy(variable.value) for variable in model.weights]
        self._sequence += 1
        snapshots.write_snapshot(self.job.log_dir, self.job.id, step, position, weights, protected=protected,
                                 sequence=self._sequence, skip=skip, reference=self._sequence == 1)
        return dropped

    def reference(self) -> Optional[snapshots.Snapshot]:
        """The job's first snapshot, kept as its reference (None if it could not be written)."""
        return snapshots.read_reference(self.job)

    def waiting(self) -> int:
        return len(snapshots.list_snapshots(self.job.log_dir, self.job.id))

    def _drop_newest_unprotected(self, waiting: list) -> Optional[int]:
        for path in reversed(waiting):
            if os.path.exists(f"{path}.lock"):
                continue  # being drawn
            try:
                snapshot = snapshots.read_snapshot(path, self.job.config["weights"])
            except snapshots.BadSnapshot:
                continue
            if not snapshot.protected and snapshots.claim(path) is not None:
                snapshots.delete(path)
                self.dropped.append(snapshot.step)
                return snapshot.step
        return None


class RenderProcess:
    """The child that draws a job's snapshots (`python -m tb_featviz.offline.follower`)."""

    def __init__(self, job: Job, device: str = "cpu", say: Callable[[str], None] = print):
        self.job = job
        self.device = device
        self.restarts = 0
        self.log_path = _join(job.directory, "render.log")
        self._say = say
        self._child: Optional[subprocess.Popen] = None

    def start(self) -> None:
        env = dict(os.environ, KERAS_BACKEND=backend.name(), TF_CPP_MIN_LOG_LEVEL="2")
        # The training script's import path (a module of custom layers or methods that it put on
        # sys.path itself): the child imports what the script could.
        env["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
        if self.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        with open(self.log_path, "ab") as log:
            # Its own session: Ctrl+C in the terminal stops training, while the child finishes
            # what training left and exits (it follows the parent's pid).
            self._child = subprocess.Popen(
                [sys.executable, "-m", "tb_featviz.offline.follower", self.job.log_dir, "--job", self.job.id,
                 "--parent", str(os.getpid())],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
            )

    @property
    def pid(self) -> Optional[int]:
        return self._child.pid if self._child is not None else None

    def exited(self) -> Optional[int]:
        """The child's exit code once it has exited, else None."""
        return None if self._child is None else self._child.poll()

    def keep_alive(self) -> bool:
        """Restarts a child that died once; False when it died again (render inline from now on)."""
        code = self.exited()
        if code is None:
            return True
        if self.restarts >= 1:
            return False
        self.restarts += 1
        self._say(f"the render process exited (code {code}; its log: {self.log_path}); started it again")
        self.start()
        return True

    def wait(self, timeout: Optional[float], queue: SnapshotQueue, progress: Callable[[str], None]) -> int:
        """Waits for the backlog to be drawn (at most `timeout` s); returns the snapshots left,
        which the child goes on drawing after training (it exits once they are drawn)."""
        began = next_line = time.monotonic()
        left = queue.waiting()
        while left:
            if self.exited() is not None and not self.keep_alive():
                break
            now = time.monotonic()
            if timeout is not None and now - began >= timeout:
                break
            if now >= next_line:  # a line at once, then every 5 s
                progress(f"rendering in the background: {left} snapshot{'s' if left != 1 else ''} left "
                         f"(render process {self.pid}, {now - began:.0f} s)")
                next_line = now + 5
            time.sleep(0.2)
            left = queue.waiting()
        if not left:
            self._reap(timeout=30)
        return left

    def _reap(self, timeout: float) -> None:
        try:
            self._child.wait(timeout)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()


def finish_off_the_path(queue: SnapshotQueue, process: Optional[RenderProcess], timeout: Optional[float],
                        say: Callable[[str], None]) -> None:
    """At the end of training: waits for the render process (at most `timeout` s) and says what
    is left for `tb-featviz follow`, and which steps a full backlog dropped."""
    log_dir, where = queue.job.log_dir, f"{queue.job.log_dir}/.featviz"
    if process is not None:
        left = process.wait(timeout, queue, say)
        if left and process.exited() is not None:  # it died again while training waited for it
            say(f"the render process exited (its log: {process.log_path}); {left} snapshot"
                f"{'s' if left != 1 else ''} wait in {where}: draw them with: tb-featviz follow {log_dir}")
        elif left:
            say(f"stopped waiting after {timeout:.3g} s: the render process (pid {process.pid}) goes on drawing the "
                f"{left} snapshot{'s' if left != 1 else ''} left in {where} and exits when they are drawn (if it "
                f"is stopped, draw them with: tb-featviz follow {log_dir})")
        else:
            say("every snapshot is drawn")
    elif queue.waiting():
        say(f"{queue.waiting()} snapshots wait in {where}: draw them with: tb-featviz follow {log_dir}")
    if queue.dropped:
        shown = ", ".join(map(str, queue.dropped[:10])) + (f", ... ({len(queue.dropped)} in all)"
                                                           if len(queue.dropped) > 10 else "")
        say(f"{len(queue.dropped)} scheduled steps were not drawn because the backlog was full "
            f"(max_backlog {queue.limit}): {shown}")
