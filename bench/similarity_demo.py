"""When each layer of the demo settles: linear CKA of each layer with its own state after the last
epoch, over training (issue 27, "which layers have learned, as a number").

    python bench/similarity_demo.py             # the demo: its model, data, seed and fit, 5 epochs
    python bench/similarity_demo.py --smoke     # 1 epoch on 2,000 images, for CI
    python bench/similarity_demo.py --logdir runs/similarity_demo   # keep the records for the dashboard

It trains the demo's model as `python -m demo` does (seed 0, Adam 1e-3, batches of 128, the
60,000 training images, validation on the test set) with FeatVizCallback's similarity method on
the demo's four layers and its 256 probe images, at the demo's log schedule's steps (0, 10, 20,
50, 100, 200 and every epoch's end) and every `--every` steps besides (the callback never changes
training, so these are the demo's weights). From the records it prints, per layer, the first
global step whose CKA with the last record is at least 0.9, and the step from which it stays at
least 0.9: on the demo's own steps (what the dashboard shows) and on the denser ones.
"""

from __future__ import annotations

import argparse
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
from tb_featviz.methods.similarity import cka_of_grams, gram_of  # noqa: E402
from tb_featviz.records import read_records  # noqa: E402
from tb_featviz.schedule import log_steps  # noqa: E402

THRESHOLD = 0.9
BATCH_SIZE = 128


def settling(steps: list, values: list) -> tuple:
    """(first step with CKA >= THRESHOLD, first step from which it stays there) or None each."""
    reached = next((s for s, v in zip(steps, values) if v >= THRESHOLD), None)
    settled = None
    for s, v in zip(reversed(steps), reversed(values)):
        if v < THRESHOLD:
            break
        settled = s
    return reached, settled


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--every", type=int, default=25, help="also record every N steps (0: only the demo's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logdir", help="keep the records here (a run for the dashboard), else a temporary folder")
    args = parser.parse_args()
    x, y = fashion_mnist.load("train")
    x_test, y_test = fashion_mnist.load("test")
    epochs = 1 if args.smoke else args.epochs
    if args.smoke:
        x, y = x[:2000], y[:2000]
    steps_per_epoch = -(-len(x) // BATCH_SIZE)
    last = epochs * steps_per_epoch
    demo_steps = sorted({0, *log_steps(steps_per_epoch), *(steps_per_epoch * e for e in range(1, epochs + 1))})
    dense = set(range(0, last + 1, args.every)) if args.every else set()
    keras.utils.set_random_seed(args.seed)
    model = build_model()
    with tempfile.TemporaryDirectory() as scratch:
        logdir = args.logdir or scratch
        callback = FeatVizCallback(logdir, LAYERS, probe_images=x_test[:PROBE_IMAGES], methods=["similarity"],
                                   schedule=sorted(set(demo_steps) | dense), verbose=0)
        began = time.perf_counter()
        history = model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, validation_data=(x_test, y_test),
                            callbacks=[callback], verbose=0)
        seconds = time.perf_counter() - began
        records = read_records(logdir)
    grams = {layer: {step: gram_of(*record) for step, record in records[(layer, "similarity")].items()}
             for layer in LAYERS}
    print(f"demo model, {epochs} epochs of {steps_per_epoch} steps ({len(x)} images), seed {args.seed}: validation "
          f"accuracy {history.history['val_accuracy'][-1]:.4f}; fit with the records {seconds:.0f} s")
    print(f"CKA of each layer's Gram matrix on the {PROBE_IMAGES} probe images with its own after epoch {epochs} "
          f"(step {last}); global steps (epochs)\n")
    print("| layer | reaches 0.9 (demo's steps) | stays >= 0.9 from (demo's steps) | reaches 0.9 "
          f"(every {args.every}) | stays >= 0.9 from (every {args.every}) |")
    print("|---|---|---|---|---|")
    for layer in LAYERS:
        final = grams[layer][last]
        cells = []
        for chosen in (demo_steps, sorted(grams[layer])):
            steps = [s for s in chosen if s in grams[layer]]
            values = [cka_of_grams(grams[layer][s], final) for s in steps]
            cells += [f"{s} ({s / steps_per_epoch:.2f})" if s is not None else "never" for s in settling(steps, values)]
        print(f"| {layer} | " + " | ".join(cells) + " |")
    print("\nCKA with the layer's state after the last epoch, at the demo's steps:\n")
    print("| step | epoch | " + " | ".join(LAYERS) + " |")
    print("|---|---|" + "---|" * len(LAYERS))
    for step in demo_steps:
        values = [cka_of_grams(grams[layer][step], grams[layer][last]) for layer in LAYERS]
        print(f"| {step} | {step / steps_per_epoch:.2f} | " + " | ".join(f"{v:.3f}" for v in values) + " |")


if __name__ == "__main__":
    main()
