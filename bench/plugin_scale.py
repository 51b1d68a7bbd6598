"""Plugin route latency and load time on a logdir of thousands of runs, in both loading modes.

    python bench/plugin_scale.py                         # 1, 100, 1000 and 10,000 runs
    python bench/plugin_scale.py --runs 1,100,1000       # chosen sizes
    python bench/plugin_scale.py --smoke                 # 1 and 20 runs, few repeats, for CI

For each N, writes N tiny runs (2 layers x 3 epochs of "am" records, 4 channels of 8x8 gray
PNGs each) without TensorFlow: the event file is built once from TensorBoard's protos, a
stdlib PNG encoder and tb_featviz.metadata, then copied into every run directory. Then, per
loading mode (`--load_fast=true`: the Rust tensorboard-data-server; `false`: the Python
multiplexer), starts a real `tensorboard` with a reload interval far longer than the benchmark,
waits until the plugin's /runs lists all N runs (the "listed" time, from process start), and
times TensorBoard's own `/data/runs` (the reference) and the plugin's /runs, /run, /grid and
/evolution, each as the median of several requests to one run after a warm-up ("warm"), and as
the first requests for runs never asked for before, in the page's order /run → /grid →
/evolution ("cold"). Ratios are to `/data/runs` in the same server. The warm /runs is a poll
with nothing new (the plugin answers from its cache while TensorBoard's run list is unchanged);
"full listing" is one /runs after that cache expired (not in --smoke).

The last table puts the /runs numbers side by side, per loader: the first /runs (no cached
answer: the median of --relists requests, each after the cached answer expired, as on a fresh
server), the cached /runs (a poll with nothing new) and TensorBoard's own /data/runs, those two
as medians of requests taken in turn; with the goals for 10,000 runs: a first /runs under
1.5 s, a cached one within 2x /data/runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

LAYERS = ("conv1", "conv2")
CHANNELS = 4
STEPS = (0, 1, 2)
# The goals at 10,000 runs: a first /runs under 1.5 s, a cached one within 2x TensorBoard's /data/runs.
GOAL_RUNS, GOAL_SECONDS, GOAL_CACHED_RATIO = 10_000, 1.5, 2.0
REQUEST_TIMEOUT = 300.0

# ---- the logdir -----------------------------------------------------------------------------


def png_gray(image: np.ndarray) -> bytes:
    """A (h, w) uint8 array as a grayscale PNG, with zlib only (imaging.encode_png needs TF)."""
    height, width = image.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + row.tobytes() for row in np.asarray(image, np.uint8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def event_file_bytes() -> bytes:
    """One run's event file: the file header, then LAYERS x STEPS records (conv1 written first),
    built like `tb_featviz.summary.Record.event` but without importing TensorFlow."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    from tb_featviz import metadata

    def frame(event) -> bytes:
        data = event.SerializeToString()
        length = struct.pack("<Q", len(data))
        return (length + struct.pack("<I", masked_crc32c(length)) + data
                + struct.pack("<I", masked_crc32c(data)))

    rng = np.random.default_rng(0)
    start = 1_700_000_000.0
    out = [frame(event_pb2.Event(wall_time=start, file_version="brain.Event:2"))]
    for step in STEPS:
        for index, layer in enumerate(LAYERS):
            header = metadata.encode_header(
                layer=layer, method="am", channels=range(CHANNELS),
                numbers={"activation": rng.random(CHANNELS).tolist(), "dead": [False] * CHANNELS,
                         "start_activation": rng.random(CHANNELS).tolist(), "steps": [32] * CHANNELS},
                image_shape=(8, 8, 1), settings={"contrast": "absolute"},
            )
            blobs = [header] + [png_gray(rng.integers(0, 255, (8, 8), dtype=np.uint8))
                                for _ in range(CHANNELS)]
            tensor = tensor_pb2.TensorProto(
                dtype=types_pb2.DT_STRING,
                tensor_shape=tensor_shape_pb2.TensorShapeProto(
                    dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(blobs))]),
                string_val=blobs,
            )
            value = summary_pb2.Summary.Value(
                tag=metadata.make_tag(layer, "am"),
                metadata=metadata.create_summary_metadata(layer, "am"), tensor=tensor)
            out.append(frame(event_pb2.Event(wall_time=start + 60 * step + index, step=step,
                                             summary=summary_pb2.Summary(value=[value]))))
    return b"".join(out)


def run_names(n: int) -> list[str]:
    return [f"run-{i:05d}" for i in range(n)]


def write_logdir(logdir: Path, n: int, data: bytes) -> float:
    """N run directories with one copy of the event file each; returns the seconds it took."""
    start = time.perf_counter()
    name = f"events.out.tfevents.1700000000.bench.{os.getpid()}.1.v2"
    for run in run_names(n):
        (logdir / run).mkdir(parents=True)
        (logdir / run / name).write_bytes(data)
    return time.perf_counter() - start


