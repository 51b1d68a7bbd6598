"""Plugin route latency on a large synthetic log, in both TensorBoard loading modes.

    python bench/plugin_routes.py            # 512 channels x 200 epochs (about a minute)
    python bench/plugin_routes.py --smoke    # 64 channels x 12 epochs, for CI

Writes a log with one AM series of CHANNELS channels at EPOCHS+1 steps (PNG bytes reused from a
small pool, so writing is quick; the reader never decodes them anyway), starts a real
`tensorboard`, and times each route. Every latency is also given as a ratio to TensorBoard's own
`/data/environment` route measured in the same run: the HTTP floor of that server.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def write_log(logdir: str, channels: int, epochs: int) -> int:
    import tensorflow as tf

    from tb_featviz import imaging, metadata

    rng = np.random.default_rng(0)
    pool = [imaging.encode_png(rng.integers(0, 255, (32, 32, 1), dtype=np.uint8)) for _ in range(32)]
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        for step in range(epochs + 1):
            header = metadata.encode_header(
                layer="big", method="am", channels=range(channels),
                numbers={"activation": rng.random(channels).tolist(), "dead": [False] * channels,
                         "start_activation": rng.random(channels).tolist(), "steps": [48] * channels},
                image_shape=(32, 32, 1),
            )
            blobs = [header] + [pool[(step + c) % len(pool)] for c in range(channels)]
            tf.summary.write("big/am", tf.constant(blobs), step=step,
                             metadata=metadata.create_summary_metadata("big", "am"))
    writer.close()
    return sum(f.stat().st_size for f in Path(logdir).iterdir())


def timed(fn, repeats: int) -> float:
    """Median seconds of `repeats` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_mode(logdir: str, mode: str, channels: int, epochs: int, repeats: int) -> dict:
    from tests.tensorboard_server import TensorBoardServer

    start = time.perf_counter()
    with TensorBoardServer(logdir, f"--load_fast={mode}") as tb:
        tb.wait_for_plugin(timeout=300)

        def loaded():
            runs = tb.json("/data/plugin/featviz/runs")["runs"]
            detail = runs and tb.json(f"/data/plugin/featviz/run?run={runs[0]['name']}")
            return detail and detail["layers"][0]["methods"]["am"]["steps"][-1] == epochs

        tb.wait_until(loaded, timeout=600, what="all epochs loaded")
        load_seconds = time.perf_counter() - start
        base = "/data/plugin/featviz/"
        grid = tb.json(base + "grid?run=.&layer=big&method=am")
        evolution = tb.json(base + f"evolution?run=.&layer=big&method=am&channel={channels - 1}")
        assert len(grid["channels"]) == channels and len(evolution["frames"]) == epochs + 1

        def fetch_all(urls, workers):
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                for status, _, _ in pool.map(lambda u: tb.get(base + u), urls):
                    assert status == 200

        rows = {
            "floor (/data/environment)": timed(lambda: tb.get("/data/environment"), repeats),
            "runs listing": timed(lambda: tb.get(base + "runs"), repeats),
            f"grid JSON ({channels} channels)": timed(
                lambda: tb.get(base + "grid?run=.&layer=big&method=am&step=0"), repeats),
            f"grid images, all {channels} (6 parallel, like a browser)": timed(
                lambda: fetch_all(grid["images"]["image"], 6), max(1, repeats // 3)),
            f"evolution JSON ({epochs + 1} epochs)": timed(
                lambda: tb.get(base + f"evolution?run=.&layer=big&method=am&channel={channels - 1}"),
                repeats),
            f"evolution images, all {epochs + 1} (6 parallel)": timed(
                lambda: fetch_all([f["image"] for f in evolution["frames"]], 6), max(1, repeats // 3)),
        }
    return {"load_seconds": load_seconds, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    if args.smoke:
        args.channels, args.epochs, args.repeats = 64, 12, 3
    with tempfile.TemporaryDirectory() as logdir:
        size = write_log(logdir, args.channels, args.epochs)
        print(f"log: 1 series, {args.channels} channels x {args.epochs + 1} steps, "
              f"{size / 1e6:.1f} MB on disk")
        results = {mode: bench_mode(logdir, mode, args.channels, args.epochs, args.repeats)
                   for mode in ("true", "false")}
    print()
    print("| route | load_fast=true | x floor | load_fast=false | x floor |")
    print("|---|---|---|---|---|")
    floors = {mode: r["rows"]["floor (/data/environment)"] for mode, r in results.items()}
    for name in results["true"]["rows"]:
        cells = []
        for mode in ("true", "false"):
            seconds = results[mode]["rows"][name]
            cells += [f"{seconds * 1000:.1f} ms", f"{seconds / floors[mode]:.1f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"| TensorBoard start → all epochs listed | {results['true']['load_seconds']:.1f} s | | "
          f"{results['false']['load_seconds']:.1f} s | |")
    print(json.dumps({m: r["load_seconds"] for m, r in results.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
