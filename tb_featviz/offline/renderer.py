"""Draws snapshots into records: the same records, at the same step and position, as inline.

Each job's model is rebuilt from its architecture once and `prepare`d once (runners trace on
their first snapshot and are reused); a snapshot's weights are assigned to it, and
`Prepared.records` runs exactly what the callback runs inline.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable, Optional

from tb_featviz import backend
from tb_featviz import records as stored
from tb_featviz.event_writer import EventFileWriter, WriteFailed
from tb_featviz.offline import snapshots
from tb_featviz.offline.job import Job, read_job
from tb_featviz.prepare import Prepared, prepare

log = logging.getLogger("tb_featviz")


@dataclasses.dataclass
class Rendered:
    """What drawing one snapshot did (`SnapshotRenderer.render`)."""

    path: str
    step: Optional[int] = None
    position: Optional[dict] = None
    written: int = 0
    failed: int = 0
    seconds: float = 0.0
    outcome: str = "rendered"  # "rendered", "taken" (another renderer has it), "bad" (set aside),
    # "kept" (records could not be written: tried again later)
    problem: str = ""


class SnapshotRenderer:
    """Renders the snapshots of one log directory, job by job, into one event file of its own.

    `options`: {method: options} replacing the job's (a follower's --preset); `layers`: only
    these of the job's layers (None: all).
    """

    def __init__(self, log_dir: str, *, options: Optional[dict] = None, layers: Optional[list] = None,
                 on_failure: Optional[Callable] = None):
        self.log_dir = log_dir
        self._options = dict(options or {})
        self._layers = layers
        self._on_failure = on_failure or _log_failure
        self._prepared: dict = {}  # job id -> (Job, model, Prepared)
        self._tried: set = set()  # snapshots given back after a failed write: some records are out
        self.drawn: set = set()  # snapshots of which this renderer drew its layers and left the rest
        self._writer = EventFileWriter(log_dir)

    def job(self, job_id: str) -> tuple:
        """(Job, model, Prepared) of a job, built on first use."""
        if job_id not in self._prepared:
            try:
                job = read_job(self.log_dir, job_id)
            except Exception as error:  # noqa: BLE001 - no such job (a foreign snapshot), or a damaged one
                raise snapshots.BadSnapshot(f"its job {job_id!r} cannot be read: {str(error)[:200]}") from None
            model = job.build_model()
            layers = job.layers()
            if self._layers is not None:
                unknown = sorted(set(self._layers) - set(layers))
                if unknown:
                    from tb_featviz.errors import ConfigurationError

                    raise ConfigurationError(f"--layers {', '.join(unknown)}: the job renders {', '.join(layers)}")
                layers = {name: spec for name, spec in layers.items() if name in self._layers}
            prepared = prepare(model, layers, job.settings(self._options), job.methods(),
                               job.config["max_channels"], recorded=True)
            self._prepared[job_id] = (job, model, prepared)
        return self._prepared[job_id]

    def render(self, path: str) -> Rendered:
        """Claims, draws and deletes one snapshot (a bad one is set aside as `.bad`)."""
        claim = None if path in self.drawn else snapshots.claim(path)
        if claim is None:
            return Rendered(path, outcome="taken")
        began = time.perf_counter()
        try:
            job, model, prepared = self.job(snapshots.job_of(path))
            snapshot = snapshots.read_snapshot(path, job.config["weights"])
        except snapshots.BadSnapshot as error:
            snapshots.set_aside(path)
            return Rendered(path, outcome="bad", problem=str(error))
        except BaseException:
            claim.release()
            raise
        prime_references(model, prepared, lambda: snapshots.read_reference(job), snapshot.step)
        for variable, value in zip(model.weights, snapshot.weights):
            variable.assign(value)
        done = Rendered(path, snapshot.step, snapshot.position)
        skip = set(map(tuple, snapshot.skip)) | self._already_written(snapshot, claim)
        unwritten, written = 0, []
        for layer, method, record, _ in prepared.records(self._on_failure, skip, snapshot.step):
            if record is None:
                done.failed += 1  # a visualization that fails: skipped, as inline skips it
                continue
            try:
                self._writer.write(record.at(snapshot.position).event(snapshot.step))
            except WriteFailed as error:
                unwritten += 1
                self._on_failure(layer, method, error)
                continue
            done.written += 1
            written.append((layer, method))
            claim.refresh()
        if unwritten:
            self._tried.add(path)
            claim.release()  # kept for another try: the records it could not write are not lost
            done.outcome, done.problem = "kept", f"{unwritten} records could not be written"
        elif self._layers is not None:  # the job's other layers are still to be drawn (by another follower)
            try:
                snapshots.mark_written(snapshot, written)
            except Exception as error:  # noqa: BLE001 - a full disk: the next follower draws them again
                log.warning("tb_featviz: could not mark %s's records as written: %s", path, error)
            self.drawn.add(path)
            claim.release()
        else:
            snapshots.delete(path)  # only once all its records are written
        done.seconds = time.perf_counter() - began
        return done

    def _already_written(self, snapshot, claim) -> set:
        """(layer, method) with a record at this step already: only a snapshot taken over from a
        renderer that died mid-way has some (read from the log then, not every time)."""
        if not claim.took_over and snapshot.path not in self._tried:
            return set()
        found = stored.steps_since(self.log_dir, snapshot.step)
        return {key for key, steps in found.items() if snapshot.step in steps}

    def close(self) -> None:
        self._writer.close()


def prime_references(model, prepared: Prepared, load_reference: Callable, step: int, *, restore: bool = False) -> None:
    """Runners that compare every step with the job's first (the attributions' sanity check,
    `runner.wants_reference`) and did not draw that step learn it here from the job's reference
    snapshot (`load_reference()`, None if there is none): so a restarted render process, a second
    follower, or the callback drawing inline after its child died, compare with the step inline
    compares with. `restore`: put the model's own weights back (the training model)."""
    wanting = {key for key, runner in prepared.runners.items() if getattr(runner, "wants_reference", False)}
    if not wanting:
        return
    reference = load_reference()
    if reference is None or reference.step == step:  # none kept, or this step is the reference itself
        return
    saved = [backend.numpy(variable.value) for variable in model.weights] if restore else None
    try:
        for variable, value in zip(model.weights, reference.weights):
            variable.assign(value)
        for _ in prepared.records(lambda *_: None, set(prepared.runners) - wanting, reference.step):
            pass  # the records are the reference step's, written when that step was drawn
    finally:
        for variable, value in zip(model.weights, saved or ()):
            variable.assign(value)


def _log_failure(layer: str, method: str, error: Exception) -> None:
    log.warning("tb_featviz: %s of %s failed and was skipped: %s: %s", method, layer, type(error).__name__, error)


__all__ = ["Job", "Prepared", "Rendered", "SnapshotRenderer", "prime_references"]
