"""Activation-maximization speed: this project vs the tutorial's loop and tf-keras-vis, and vs the
machine's own conv/matmul peak, measured side by side in one run.

    python bench/am_throughput.py            # VGG16 128x128 block3_conv3 16 ch 20 steps, demo model
    python bench/am_throughput.py --smoke    # tiny sizes, for CI

Every contender gets the same model, layer, channels, image size and number of steps:
  * tutorial loop: one image variable per channel, eager GradientTape, keras Adam (the loop of
    most AM tutorials; its step is not traced);
  * tf-keras-vis 0.8.7 ActivationMaximization (its defaults: jitter, rotation, TV and norm
    regularizers), when installed (`pip install tf-keras-vis==0.8.7`);
  * tb-featviz defaults (transforms + blur) as the callback runs it (traced once, reused each
    epoch), the same as a notebook call (traced on every call), and without regularization.
FLOPs of one AM step = forward to the layer + the input-gradient backward (~2x the forward's
conv/dense FLOPs); achieved GFLOP/s is compared with a 3x3 conv and a matmul timed here.
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
import tensorflow as tf  # noqa: E402

import tb_featviz  # noqa: E402


def tutorial_loop(model, layer, channels, size, steps):
    extractor = keras.Model(model.inputs, model.get_layer(layer).output)
    rng = np.random.default_rng(0)
    for channel in channels:
        image = tf.Variable(rng.uniform(0.4, 0.6, (1, size, size, 3)).astype("float32"))
        optimizer = keras.optimizers.Adam(0.05)
        for _ in range(steps):
            with tf.GradientTape() as tape:
                loss = -tf.reduce_mean(extractor(image)[..., channel])
            optimizer.apply_gradients([(tape.gradient(loss, image), image)])


def tf_keras_vis_am(model, layer, channels, size, steps):
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer, ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    visualizer = ActivationMaximization(
        model, model_modifier=[ExtractIntermediateLayer(layer), ReplaceToLinear()], clone=True
    )
    seed = np.random.default_rng(0).uniform(0.4, 0.6, (len(channels), size, size, 3)).astype("float32")
    visualizer(CategoricalScore(list(channels)), seed_input=seed, steps=steps)


def featviz(model, layer, channels, size, steps, **overrides):
    """The notebook call: builds and traces its maximizer every time."""
    tb_featviz.maximize_activation(model, layer, channels, steps=steps, input_range=(0, 1), **overrides)


def featviz_reused(model, layer, channels, size, steps, **overrides):
    """The callback's path: the maximizer is built and traced once, then run each epoch."""
    from tb_featviz.methods.am import AMOptions
    from tb_featviz.settings import Settings
    from tb_featviz.visualize import prepare_method

    settings = Settings.checked(input_range=(0, 1), options={"am": AMOptions(steps=steps, **overrides)})
    return prepare_method(model, layer, channels, "am", settings)


def timed(fn, repeats):
    fn()  # warm-up: tracing, first-call allocation
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def step_flops(model, layer_name, target_channels=None) -> float:
    """FLOPs of forward-to-layer + input-gradient backward for one image (multiply-add = 2).

    `target_channels`: how many of the target conv layer's filters are computed (tb-featviz
    computes only the batch's channels; the others compute all of them).
    """
    forward = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            if layer.name == layer_name and target_channels:
                cout = min(cout, target_channels)
            _, ho, wo, _ = layer.output.shape
            forward += 2.0 * ho * wo * kh * kw * cin * cout
        elif isinstance(layer, keras.layers.Dense):
            forward += 2.0 * layer.kernel.shape[0] * layer.kernel.shape[1]
        if layer.name == layer_name:
            break
    return 2.0 * forward


def peak_gflops(smoke: bool) -> dict:
    n = 512 if smoke else 4096
    a = tf.random.normal((n, n))
    matmul = tf.function(lambda: tf.matmul(a, a))
    x = tf.random.normal((8, 32, 32, 64) if smoke else (16, 64, 64, 128))
    k = tf.random.normal((3, 3, x.shape[-1], x.shape[-1]))
    conv = tf.function(lambda: tf.nn.conv2d(x, k, 1, "SAME"))
    conv_flops = 2.0 * np.prod(x.shape) * 9 * x.shape[-1]
    repeats = 2 if smoke else 5
    return {
        f"matmul {n}x{n}": 2.0 * n**3 / timed(lambda: matmul().numpy(), repeats) / 1e9,
        f"conv 3x3 {tuple(x.shape)}": conv_flops / timed(lambda: conv().numpy(), repeats) / 1e9,
    }


def demo_model():
    """The demo's CNN with RGB input: every contender here builds RGB seed images."""
    from demo.train import build_model

    keras.utils.set_random_seed(0)
    return build_model(channels=3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    if args.smoke:
        cases = [("VGG16 (smoke: 32 px)", keras.applications.VGG16(weights=None, include_top=False,
                                                                  input_shape=(32, 32, 3)),
                  "block3_conv3", 32, 2, 2)]
        repeats = 1
    else:
        cases = [
            ("VGG16 128 px, block3_conv3", keras.applications.VGG16(
                weights=None, include_top=False, input_shape=(128, 128, 3)), "block3_conv3", 128, 16, 20),
            ("demo CNN 28 px (RGB), conv3", demo_model(), "conv3", 28, 64, 20),
        ]
        repeats = 1
    try:
        import tf_keras_vis  # noqa: F401
        have_vis = True
    except ImportError:
        have_vis = False
        print("tf-keras-vis not installed: its column is skipped (pip install tf-keras-vis==0.8.7)")

    peaks = peak_gflops(args.smoke)
    print("| case | contender | time | vs tb-featviz default | work executed, rate |")
    print("|---|---|---|---|---|")
    for title, model, layer, size, count, steps in cases:
        channels = list(range(count))
        contenders = {
            "tb-featviz default (transforms + blur)": featviz_reused(model, layer, channels, size, steps),
            "tb-featviz default, notebook call": lambda: featviz(
                model, layer, channels, size, steps),
            "tb-featviz, no regularization": featviz_reused(
                model, layer, channels, size, steps, transforms=None, blur_every=0),
            "tutorial loop (eager, per channel)": lambda: tutorial_loop(model, layer, channels, size, steps),
        }
        if have_vis:
            contenders["tf-keras-vis 0.8.7"] = lambda: tf_keras_vis_am(model, layer, channels, size, steps)
        times = {name: timed(fn, repeats) for name, fn in contenders.items()}
        full_flops = step_flops(model, layer) * count * steps
        # tb-featviz computes only the batch's channels where they are at most half the layer's
        sliced_flops = step_flops(model, layer, count if 2 * count <= model.get_layer(layer).filters else None)
        sliced_flops *= count * steps
        ours = times["tb-featviz default (transforms + blur)"]  # the callback's path
        for name, seconds in times.items():
            flops = sliced_flops if name.startswith("tb-featviz") else full_flops
            print(f"| {title}, {count} ch, {steps} steps | {name} | {seconds:.2f} s | "
                  f"{seconds / ours:.2f}x | {flops / 1e9:.0f} GFLOP, {flops / seconds / 1e9:.0f} GFLOP/s |")
    print()
    print("| machine peak, same run | GFLOP/s |")
    print("|---|---|")
    for name, value in peaks.items():
        print(f"| {name} | {value:.0f} |")


if __name__ == "__main__":
    main()
