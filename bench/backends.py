"""The same visualizations on each Keras backend, side by side in one run: TensorFlow, JAX, PyTorch.

    python bench/backends.py            # CPU: VGG-style CNN at 64 px, 32 channels, 48 AM steps
    python bench/backends.py --gpu      # larger: MobileNetV2 (weights=None) at 128 px, 64 channels
    python bench/backends.py --smoke    # tiny sizes, for CI

Each backend runs in its own process (Keras picks its backend at import) on the same model, the
same weights (copied from a NumPy file, not re-initialized), the same channels and steps. Per
backend: the first call (tracing / compiling included), then the median of the repeated calls
(what every later epoch of the callback costs), for AM, a deconv projection and occlusion, and
the callback's share of a short `fit`. Rounds alternate the backends, so a slow minute of the
machine falls on all of them. Backends that are not installed (the GPU machine has no
TensorFlow) are left out of the table, with a note.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("tensorflow", "jax", "torch")


def build_model(kind: str, size: int):
    import keras

    if kind == "mobilenet":
        return keras.applications.MobileNetV2(weights=None, input_shape=(size, size, 3), classes=10)
    layers = [keras.Input((size, size, 3))]
    for block, filters in enumerate((32, 64, 128)):
        layers += [keras.layers.Conv2D(filters, 3, padding="same", name=f"block{block + 1}_conv1"),
                   keras.layers.BatchNormalization(), keras.layers.ReLU(),
                   keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{block + 1}_conv2"),
                   keras.layers.MaxPooling2D()]
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")]
    return keras.Sequential(layers, name="vgg_style")


def worker(config: dict, weights_path: str) -> dict:
    """Runs in a process of one backend: times each method, returns seconds."""
    import keras
    import numpy as np

    from tb_featviz import AMOptions, FeatVizCallback

    model = build_model(config["model"], config["size"])
    stored = np.load(weights_path)
    for index, variable in enumerate(model.weights):
        variable.assign(stored[f"w{index}"])
    rng = np.random.default_rng(0)
    probes = rng.random((config["probes"], config["size"], config["size"], 3)).astype("float32")
    labels = rng.integers(0, 10, config["probes"])
    channels = list(range(config["channels"]))
    layer = config["layer"]

    def timed(work, repeats: int) -> tuple:
        began = time.perf_counter()
        work()
        first = time.perf_counter() - began
        later = []
        for _ in range(repeats):
            began = time.perf_counter()
            work()
            later.append(time.perf_counter() - began)
        return first, statistics.median(later)

    from tb_featviz.methods.deconv import DeconvOptions
    from tb_featviz.settings import Settings
    from tb_featviz.visualize import prepare_method

    # The callback's way: each runner prepared once and called every epoch (compiled once).
    settings = Settings.checked(probe_images=probes, probe_labels=labels,
                                options={"am": AMOptions(steps=config["steps"]), "deconv": DeconvOptions(top_k=4)})
    am = prepare_method(model, layer, channels, "am", settings)
    deconv = prepare_method(model, layer, channels[:8], "deconv", settings)
    occlusion = prepare_method(model, model.layers[-1].name, "all", "occlusion",
                               Settings.checked(probe_images=probes[:4], probe_labels=labels[:4]))
    results = {name: timed(runner, config["repeats"])
               for name, runner in (("am", am), ("deconv", deconv), ("occlusion", occlusion))}

    x = rng.random((config["fit_images"], config["size"], config["size"], 3)).astype("float32")
    y = rng.integers(0, 10, len(x))
    model.compile(keras.optimizers.SGD(1e-3), "sparse_categorical_crossentropy")
    model.fit(x[:32], y[:32], epochs=1, batch_size=32, verbose=0)  # compile the train step outside the timing
    with tempfile.TemporaryDirectory() as log_dir:
        callback = FeatVizCallback(log_dir, {layer: channels[:8]}, probe_images=probes[:16], am=AMOptions(steps=16),
                                   methods=["am", "deconv", "weights"], schedule="epoch", verbose=0)
        began = time.perf_counter()
        model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[callback])
        total = time.perf_counter() - began
    spent = sum(seconds for _, seconds in callback.timings)
    results["callback_share"] = (spent / max(total - spent, 1e-9), spent)
    results["device"] = _device(keras.backend.backend())
    return results


def _device(backend: str) -> str:
    if backend == "jax":
        import jax

        return str(jax.devices()[0].device_kind)
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return gpus[0].name if gpus else "cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--gpu", action="store_true", help="GPU sizes (MobileNetV2 at 128 px)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.config), args.weights)))
        return
    config = {"model": "vgg", "size": 64, "layer": "block3_conv1", "channels": 32, "steps": 48, "probes": 64,
              "repeats": 3, "fit_images": 512}
    if args.gpu:
        config.update(model="mobilenet", size=128, layer="block_6_expand", channels=64, probes=256, fit_images=4096)
    if args.smoke:
        config.update(size=32, channels=4, steps=4, probes=8, repeats=1, fit_images=64)
        args.rounds = 1
    available = [b for b in BACKENDS if importlib.util.find_spec(b) is not None]
    missing = [b for b in BACKENDS if b not in available]
    with tempfile.TemporaryDirectory() as scratch:
        weights_path = os.path.join(scratch, "weights.npz")
        _store_weights(available[0], config, weights_path)
        runs = {backend: [] for backend in available}
        for _ in range(args.rounds):
            for backend in available:
                runs[backend].append(_run_worker(backend, config, weights_path))
    _print_table(config, runs, missing, args.rounds)


def _store_weights(backend: str, config: dict, path: str) -> None:
    """One set of weights for every backend: made once, in a process of the first backend."""
    code = ("import sys, numpy as np; sys.path.insert(0, %r); from bench.backends import build_model; "
            "m = build_model(%r, %d); np.savez(%r, **{f'w{i}': np.asarray(w) for i, w in enumerate(m.weights)})"
            % (str(ROOT), config["model"], config["size"], path))
    subprocess.run([sys.executable, "-c", code], check=True, env=_env(backend), cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _env(backend: str) -> dict:
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}


def _run_worker(backend: str, config: dict, weights_path: str) -> dict:
    run = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", backend, "--config", json.dumps(config),
         "--weights", weights_path], env=_env(backend), cwd=ROOT, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"{backend} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def _print_table(config: dict, runs: dict, missing: list, rounds: int) -> None:
    backends = list(runs)
    reference = backends[0]

    def median(backend, key, part):
        return statistics.median(run[key][part] for run in runs[backend])

    print(f"model {config['model']} {config['size']}x{config['size']}, layer {config['layer']}, "
          f"AM {config['channels']} channels x {config['steps']} steps, deconv 8 channels x top 4 over "
          f"{config['probes']} probes, occlusion of 4 images; medians of {rounds} round(s), backends alternating")
    print("devices: " + ", ".join(f"{b}: {runs[b][0]['device']}" for b in backends))
    print()
    print("| backend | AM first call (s) | AM per epoch (s) | vs " + reference + " | deconv per epoch (s) | "
          "occlusion (s) | callback / training |")
    print("|---|---|---|---|---|---|---|")
    for backend in backends:
        am = median(backend, "am", 1)
        print(f"| {backend} | {median(backend, 'am', 0):.2f} | {am:.2f} | "
              f"{am / median(reference, 'am', 1):.2f}x | {median(backend, 'deconv', 1):.2f} | "
              f"{median(backend, 'occlusion', 1):.2f} | {100 * median(backend, 'callback_share', 0):.1f} % |")
    if missing:
        print(f"\nnot installed here: {', '.join(missing)}")


if __name__ == "__main__":
    main()