# ---- one server -----------------------------------------------------------------------------


def fetch(tb, path: str) -> bytes:
    """Body of GET path (a longer timeout than TensorBoardServer.get: 10,000 runs is slow)."""
    with urllib.request.urlopen(tb.url + path, timeout=REQUEST_TIMEOUT) as response:
        return response.read()


def timed_once(tb, path: str) -> float:
    start = time.perf_counter()
    fetch(tb, path)
    return time.perf_counter() - start


def median_time(tb, path: str, repeats: int) -> float:
    """Median seconds of `repeats` requests, after one warm-up request."""
    fetch(tb, path)
    return statistics.median(timed_once(tb, path) for _ in range(repeats))


def medians_in_turn(tb, paths: list, repeats: int) -> list:
    """Median seconds of `repeats` requests to each path, the paths asked in turn (so that a
    slow moment of this shared machine weighs on each alike), after one warm-up each."""
    for path in paths:
        fetch(tb, path)
    times = [[] for _ in paths]
    for _ in range(repeats):
        for path, spent in zip(paths, times):
            spent.append(timed_once(tb, path))
    return [statistics.median(spent) for spent in times]


def routes(run: str) -> dict:
    base = "/data/plugin/featviz/"
    return {
        "/run": base + f"run?run={run}",
        "/grid": base + f"grid?run={run}&layer={LAYERS[-1]}&method=am",
        "/evolution": base + f"evolution?run={run}&layer={LAYERS[-1]}&method=am&channel=0",
    }


LISTING_TTL = 10.0  # tb_featviz.plugin.reader._LISTING_TTL: how long a /runs answer stands


