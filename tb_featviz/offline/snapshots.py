"""Weight snapshots: what training leaves for a renderer at each scheduled step.

One snapshot is one `.npz` file under `log_dir/.featviz/snapshots/`, named so that names sort by
global step (`<step>-<sequence>-<job>.npz`), written whole under a temporary name and renamed
into place: a renderer never sees half of one. It holds the model's weights in `model.weights`
order (`w0`, `w1`, ...) and a JSON `meta` entry: its job, global step, the position the records
will carry (epoch with its fraction) and whether a full backlog may drop it.

A renderer *claims* a snapshot before drawing it with a lock file created exclusively beside it
(`<snapshot>.lock`: host, pid, time; its time is refreshed at every record written). A lock
whose process is gone (same host) or that has not moved for `LEASE_SECONDS` is stale and taken
over, so a follower killed mid-render loses nothing: the snapshot stays until all its records
are written, then it and its lock are deleted. Exclusive creation is a local (and NFS) file
system's; on object stores (gs://) run one follower per log.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import socket
import time
import zipfile
from typing import Optional

import numpy as np

from tb_featviz import gfile
from tb_featviz.offline.job import FEATVIZ_DIR, _join

SNAPSHOT_VERSION = 1
LEASE_SECONDS = 600
_SUFFIX = ".npz"


class BadSnapshot(ValueError):
    """A snapshot file that is truncated, not a snapshot, or of another model."""


@dataclasses.dataclass
class Snapshot:
    path: str
    job: str
    step: int
    position: dict
    protected: bool  # step 0, the first epoch's points, the end: never dropped from a full backlog
    weights: list
    skip: list = dataclasses.field(default_factory=list)  # [layer, method] written already (a resumed fit)


def snapshots_dir(log_dir: str) -> str:
    return _join(log_dir, FEATVIZ_DIR, "snapshots")


def reference_path(log_dir: str, job: str) -> str:
    """A copy of the job's first snapshot, kept for the whole job: the step the attributions'
    sanity check compares with, for any renderer that did not draw that step itself."""
    return _join(log_dir, FEATVIZ_DIR, "references", f"{job}{_SUFFIX}")


def write_snapshot(log_dir: str, job: str, step: int, position: dict, weights: list, *, protected: bool,
                   sequence: int, skip=(), reference: bool = False) -> str:
    """Writes one snapshot (`reference`: also as the job's reference); returns its path. OSError
    (a full disk...) leaves no file behind."""
    directory = snapshots_dir(log_dir)
    files = gfile.for_path(directory)
    if not files.exists(directory):
        files.makedirs(directory)
    data = _encode(job, step, position, weights, protected, skip)
    path = _join(directory, f"{int(step):015d}-{sequence:06d}-{job}{_SUFFIX}")
    targets = [path]
    if reference:
        targets.insert(0, reference_path(log_dir, job))  # before the snapshot a renderer may take
        if not files.exists(os.path.dirname(targets[0])):
            files.makedirs(os.path.dirname(targets[0]))
    for target in targets:
        try:
            gfile.write_atomically(target, data)
        except Exception:
            _remove_quietly(f"{target}.partial-{os.getpid()}")
            raise
    return path


def mark_written(snapshot: Snapshot, keys) -> None:
    """Adds (layer, method) pairs to the ones a snapshot lists as written: a follower of some
    layers only (`follow --layers`) leaves the snapshot for the rest, and no record twice."""
    skip = sorted(set(snapshot.skip) | {tuple(key) for key in keys})
    gfile.write_atomically(snapshot.path, _encode(snapshot.job, snapshot.step, snapshot.position, snapshot.weights,
                                                  snapshot.protected, skip))
    snapshot.skip = skip


def _encode(job: str, step: int, position: dict, weights: list, protected: bool, skip) -> bytes:
    meta = {"version": SNAPSHOT_VERSION, "job": job, "step": int(step), "position": position,
            "protected": bool(protected), "weights": len(weights), "skip": [list(key) for key in skip]}
    buffer = io.BytesIO()
    arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(weights)}
    np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8), **arrays)
    return buffer.getvalue()


def read_reference(job) -> Optional[Snapshot]:
    """A `Job`'s reference snapshot, or None (a job from before references, or unreadable)."""
    path = reference_path(job.log_dir, job.id)
    if not gfile.for_path(path).exists(path):
        return None
    try:
        return read_snapshot(path, job.config["weights"])
    except BadSnapshot:
        return None


def list_snapshots(log_dir: str, job: Optional[str] = None) -> list:
    """Paths of the snapshots waiting (of `job` only, if given), oldest step first."""
    directory = snapshots_dir(log_dir)
    files = gfile.for_path(directory)
    if not files.exists(directory):
        return []
    names = sorted(name for name in files.listdir(directory) if name.endswith(_SUFFIX))
    if job is not None:
        names = [name for name in names if name[: -len(_SUFFIX)].split("-", 2)[-1] == job]
    return [_join(directory, name) for name in names]


def job_of(path: str) -> str:
    """The job a snapshot belongs to, from its name."""
    return os.path.basename(path)[: -len(_SUFFIX)].split("-", 2)[-1]


def read_snapshot(path: str, expected_weights: list) -> Snapshot:
    """A snapshot, checked against the job's weights (shapes, in order); BadSnapshot otherwise."""
    try:
        with gfile.for_path(path).GFile(path, "rb") as f:
            data = f.read()
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(bytes(archive["meta"]).decode("utf-8"))
            count = int(meta["weights"])
            weights = [archive[f"w{i}"] for i in range(count)]
    except Exception as error:  # noqa: BLE001 - any file that does not read (a folder so named: TensorFlow's
        # FailedPreconditionError) is not a whole snapshot
        raise BadSnapshot(f"{os.path.basename(path)} is not a whole snapshot ({type(error).__name__}: "
                          f"{str(error)[:120]})") from None
    if meta.get("version") != SNAPSHOT_VERSION or not isinstance(meta.get("position"), dict):
        raise BadSnapshot(f"{os.path.basename(path)} is a snapshot of another version ({meta.get('version')!r})")
    shapes = [tuple(w.shape) for w in weights]
    expected = [tuple(w["shape"]) for w in expected_weights]
    if shapes != expected:
        raise BadSnapshot(f"{os.path.basename(path)} holds {len(shapes)} weights that do not fit the job's model "
                          f"({len(expected)} weights)")
    skip = meta.get("skip") if isinstance(meta.get("skip"), list) else []
    return Snapshot(path, str(meta["job"]), int(meta["step"]), meta["position"], bool(meta.get("protected")), weights,
                    [tuple(key) for key in skip if isinstance(key, list) and len(key) == 2])


def set_aside(path: str) -> str:
    """Renames a bad snapshot to `.bad` (kept for a look, never tried again)."""
    target = f"{path}.bad"
    gfile.rename(path, target)
    _remove_quietly(f"{path}.lock")
    return target


def delete(path: str) -> None:
    """A snapshot whose records are all written: it goes, then its lock."""
    _remove_quietly(path)
    _remove_quietly(f"{path}.lock")


@dataclasses.dataclass
class Claim:
    """A renderer's hold on a snapshot (`claim`); `refresh` at every record keeps it fresh."""

    lock: Optional[str]
    took_over: bool = False  # from a renderer that died: some of its records may be written

    def refresh(self) -> None:
        if self.lock is not None:
            try:
                os.utime(self.lock)
            except OSError:
                pass

    def release(self) -> None:
        """Gives the snapshot back (its records could not all be written): it is tried again."""
        if self.lock is not None:
            _remove_quietly(self.lock)


def claim(path: str) -> Optional[Claim]:
    """The snapshot for this process alone, or None when another live renderer has it."""
    if "://" in path:
        return Claim(None)  # object stores have no exclusive create: one follower per log
    lock = f"{path}.lock"
    took_over = False
    for _ in range(2):
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _stale(lock):
                return None
            _remove_quietly(lock)  # its renderer is gone: take the snapshot over
            took_over = True
            continue
        with os.fdopen(descriptor, "w") as f:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}, f)
        if not os.path.exists(path):  # rendered and deleted by another renderer meanwhile
            _remove_quietly(lock)
            return None
        return Claim(lock, took_over)
    return None


def _stale(lock: str) -> bool:
    try:
        with open(lock) as f:
            owner = json.load(f)
        age = time.time() - os.stat(lock).st_mtime
    except (OSError, ValueError):
        return True  # unreadable or half written: its writer died
    if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
        return not alive(owner["pid"]) or age > LEASE_SECONDS
    return age > LEASE_SECONDS


def alive(pid: int) -> bool:
    """Whether a process of this machine is still running (a zombie counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_quietly(path: str) -> None:
    try:
        gfile.remove(path)
    except Exception:  # noqa: BLE001 - already gone, or never written
        pass
