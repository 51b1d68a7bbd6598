"""Following a log: render its snapshots as they arrive, until the run's end is rendered.

`tb-featviz follow LOG_DIR` runs this on any machine that sees the log (as Keras's
`SidecarEvaluator` follows checkpoints); FeatVizCallback(render="process") runs it as its child,
at the lowest CPU priority, for its own job (`python -m tb_featviz.offline.follower`). Several
followers split a log's snapshots between them (each claims one before drawing it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable, Optional

from tb_featviz.offline import snapshots
from tb_featviz.offline.job import list_jobs, read_job

POLL_SECONDS = 0.5


def follow(log_dir: str, *, job: Optional[str] = None, options: Optional[dict] = None, layers: Optional[list] = None,
           forever: bool = False, parent: Optional[int] = None, say: Callable[[str], None] = print) -> int:
    """Renders until every job (or `job`) has ended and its snapshots are drawn; with `forever`
    until interrupted; with `parent`, also once that process is gone and nothing is left.
    Returns the number of snapshots rendered."""
    from tb_featviz.offline.renderer import SnapshotRenderer

    if not forever and job is None and not list_jobs(log_dir) and not snapshots.list_snapshots(log_dir):
        say(f"no snapshots in {log_dir}: FeatVizCallback(render=\"sidecar\") or (\"process\") writes them "
            f"under {log_dir}/.featviz; nothing to do")
        return 0
    renderer = SnapshotRenderer(log_dir, options=options, layers=layers)
    rendered = 0
    try:
        while True:
            waiting = snapshots.list_snapshots(log_dir, job)
            for path in waiting:
                done = renderer.render(path)
                if done.outcome == "taken":
                    continue
                if done.outcome == "bad":
                    say(f"skipped {os.path.basename(path)}: {done.problem} (set aside as .bad)")
                    continue
                rendered += done.outcome == "rendered"
                say(_line(done))
            if forever:
                time.sleep(POLL_SECONDS)
                continue
            left = [path for path in snapshots.list_snapshots(log_dir, job) if path not in renderer.drawn]
            if not left and (_all_ended(log_dir, job) or (parent is not None and not snapshots.alive(parent))):
                return rendered
            if not left or all(path in waiting for path in left):
                time.sleep(POLL_SECONDS)  # nothing new: the training is between scheduled steps
    finally:
        renderer.close()


def _all_ended(log_dir: str, job: Optional[str]) -> bool:
    ids = [job] if job is not None else list_jobs(log_dir)
    return bool(ids) and all(read_job(log_dir, i).ended() is not None for i in ids)


def _line(done) -> str:
    from tb_featviz.schedule import format_epoch

    epoch = (done.position or {}).get("epoch")
    where = f"step {done.step}" + (f" (epoch {format_epoch(epoch)})" if epoch is not None else "")
    line = f"rendered {where}: {done.written} record{'s' if done.written != 1 else ''} in {done.seconds:.1f} s"
    if done.failed:
        line += f"; {done.failed} failed (see the warnings)"
    if done.outcome == "kept":
        line += f"; {done.problem}: kept for another try"
    return line


def lowest_cpu_priority() -> None:
    """Training first, pictures from what is left.

    The child runs in a session of its own (Ctrl+C in the terminal stops only training), and
    where Linux groups the scheduler by session (autogroup) `nice` ranks only within a group:
    the child's own group would get half the CPU however nice it is. So the group is made
    nice too (BENCHMARKS §4: it does not close the gap on a 2-core VM, where the child mostly
    uses cycles training leaves idle).
    """
    try:
        os.nice(19)
    except (AttributeError, OSError):
        pass
    try:
        with open("/proc/self/autogroup", "w") as group:
            group.write("19")
    except OSError:  # not Linux, or no autogroup: nice alone ranks the child
        pass


def main(argv=None) -> int:
    """The render process FeatVizCallback(render="process") starts (not a user command)."""
    parser = argparse.ArgumentParser(prog="python -m tb_featviz.offline.follower")
    parser.add_argument("log_dir")
    parser.add_argument("--job", required=True)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    lowest_cpu_priority()
    from tb_featviz.quiet_import import import_tensorflow_quietly

    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        import_tensorflow_quietly()
    stamp = lambda text: print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)  # noqa: E731
    follow(args.log_dir, job=args.job, parent=args.parent, say=stamp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
