"""How many AM steps a good image needs, and what early stop saves.

    python bench/am_convergence.py            # demo CNN trained 1 epoch on 12,000 images
    python bench/am_convergence.py --smoke    # untrained, few steps, for CI

For each step count N the default AM runs from the same seeded start (so runs differ only in N);
each channel's objective (its pre-activation, what AM maximizes) after N steps is compared with
what it reaches after the longest run, for channels whose longest-run objective is positive.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tb_featviz  # noqa: E402
from demo import fashion_mnist  # noqa: E402
from demo.train import build_model  # noqa: E402


def trained_demo_model(images: int):
    keras.utils.set_random_seed(0)
    model = build_model()
    if images:
        x, y = fashion_mnist.load("train")
        model.fit(x[:images], y[:images], batch_size=128, epochs=1, verbose=0)
    return model


def run(model, layer, steps, **options):
    start = time.perf_counter()
    result = tb_featviz.maximize_activation(model, layer, "all", steps=steps, **options)
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        model, layers, grid = trained_demo_model(0), ["conv2"], [2, 4, 8]
    else:
        model, layers, grid = trained_demo_model(12000), ["conv2", "conv3"], [
            4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512]
    longest = grid[-1]
    print("| layer | steps | median objective / objective at "
          f"{longest} | 10th percentile | time |")
    print("|---|---|---|---|---|")
    summary = {}
    for layer in layers:
        reference, _ = run(model, layer, longest)
        alive = reference.objective > 0
        reached = None
        for steps in grid:
            result, seconds = run(model, layer, steps)
            ratio = result.objective[alive] / reference.objective[alive]
            median, p10 = float(np.median(ratio)), float(np.percentile(ratio, 10))
            if reached is None and median >= 0.9:
                reached = steps
            print(f"| {layer} | {steps} | {median:.2f} | {p10:.2f} | {seconds:.2f} s |")
        summary[layer] = (reached, int(alive.sum()), len(reference.dead), int(reference.dead.sum()))

    print()
    print("| layer | steps to 90 % (median) | channels compared / all | flagged dead |")
    print("|---|---|---|---|")
    for layer, (reached, alive, total, dead) in summary.items():
        print(f"| {layer} | {reached} | {alive} / {total} | {dead} |")

    # Early stop: a threshold at the median objective the default 48 steps reach.
    layer = layers[-1]
    steps = 48 if not args.smoke else grid[-1]
    full, full_seconds = run(model, layer, steps)
    threshold = float(np.median(full.objective))
    stopped, stopped_seconds = run(model, layer, steps, threshold=threshold)
    print()
    print(f"| early stop on {layer} at threshold {threshold:.3g} ({steps} steps max) | value |")
    print("|---|---|")
    print(f"| mean steps run per channel | {stopped.steps_run.mean():.1f} of {steps} |")
    print(f"| time without / with early stop | {full_seconds:.2f} s / {stopped_seconds:.2f} s "
          f"({stopped_seconds / full_seconds:.2f}x) |")


if __name__ == "__main__":
    main()
