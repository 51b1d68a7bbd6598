"""What the similarity records cost in the demo: seconds per visualization pass and bytes per step,
beside the whole pass the demo's callback makes (issue 27; goals: under 5 % of a pass, under 1 MB
a step).

    python bench/similarity_cost.py            # the demo's callback, 3 passes after the first
    python bench/similarity_cost.py --smoke    # 1 pass after the first, for CI

The demo's FeatVizCallback (its four layers, 256 probe images with labels, every method that
applies: similarity among them) runs in a real `fit` of the demo's model on a few batches, one
visualization pass at each epoch's end. The first pass (step 0) traces every compiled function
and is left out. Times are the callback's own per-(layer, method) timings (`method_timings`);
bytes are the records as stored (header and elements). Last, the precision of what is stored:
CKA between every two layers from the last records against float64 from the same activations
(and what float16 storage would give).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from demo import fashion_mnist  # noqa: E402
from demo.train import LAYERS, PROBE_IMAGES, build_model  # noqa: E402
from tb_featviz import FeatVizCallback  # noqa: E402
from tb_featviz.methods.similarity import centred_gram, cka_of_grams, gram_of  # noqa: E402
from tb_featviz.records import read_records  # noqa: E402

METHOD = "similarity"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    passes = 1 if args.smoke else args.passes
    x, y = fashion_mnist.load("train")
    x_test, y_test = fashion_mnist.load("test")
    keras.utils.set_random_seed(0)
    model = build_model()
    with tempfile.TemporaryDirectory() as logdir:
        callback = FeatVizCallback(logdir, LAYERS, probe_images=x_test[:PROBE_IMAGES],
                                   probe_labels=y_test[:PROBE_IMAGES], class_names=fashion_mnist.CLASS_NAMES,
                                   schedule="epoch", verbose=0)
        model.fit(x[:1280], y[:1280], batch_size=128, epochs=passes, verbose=0, callbacks=[callback])
        records = read_records(logdir)
    warm = [(step, layer, method, seconds) for step, layer, method, seconds in callback.method_timings if step > 0]
    steps = sorted({step for step, *_ in warm})
    per_pass = {step: sum(s for st, _, _, s in warm if st == step) for step in steps}
    ours = {step: sum(s for st, _, m, s in warm if st == step and m == METHOD) for step in steps}
    sizes = {}
    for (layer, method), series in records.items():
        for step, (header, elements) in series.items():
            if step > 0:
                size = len(str(header).encode()) + sum(len(e) for e in elements)
                sizes.setdefault(step, {}).setdefault(method, 0)
                sizes[step][method] += size
    methods = sorted({m for per in sizes.values() for m in per})
    total_bytes = np.mean([sum(per.values()) for per in sizes.values()])
    our_bytes = np.mean([per.get(METHOD, 0) for per in sizes.values()])
    layers = [layer for layer in LAYERS if (layer, METHOD) in records]
    print(f"the demo's callback on {len(layers)} layers ({', '.join(layers)}), {PROBE_IMAGES} probe images, "
          f"{len(steps)} passes after the first; methods: {', '.join(methods)}\n")
    print("| what | similarity records | the whole pass (every method) | ratio | goal |")
    print("|---|---|---|---|---|")
    t_ours, t_all = np.mean(list(ours.values())), np.mean(list(per_pass.values()))
    print(f"| seconds per visualization pass | {t_ours:.3f} s | {t_all:.1f} s | {100 * t_ours / t_all:.2f} % | < 5 % |")
    print(f"| bytes per step | {our_bytes / 1e6:.3f} MB | {total_bytes / 1e6:.3f} MB | "
          f"{100 * our_bytes / total_bytes:.1f} % | < 1 MB |")
    print("\nper layer (seconds per pass, bytes per step):\n")
    print("| layer | similarity s | every method s | similarity bytes | stored as |")
    print("|---|---|---|---|---|")
    for layer in layers:
        mine = np.mean([s for st, la, m, s in warm if la == layer and m == METHOD])
        every = np.mean([sum(s for st, la, _, s in warm if la == layer and st == step) for step in steps])
        header, elements = records[(layer, METHOD)][steps[-1]]
        stored = header["layout"]["gram"]
        print(f"| {layer} | {mine:.3f} | {every:.2f} | {sum(len(e) for e in elements):,} | "
              f"{stored['form']} {tuple(stored['shape'])} float32 |")

    print("\nprecision: CKA between two layers from the stored records (last step) against float64 from the "
          "same activations, largest difference over the pairs:\n")
    probes = x_test[:PROBE_IMAGES]
    exact = {layer: centred_gram(keras.ops.convert_to_numpy(keras.Model(model.inputs, model.get_layer(layer).output)(
        keras.ops.convert_to_tensor(probes)))) for layer in layers}
    stored = {layer: gram_of(*records[(layer, METHOD)][steps[-1]]) for layer in layers}
    pairs = [(a, b) for a in layers for b in layers if a < b]
    half = {layer: (g / np.abs(g).max()).astype(np.float16).astype(np.float64) for layer, g in exact.items()}
    print("| stored as | largest CKA difference | pairs |")
    print("|---|---|---|")
    for name, grams in (("float32 (the records)", stored), ("float16 (not used)", half)):
        worst = max(abs(cka_of_grams(grams[a], grams[b]) - cka_of_grams(exact[a], exact[b])) for a, b in pairs)
        print(f"| {name} | {worst:.1e} | {len(pairs)} |")


if __name__ == "__main__":
    main()
