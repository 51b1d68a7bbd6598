"""TensorBoard's load time and memory on a long featviz log, and bytes on disk per tile.

    python bench/plugin_load.py            # 100 epochs x 4 layers x 64 channels x 3 methods
    python bench/plugin_load.py --smoke    # 3 epochs x 2 layers x 8 channels, for CI

Part 1 writes PNG tiles of the demo's kinds (28x28 grayscale AM images, 3x3 deconv grids,
filter slices) at several sizes and zlib levels, and prints bytes per tile and encode time.
Part 2 writes a synthetic log through tb_featviz.summary (real records, realistic images),
starts a real `tensorboard` in each loading mode, and measures the time until every epoch is
listed and the resident memory of TensorBoard (with its data server) before and after 50 rounds
of grid + evolution requests.
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

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tb_featviz import metadata, summary  # noqa: E402


def smooth_image(rng, size, channels=1):
    """A feature-like image: blurred noise, stretched to 0..255 (PNG sizes like real AM tiles)."""
    noise = rng.standard_normal((1, size, size, channels)).astype("float32")
    kernel = np.outer(*(2 * [np.hanning(5)])).astype("float32")
    kernel = np.tile((kernel / kernel.sum())[:, :, None, None], (1, 1, channels, 1))
    blurred = tf.nn.depthwise_conv2d(noise, kernel, [1, 1, 1, 1], "SAME").numpy()[0]
    low, high = blurred.min(), blurred.max()
    return ((blurred - low) / (high - low) * 255).astype(np.uint8)


def tile_sizes(rng):
    rows = []
    for name, size, channels in (("AM 28x28 gray", 28, 1), ("AM 64x64 RGB", 64, 3),
                                 ("AM 128x128 RGB", 128, 3), ("deconv 3x3 grid of 8 px", 26, 1)):
        images = [smooth_image(rng, size, channels) for _ in range(32)]
        for level in (1, 6, 9):
            start = time.perf_counter()
            sizes = [len(tf.io.encode_png(image, compression=level).numpy()) for image in images]
            seconds = (time.perf_counter() - start) / len(images)
            raw = size * size * channels
            rows.append((name, level, np.mean(sizes), raw, seconds))
    return rows


def write_log(logdir, epochs, layers, channels, rng):
    writer = tf.summary.create_file_writer(logdir)
    am = [[smooth_image(rng, 28)] for _ in range(channels)]
    deconv = [[smooth_image(rng, 26), smooth_image(rng, 26)] for _ in range(channels)]
    weights = [[smooth_image(rng, 3)] for _ in range(channels)]
    numbers = {"activation": rng.random(channels).tolist(), "dead": [False] * channels}
    with writer.as_default():
        for step in range(epochs + 1):
            for index in range(layers):
                layer = f"conv{index + 1}"
                summary.write_record(layer, "am", range(channels), am, numbers, step=step)
                summary.write_record(layer, "deconv", range(channels), deconv, numbers, step=step,
                                     layout={"top_k": 9, "grid": [3, 3], "gap": 1})
                summary.write_record(layer, "weights", range(channels), weights,
                                     {"norm": numbers["activation"]}, step=step)
    writer.close()
    return sum(f.stat().st_size for f in Path(logdir).rglob("*") if f.is_file())


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (TensorBoard's data server), in MB."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            with open(f"/proc/{current}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
            with open(f"/proc/{current}/task/{current}/children") as f:
                pids += [int(child) for child in f.read().split()]
        except (OSError, StopIteration):
            continue
    return total / 1024


def empty_memory(mode) -> float:
    """TensorBoard's memory on an empty logdir: the baseline (it imports TensorFlow's gfile)."""
    from tests.tensorboard_server import TensorBoardServer

    with tempfile.TemporaryDirectory() as empty, TensorBoardServer(empty, f"--load_fast={mode}") as tb:
        tb.wait_for_plugin(timeout=600)
        time.sleep(2)
        return rss_mb(tb.process.pid)


def load(logdir, mode, epochs, layers, channels, rounds):
    from tests.tensorboard_server import TensorBoardServer

    start = time.perf_counter()
    with TensorBoardServer(logdir, f"--load_fast={mode}") as tb:
        tb.wait_for_plugin(timeout=600)

        def complete():
            runs = tb.json("/data/plugin/featviz/runs")["runs"]
            runs = runs and [tb.json(f"/data/plugin/featviz/run?run={runs[0]['name']}")]
            return runs and len(runs[0]["layers"]) == layers and all(
                series["steps"][-1] == epochs
                for layer in runs[0]["layers"] for series in layer["methods"].values())

        tb.wait_until(complete, timeout=1200, what="all epochs")
        seconds = time.perf_counter() - start
        before = rss_mb(tb.process.pid)
        base = "/data/plugin/featviz/"
        for i in range(rounds):
            layer = f"conv{i % layers + 1}"
            grid = tb.json(base + f"grid?run=.&layer={layer}&method=am&step={i % (epochs + 1)}")
            for url in grid["images"]["image"][:8]:
                assert tb.get(base + url)[0] == 200
            tb.json(base + f"evolution?run=.&layer={layer}&method=deconv&channel={i % channels}")
        after = rss_mb(tb.process.pid)
    return seconds, before, after


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    epochs, layers, channels, rounds = (3, 2, 8, 5) if args.smoke else (100, 4, 64, 50)

    print("| tile | zlib level | bytes per tile (mean) | raw bytes | encode time |")
    print("|---|---|---|---|---|")
    for name, level, size, raw, seconds in tile_sizes(rng):
        print(f"| {name} | {level} | {size:.0f} | {raw} | {seconds * 1e6:.0f} µs |")

    with tempfile.TemporaryDirectory() as logdir:
        start = time.perf_counter()
        size = write_log(logdir, epochs, layers, channels, rng)
        written = time.perf_counter() - start
        records = (epochs + 1) * layers * len(metadata.METHODS)
        print()
        print(f"log: {epochs + 1} steps x {layers} layers x {channels} channels x 3 methods = "
              f"{records} records, {size / 1e6:.1f} MB, written in {written:.1f} s")
        print()
        print("| loading mode | start → every epoch listed | memory, empty logdir | memory when "
              f"loaded | after {rounds} grid+evolution rounds |")
        print("|---|---|---|---|---|")
        for mode in ("true", "false"):
            baseline = empty_memory(mode)
            seconds, before, after = load(logdir, mode, epochs, layers, channels, rounds)
            print(f"| load_fast={mode} | {seconds:.1f} s | {baseline:.0f} MB | {before:.0f} MB | "
                  f"{after:.0f} MB |")


if __name__ == "__main__":
    main()
