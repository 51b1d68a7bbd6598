"""The plugin's /cka route on a long similarity log: the first answer (every record read) and a
cached one, with TensorBoard's fast data server and with its Python loader, side by side.

    python bench/plugin_cka.py            # 4 layers x 101 steps of 256 probe images (the demo's
                                          # layers, recorded every 25 steps: 41 MB)
    python bench/plugin_cka.py --smoke    # 4 layers x 6 steps, for CI

The records are made here, not trained (Gram matrices of random activations, the demo's sizes),
and written with tb-featviz's own event writer; the route reads them as any log's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from tb_featviz.event_writer import EventFileWriter  # noqa: E402
from tb_featviz.methods.similarity.gram import SimilarityResult  # noqa: E402
from tests.tensorboard_server import TensorBoardServer  # noqa: E402

LAYERS = {"conv1": 25088, "conv2": 12544, "conv3": 3136, "logits": 10}  # the demo's values per image
PROBES = 256


def write_log(run_dir: str, steps: int) -> None:
    rng = np.random.default_rng(0)
    base = {layer: rng.standard_normal((PROBES, min(features, 512))) for layer, features in LAYERS.items()}
    writer = EventFileWriter(run_dir)
    for index in range(steps):
        for layer, features in LAYERS.items():
            x = base[layer] + 0.02 * index * rng.standard_normal(base[layer].shape)
            centred = x - x.mean(axis=0)
            factor = centred if features < (PROBES + 1) / 2 else None
            result = SimilarityResult(centred @ centred.T, features, factor, {})
            result.record(layer).write_to(writer, 25 * index, epoch=25 * index / 469)
    writer.close()


def timed_get(url: str) -> float:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        response.read()
    return time.perf_counter() - began


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--steps", type=int, default=101)
    args = parser.parse_args()
    steps = 6 if args.smoke else args.steps
    rows = []
    with tempfile.TemporaryDirectory() as logdir:
        write_log(os.path.join(logdir, "long"), steps)
        size = sum(f.stat().st_size for f in Path(logdir).rglob("events.out.tfevents.*"))
        for loader in ("--load_fast=true", "--load_fast=false"):
            with TensorBoardServer(logdir, loader) as tb:
                tb.wait_for_plugin()
                tb.wait_until(lambda: tb.json("/data/plugin/featviz/runs")["runs"], what="the run")
                tb.wait_until(lambda: len(tb.json("/data/plugin/featviz/run?run=long")["axis"]) == steps,
                              what="every step")
                url = tb.url + "/data/plugin/featviz/cka?run=long&method=similarity&layer=conv2"
                first, cached = timed_get(url), timed_get(url)
                other = timed_get(url.replace("conv2", "conv3"))  # records cached, a new answer
                rows.append((loader, first, cached, other))
    print(f"{len(LAYERS)} layers x {steps} steps of {PROBES} probe images ({size / 1e6:.0f} MB of records)\n")
    print("| loader | first answer (every record read) | the same again (cached) | another layer (records cached) |")
    print("|---|---|---|---|")
    for loader, first, cached, other in rows:
        print(f"| `{loader}` | {first:.2f} s | {cached:.3f} s | {other:.2f} s |")


if __name__ == "__main__":
    main()
