"""The cost of one notebook call, against a plain traced loop doing the same work.

    python bench/am_notebook.py [--smoke]

VGG16 (weights=None) at 96 px, `block5_conv3`, channels [0, 1], 16 steps, the fast preset
(a Fourier image with its colours decorrelated, random affine transforms each step): where
`maximize_activation` once took 4.5x a plain `tf.function` loop (few channels on a deep layer).
Contenders, alternating, medians of 3, in one run:
  * plain: a hand-written `tf.function` step (the same Fourier image, warp, pre-activation
    objective and Adam), traced before timing;
  * notebook, first call: `tb_featviz.maximize_activation` on a fresh model (traces its steps);
  * notebook, again: the same call on the same model, layer and options (traced once, reused).
Prints each median and its ratio to plain (goal: again <= 1.5x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="a tiny model, 2 steps: checks the script runs")
    args = parser.parse_args()
    import keras
    import numpy as np
    import tensorflow as tf

    import tb_featviz
    from tb_featviz.methods.am import FourierImage, RandomAffine
    from tb_featviz.methods.am.transforms import warp

    size, layer, channels, steps, repeats = (96, "block5_conv3", [0, 1], 16, 3) if not args.smoke else (32, "block1_conv2", [0, 1], 2, 1)

    def build():
        keras.utils.set_random_seed(0)
        return keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))

    model = build()
    shape = (size, size, 3)

    def plain_loop():
        """The same work written by hand: Fourier image, warp, the channel's mean pre-activation."""
        target = model.get_layer(layer)
        before = keras.Model(model.inputs, target.input)
        param = FourierImage()
        transforms = RandomAffine()
        rows = tf.constant(transforms.sample(0, channels, steps, shape))
        spectrum = tf.Variable(param.initial(0, channels, shape))
        optimizer = keras.optimizers.Adam(0.05)
        picked = tf.constant(channels)

        @tf.function
        def step(row):
            with tf.GradientTape() as tape:
                image = param.to_image(spectrum, shape)
                pre = tf.nn.conv2d(before(warp(image, row, transforms.fill_mode)), target.kernel, 1, "SAME") + target.bias
                value = tf.reduce_mean(tf.gather(pre, picked, axis=-1), axis=[1, 2])
                loss = -tf.reduce_sum(tf.linalg.diag_part(value))
            optimizer.apply_gradients([(tape.gradient(loss, spectrum), spectrum)])
            return loss

        step(rows[0])  # traced outside the timing, as the plain loop's user would
        began = time.perf_counter()
        for t in range(steps):
            step(rows[t]).numpy()
        return time.perf_counter() - began

    def notebook(on):
        began = time.perf_counter()
        tb_featviz.maximize_activation(on, layer, channels, steps=steps, preset="fast")
        return time.perf_counter() - began

    times = {"plain traced loop": [], "notebook call, first (traces)": [], "notebook call, again": []}
    for _ in range(repeats):  # alternating, so that a slow moment of the machine hits every contender
        times["plain traced loop"].append(plain_loop())
        fresh = build()
        times["notebook call, first (traces)"].append(notebook(fresh))
        times["notebook call, again"].append(notebook(fresh))
    plain = statistics.median(times["plain traced loop"])
    print(f"VGG16 {size} px, {layer}, channels {channels}, {steps} steps, fast preset; medians of {repeats}")
    print("| contender | time | vs plain |")
    print("|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} s | {median / plain:.2f}x |")


if __name__ == "__main__":
    main()
