"""FeatVizCallback's cost in the demo's training: without it, per epoch and on the log schedule, side by side.

    python bench/callback_overhead.py            # demo CNN, 60,000 images, 5 epochs, demo layers
    python bench/callback_overhead.py --smoke    # 1,000 images, 1 epoch, for CI

Trains the demo model (same seed, same data) without the callback, then with it at the demo's
settings on the "epoch" schedule (step 0, then every epoch) and on the "log" schedule (the demo's:
also steps 10, 20, 50, 100, 200 inside the first epoch), and prints each one's cost as a fraction
of training time and where the callback's time goes per (layer, method). Training time = fit's
wall time minus the callback's own time.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402

from demo import fashion_mnist  # noqa: E402
from demo.train import LAYERS, PROBE_IMAGES, build_model  # noqa: E402
from tb_featviz import FeatVizCallback  # noqa: E402


def fit_seconds(x, y, epochs, callbacks):
    keras.utils.set_random_seed(0)
    model = build_model()
    start = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=epochs, verbose=0, callbacks=callbacks)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-images", type=int, default=60000)
    parser.add_argument("--freq", type=int, default=1)
    parser.add_argument("--max-overhead", type=float, default=None)
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.train_images = 1, 1000
    x, y = fashion_mnist.load("train")
    x, y = x[: args.train_images], y[: args.train_images]
    probes, probe_labels = fashion_mnist.load("test")
    probes, probe_labels = probes[:PROBE_IMAGES], probe_labels[:PROBE_IMAGES]

    fit_seconds(x[:256], y[:256], 1, [])  # warm-up: TensorFlow's first-fit costs hit neither side
    plain = fit_seconds(x, y, args.epochs, [])
    runs = {}
    for schedule in ("epoch", "log"):
        with tempfile.TemporaryDirectory() as logdir:
            extra = {"max_overhead": args.max_overhead} if args.max_overhead is not None else {}
            callback = FeatVizCallback(logdir, LAYERS, probe_images=probes, probe_labels=probe_labels, verbose=0,
                                       freq=args.freq, schedule=schedule, **extra)
            runs[schedule] = (callback, fit_seconds(x, y, args.epochs, [callback]))
    print(f"demo CNN, {args.train_images} images x {args.epochs} epochs (batch 128), layers {list(LAYERS)}, "
          f"freq={args.freq}, max_overhead={args.max_overhead}")
    print()
    print("| measure | " + " | ".join(f"schedule={name!r}" for name in runs) + " |")
    print("|---|" + "---|" * len(runs))
    print("| fit without callback | " + " | ".join(f"{plain:.1f} s" for _ in runs) + " |")
    print("| fit with callback | " + " | ".join(f"{seconds:.1f} s" for _, seconds in runs.values()) + " |")
    rows = {"visualizations": [], "global steps": [], "callback's own time": [], "callback time / training time": [],
            "(with - without) / without": []}
    for callback, seconds in runs.values():
        visualizing = sum(t for _, t in callback.timings)
        rows["visualizations"].append(str(len(callback.timings)))
        rows["global steps"].append(", ".join(str(step) for step, _ in callback.timings))
        rows["callback's own time"].append(f"{visualizing:.1f} s")
        rows["callback time / training time"].append(f"**{100 * visualizing / (seconds - visualizing):.1f} %**")
        rows["(with - without) / without"].append(f"{100 * (seconds - plain) / plain:.1f} %")
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(values) + " |")
    print()
    callback = runs["log"][0]
    per_part = collections.defaultdict(float)
    for step, layer, method, seconds in callback.method_timings:
        if step != callback.timings[0][0]:  # step 0 includes one-time tracing
            per_part[(layer, method)] += seconds
    count = max(1, len(callback.timings) - 1)
    print("| layer / method (log schedule, per visualization after step 0) | seconds |")
    print("|---|---|")
    for (layer, method), seconds in sorted(per_part.items(), key=lambda kv: -kv[1]):
        print(f"| {layer} {method} | {seconds / count:.2f} |")
    if callback.timings:
        print(f"| step 0 (includes tracing) | {callback.timings[0][1]:.2f} |")


if __name__ == "__main__":
    main()