def bench_server(logdir: Path, mode: str, n: int, repeats: int, timeout: float, relists: int = 1) -> dict:
    from tests.tensorboard_server import TensorBoardServer

    reload_interval = str(int(max(3600, 4 * timeout)))
    start = time.perf_counter()
    with TensorBoardServer(str(logdir), f"--load_fast={mode}", "--reload_interval", reload_interval) as tb:
        tb.wait_for_plugin(timeout=timeout)
        up = time.perf_counter() - start
        # Poll less often for big logdirs: each poll of the Python loader competes with its load.
        interval, deadline, listed = min(2.0, max(0.25, n / 5000)), start + timeout, 0
        while True:
            try:
                listed = len(json.loads(fetch(tb, "/data/plugin/featviz/runs"))["runs"])
            except (OSError, ValueError):
                pass
            if listed >= n:
                break
            if tb.process.poll() is not None:
                raise RuntimeError(f"tensorboard exited:\n{tb.log()}")
            if time.perf_counter() > deadline:
                return {"timed_out": True, "up": up, "listed_count": listed}
            time.sleep(interval)
        result = {"timed_out": False, "up": up, "listed": time.perf_counter() - start}

        # Cold: the first requests for runs nobody asked for yet, spread over the logdir, in the
        # order the page makes them (names[0], kept for the warm medians, only when it is alone).
        names = run_names(n)
        spread = min(n - 1, repeats)
        cold_runs = [names[1 + i * (n - 1) // spread] for i in range(spread)] if spread else names[:1]
        cold = {route: [] for route in routes(names[0])}
        for run in cold_runs:
            for route, path in routes(run).items():
                cold[route].append(timed_once(tb, path))
        result["cold"] = {route: statistics.median(times) for route, times in cold.items()}

        data_runs = json.loads(fetch(tb, "/data/runs"))
        assert len(data_runs) == n, (len(data_runs), n)
        answer = json.loads(fetch(tb, routes(names[-1])["/run"]))
        assert [layer["name"] for layer in answer["layers"]] == list(LAYERS), answer
        assert answer["layers"][0]["methods"]["am"]["steps"] == list(STEPS), answer

        # Warm: the same request again, TensorBoard's /data/runs taken in turn as the reference.
        data_runs, runs = medians_in_turn(tb, ["/data/runs", "/data/plugin/featviz/runs"], max(repeats, 15))
        result["warm"] = {"/data/runs": data_runs, "/runs": runs}
        for route, path in routes(names[0]).items():
            result["warm"][route] = median_time(tb, path, repeats)
        # A full listing: once the cached answer has expired (what the first /runs of a fresh
        # server costs, and a poll while runs change).
        if relists:
            spent = []
            for _ in range(relists):
                time.sleep(LISTING_TTL + 0.5)
                spent.append(timed_once(tb, "/data/plugin/featviz/runs"))
            result["relist"] = statistics.median(spent)
    return result


# ---- the report -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="1,100,1000,10000", help="comma-separated run counts")
    parser.add_argument("--modes", default="true,false", help="--load_fast values to bench")
    parser.add_argument("--repeats", type=int, default=None,
                        help="requests per median (default: 9 up to 100 runs, 5 to 1000, then 3)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds a server may take to list every run before it counts as timed out")
    parser.add_argument("--relists", type=int, default=3,
                        help="first /runs (cached answer expired) requests per median, 10.5 s apart")
    parser.add_argument("--smoke", "--quick", action="store_true", help="1 and 20 runs, 3 repeats")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.repeats, args.timeout, args.relists = "1,20", 3, 120.0, 0
    sizes = [int(n) for n in args.runs.split(",")]
    modes = args.modes.split(",")

    data = event_file_bytes()
    print(f"each run: {len(LAYERS)} layers x {len(STEPS)} epochs of am, {CHANNELS} channels of 8x8 "
          f"gray, one {len(data)} B event file")
    results = {}
    total_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="featviz-scale-") as root:
        for n in sizes:
            logdir = Path(root) / f"runs{n}" / "logdir"
            seconds = write_logdir(logdir, n, data)
            print(f"{n} runs written in {seconds:.1f} s", flush=True)
            repeats = args.repeats or (9 if n <= 100 else 5 if n <= 1000 else 3)
            for mode in modes:
                try:
                    results[mode, n] = bench_server(logdir, mode, n, repeats, args.timeout,
                                                    relists=args.relists)
                except Exception as error:  # noqa: BLE001 - one configuration failing is a result
                    results[mode, n] = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
                print(f"  load_fast={mode}: {_summary(results[mode, n])}", flush=True)
            shutil.rmtree(logdir.parent)
    total = time.perf_counter() - total_start

    warm_routes = ("/runs", "/run", "/grid", "/evolution")
    print()
    print("| loader | runs | server up (s) | listed (s) | /data/runs ms | full /runs listing ms | "
          + " | ".join(f"{r} ms (x ref)" for r in warm_routes)
          + " | cold " + " | cold ".join(f"{r} ms" for r in warm_routes[1:]) + " |")
    print("|" + "---|" * (6 + 2 * len(warm_routes) - 1))
    for (mode, n), r in results.items():
        loader = "rust (load_fast=true)" if mode == "true" else "python (load_fast=false)"
        if "error" in r or r["timed_out"]:
            what = r.get("error") or (f"timed out after {args.timeout:.0f} s "
                                      f"({r['listed_count']} of {n} listed)")
            print(f"| {loader} | {n} | {r.get('up', float('nan')):.1f} | {what} |")
            continue
        ref = r["warm"]["/data/runs"]
        cells = [f"{r['warm'][route] * 1000:.1f} ({r['warm'][route] / ref:.1f})" for route in warm_routes]
        cells += [f"{r['cold'][route] * 1000:.1f}" for route in warm_routes[1:]]
        relist = f"{r['relist'] * 1000:.0f}" if "relist" in r else "–"
        print(f"| {loader} | {n} | {r['up']:.1f} | {r['listed']:.1f} | {ref * 1000:.1f} | {relist} | "
              + " | ".join(cells) + " |")
    print()
    print(f"/runs side by side ({len(STEPS)} steps per series; first = no cached answer, median of "
          f"{args.relists}; cached and /data/runs: medians of requests taken in turn)")
    print("| loader | runs | first /runs ms | cached /runs ms | TensorBoard /data/runs ms | cached / /data/runs |")
    print("|---|---|---|---|---|---|")
    for (mode, n), r in results.items():
        if "warm" not in r:
            continue
        loader = "rust (load_fast=true)" if mode == "true" else "python (load_fast=false)"
        first = f"{r['relist'] * 1000:.0f}" if "relist" in r else "–"  # (none in --smoke)
        print(f"| {loader} | {n} | {first} | {r['warm']['/runs'] * 1000:.1f} | "
              f"{r['warm']['/data/runs'] * 1000:.1f} | {r['warm']['/runs'] / r['warm']['/data/runs']:.2f} |")
    for (mode, n), r in results.items():
        if n >= GOAL_RUNS and "warm" in r and "relist" in r:
            ratio = r["warm"]["/runs"] / r["warm"]["/data/runs"]
            print(f"load_fast={mode}, {n} runs: first /runs {r['relist']:.3f} s (goal < {GOAL_SECONDS} s: "
                  f"{'met' if r['relist'] < GOAL_SECONDS else 'MISSED'}), cached /runs {ratio:.2f}x /data/runs "
                  f"(goal <= {GOAL_CACHED_RATIO:.0f}x: {'met' if ratio <= GOAL_CACHED_RATIO else 'MISSED'})")
    print(f"whole benchmark: {total:.0f} s")


def _summary(result: dict) -> str:
    if "error" in result:
        return result["error"]
    if result["timed_out"]:
        return f"timed out, {result['listed_count']} listed"
    return (f"listed in {result['listed']:.1f} s, /runs {result['warm']['/runs'] * 1000:.1f} ms, "
            f"/data/runs {result['warm']['/data/runs'] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
