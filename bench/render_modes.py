"""Where the pictures are drawn, and what training pays for them: the demo at its defaults.

    python bench/render_modes.py              # demo CNN, 60,000 images, 5 epochs, log schedule
    python bench/render_modes.py --smoke      # 1,000 images, 1 epoch, for CI
    python bench/render_modes.py --quality    # also: what the quality preset costs off the clock

Trains the demo model (same seed, same data, the demo's layers, probes and log schedule) without
the callback and with `render="inline"`, `"process"` and `"sidecar"` (then `tb-featviz follow`
after the fit), alternating, and prints per contender the median over `--repeats` of: the fit's
wall time (and its ratio to the fit without the callback: the goal for "process" is at most
1.10), the time until the last record is written (counted from the start of the fit), and what
one snapshot costs the training. With `--quality`, a follower with `--preset quality` draws a
sidecar log, and the time per drawn step is printed for both presets.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402

from demo import fashion_mnist  # noqa: E402
from demo.train import LAYERS, PROBE_IMAGES, build_model  # noqa: E402
from tb_featviz import FeatVizCallback  # noqa: E402


def fit(x, y, epochs, callbacks) -> float:
    keras.utils.set_random_seed(0)
    model = build_model()
    began = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=epochs, verbose=0, callbacks=callbacks)
    return time.perf_counter() - began


def last_record_written(log_dir: str) -> float:
    """The newest event file's last modification (when the last record reached the disk)."""
    files = glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))
    return max((os.path.getmtime(path) for path in files), default=float("nan"))


def follow(log_dir: str, *flags: str) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tb_featviz.cli", "follow", log_dir, *flags], check=True,
                   capture_output=True, cwd=ROOT)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-images", type=int, default=60000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--modes", default="none,inline,process,sidecar",
                        help="the contenders, comma-separated (none is always measured)")
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.train_images, args.repeats = 1, 1000, 1
    x, y = fashion_mnist.load("train")
    x, y = x[: args.train_images], y[: args.train_images]
    probes, labels = fashion_mnist.load("test")
    probes, labels = probes[:PROBE_IMAGES], labels[:PROBE_IMAGES]
    fit(x[:256], y[:256], 1, [])  # warm-up: TensorFlow's first-fit costs hit no contender

    modes = ("none", *[mode for mode in args.modes.split(",") if mode != "none"])
    fits = {mode: [] for mode in modes}
    done = {mode: [] for mode in modes}
    snapshot = []
    sidecar_logs = []
    for _ in range(args.repeats):
        for mode in modes:  # alternating: a slow moment of the machine hits every contender
            log_dir = tempfile.mkdtemp(prefix=f"featviz-{mode}-")
            callbacks = [] if mode == "none" else [FeatVizCallback(
                log_dir, LAYERS, probe_images=probes, probe_labels=labels, render=mode, verbose=0)]
            began = time.time()
            fits[mode].append(fit(x, y, args.epochs, callbacks))
            if mode == "sidecar":
                sidecar_logs.append(log_dir)
                follow(log_dir)
            if mode != "none":
                done[mode].append(last_record_written(log_dir) - began)
            if mode in ("process", "sidecar"):
                snapshot.extend(seconds for _, seconds in callbacks[0].timings)
    plain = statistics.median(fits["none"])
    print(f"demo CNN, {args.train_images} images x {args.epochs} epochs (batch 128), layers {list(LAYERS)}, "
          f"log schedule, {PROBE_IMAGES} probes; medians of {args.repeats}, alternating")
    print()
    print("| render | fit's wall time | vs without | last record written after |")
    print("|---|---|---|---|")
    for mode in modes:
        wall = statistics.median(fits[mode])
        last = f"{statistics.median(done[mode]):.1f} s" if done[mode] else "—"
        note = " (follower after the fit)" if mode == "sidecar" else ""
        print(f"| {mode} | {wall:.1f} s | {wall / plain:.2f}x | {last}{note} |")
    if snapshot:
        print(f"\none snapshot (the callback's time at a scheduled step, process and sidecar): median "
              f"{1000 * statistics.median(snapshot):.1f} ms, max {1000 * max(snapshot):.1f} ms")
    if args.quality and sidecar_logs:
        # The same snapshots drawn with the quality preset: copy the job and snapshots first.
        log_dir = tempfile.mkdtemp(prefix="featviz-quality-")
        keras.utils.set_random_seed(0)
        fit(x, y, args.epochs, [FeatVizCallback(log_dir, LAYERS, probe_images=probes, probe_labels=labels,
                                                render="sidecar", verbose=0)])
        steps = len(glob.glob(os.path.join(log_dir, ".featviz", "snapshots", "*.npz")))
        quality = follow(log_dir, "--preset", "quality")
        fast = statistics.median(done["sidecar"]) - statistics.median(fits["sidecar"])
        print(f"\nfollower drawing {steps} steps: fast preset {fast:.1f} s ({fast / steps:.2f} s a step), "
              f"quality preset {quality:.1f} s ({quality / steps:.2f} s a step)")


if __name__ == "__main__":
    main()
