"""Concurrent dashboard clients while a training writes: errors, latency percentiles, memory.

    python bench/plugin_concurrency.py            # 8 clients for 60 s
    python bench/plugin_concurrency.py --smoke    # 3 clients for 8 s (CI; fails on any error)

For the first half, a writer thread appends one epoch (4 layers x 64 channels, AM records) every
half second to a logdir served by a real `tensorboard`, while each client polls the run listing,
the latest grid with 8 of its images, and one channel's evolution, as an open dashboard does.
For the second half the data stays fixed and the clients poll on: TensorBoard's memory must
level off (the plugin's caches are bounded). Loopback only; the process exits non-zero on any
error or if memory grows more than 30 MB from the first to the last third of that half.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.plugin_load import rss_mb, smooth_image  # noqa: E402
from tb_featviz import summary  # noqa: E402

LAYERS, CHANNELS = 4, 64
MAX_GROWTH_MB = 30


def writer_thread(logdir, stop, written):
    rng = np.random.default_rng(0)
    images = [[smooth_image(rng, 28)] for _ in range(CHANNELS)]
    writer = tf.summary.create_file_writer(logdir)
    step = 0
    while not stop.is_set():
        with writer.as_default():
            for index in range(LAYERS):
                summary.write_record(f"conv{index + 1}", "am", range(CHANNELS), images,
                                     {"activation": rng.random(CHANNELS).tolist(),
                                      "dead": [False] * CHANNELS}, step=step)
        writer.flush()
        written.append(step)
        step += 1
        stop.wait(0.5)
    writer.close()


def client(tb, stop, latencies, errors, seed):
    rng = random.Random(seed)
    base = "/data/plugin/featviz/"
    while not stop.is_set():
        layer = f"conv{rng.randint(1, LAYERS)}"
        requests = [base + "runs", base + f"grid?run=.&layer={layer}&method=am",
                    base + f"evolution?run=.&layer={layer}&method=am&channel={rng.randrange(CHANNELS)}"]
        for path in requests:
            start = time.perf_counter()
            status, body, _ = tb.get(path)
            latencies.setdefault(path.split("?")[0].rsplit("/", 1)[1], []).append(time.perf_counter() - start)
            if status == 404 and b"no records" in body:
                continue  # the series is not there yet at the very start
            if status != 200:
                errors.append((path, status, body[:200]))
            elif "grid?" in path:
                for url in json.loads(body)["images"]["image"][:8]:
                    start = time.perf_counter()
                    image_status = tb.get(base + url)[0]
                    latencies.setdefault("image", []).append(time.perf_counter() - start)
                    if image_status != 200:
                        errors.append((url, image_status, b""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.seconds = 3, 8
    from tests.tensorboard_server import TensorBoardServer

    with tempfile.TemporaryDirectory() as logdir:
        stop_writing, written = threading.Event(), []
        writer = threading.Thread(target=writer_thread, args=(logdir, stop_writing, written))
        writer.start()
        try:
            with TensorBoardServer(logdir) as tb:
                tb.wait_for_plugin()
                tb.wait_until(lambda: tb.json("/data/plugin/featviz/runs")["runs"], what="first records")
                stop, latencies, errors, memory = threading.Event(), {}, [], []
                clients = [threading.Thread(target=client, args=(tb, stop, latencies, errors, i))
                           for i in range(args.clients)]
                for thread in clients:
                    thread.start()
                time.sleep(args.seconds / 2)  # polling while the training writes
                stop_writing.set()
                writer.join()
                for _ in range(12):  # polling on, data fixed: memory must level off
                    time.sleep(args.seconds / 24)
                    memory.append(rss_mb(tb.process.pid))
                stop.set()
                for thread in clients:
                    thread.join()
        finally:
            stop_writing.set()
            writer.join()

    third = max(1, len(memory) // 3)
    early, late = np.mean(memory[:third]), np.mean(memory[-third:])
    count = sum(len(v) for v in latencies.values())
    print(f"{args.clients} clients for {args.seconds:.0f} s while {len(written)} epochs were written "
          f"({LAYERS} layers x {CHANNELS} channels each): {count} requests, {len(errors)} errors")
    print()
    print("| route | requests | p50 | p95 | p99 |")
    print("|---|---|---|---|---|")
    for route, values in sorted(latencies.items()):
        p50, p95, p99 = np.percentile(values, [50, 95, 99]) * 1000
        print(f"| {route} | {len(values)} | {p50:.1f} ms | {p95:.1f} ms | {p99:.1f} ms |")
    print()
    print("| TensorBoard memory (with its data server) | MB |")
    print("|---|---|")
    print(f"| data fixed, polling on: mean over the first third | {early:.0f} |")
    print(f"| data fixed, polling on: mean over the last third | {late:.0f} |")
    if errors:
        sys.exit(f"{len(errors)} errors, first: {errors[0]}")
    if late - early > MAX_GROWTH_MB:
        sys.exit(f"memory grew by {late - early:.0f} MB")


if __name__ == "__main__":
    main()
