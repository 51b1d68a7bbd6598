"""Attribution maps: tb-featviz against tf-keras-vis 0.8.7 and tf-explain 0.3.1, side by side.

    python bench/attribution_speed.py           # demo CNN (1 epoch of Fashion-MNIST), 8 test images;
                                                # the pretrained MobileNet at 224 px, 4 photographs
    python bench/attribution_speed.py --smoke   # 2 images, MobileNet at 128 px, few samples: for CI

tf-explain and the photographs come from a Python that has them (`pip install tf-explain
opencv-python-headless scikit-image`); without, their rows say so (MobileNet then maps flat
test images). Every contender gets the same model, images and class per image, and the same
score: the class's logit (a copy of the model with its softmax made linear, as tf-keras-vis's
ReplaceToLinear does). Times are the best of 3 warm calls (each traced or run once before);
tb-featviz's is its prepared runner, what the callback calls at each step. "max difference" is the largest
|difference| between the two maps over the largest |value| of tb-featviz's map.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tb_featviz.settings import Settings  # noqa: E402
from tb_featviz.visualize import prepare_method  # noqa: E402


def timed(fn, repeat: int = 3):
    """(the best of `repeat` warm calls' seconds, the value): tracing and first-call costs are not
    what a step pays, and the best of a few is the least disturbed by a shared machine."""
    value = fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def difference(ours, theirs) -> float:
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    return float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(ours)), 1e-30))


def linear_copy(model):
    """The model with its last layer's softmax made linear: every contender's score is the logit."""
    if isinstance(model, keras.Sequential):  # a functional copy: tf-explain reads `.output` of its layers
        x = inputs = keras.Input(model.input_shape[1:])
        for layer in model.layers:
            fresh = type(layer).from_config(layer.get_config())
            x = fresh(x)
            fresh.set_weights(layer.get_weights())
        copy = keras.Model(inputs, x)
    else:
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
    copy.layers[-1].activation = keras.activations.linear
    return copy


class Ours:
    """tb-featviz's prepared runner for one method (what the callback calls at each step)."""

    def __init__(self, model, layer, method, images, classes, **options):
        from tb_featviz import methods

        options = methods.get(method).options_type(images=len(images), **options)
        settings = Settings.checked(probe_images=images, probe_labels=classes, options={method: options})
        self.runner = prepare_method(model, layer, [0], method, settings)

    def __call__(self):
        return self.runner()


def each_class(function, images, classes):
    """tf-explain's public `explain` (a picture per call) once per class: what a user times."""
    return [function(images[classes == klass], int(klass)) for klass in sorted(set(classes.tolist()))]


def by_class(function, images, classes):
    """tf-explain takes one class index per call: its function once per class, maps in image order."""
    out = [None] * len(images)
    for klass in sorted(set(classes.tolist())):
        index = np.flatnonzero(classes == klass)
        for i, value in zip(index, np.asarray(function(images[index], int(klass)))):
            out[i] = value
    return np.stack(out)


def compare(name, model, images, classes, conv_layer, output_layer, noise_range, samples, steps, table):
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.scores import CategoricalScore

    linear = linear_copy(model)
    score = CategoricalScore(classes.tolist())
    explain = _tf_explain()
    rows = []

    def row(method, who, seconds, ours_seconds, gap, note=""):
        rows.append((name, method, who, seconds, seconds / ours_seconds, gap, note))

    # Saliency
    ours_time, ours = timed(Ours(model, output_layer, "saliency", images, classes))
    row("saliency", "tb-featviz", ours_time, ours_time, None)
    saliency = Saliency(linear, model_modifier=None, clone=False)
    seconds, theirs = timed(lambda: saliency(score, images, normalize_map=False))
    row("saliency", "tf-keras-vis `Saliency`", seconds, ours_time, difference(ours.maps, theirs))
    if explain:
        vanilla = explain.VanillaGradients()
        seconds, _ = timed(lambda: each_class(lambda x, c: vanilla.explain_score_model((x, None), linear, c),
                                              images, classes))
        raw = by_class(lambda x, c: vanilla.compute_gradients(x, linear, c), images, classes)
        row("saliency", "tf-explain `VanillaGradients`", seconds, ours_time,
            difference(ours.maps, np.abs(raw).max(axis=-1)), "its picture: the gradient's magnitude summed over colours, standardized")

    # SmoothGrad
    ours_time, ours = timed(Ours(model, output_layer, "saliency", images, classes, smoothgrad=samples, noise=0.2))
    row(f"SmoothGrad, {samples} copies, noise 0.2 of the range", "tb-featviz", ours_time, ours_time, None)
    other_seed = Ours(model, output_layer, "saliency", images, classes, smoothgrad=samples, noise=0.2, seed=1)()
    row("", "tb-featviz, another noise seed (the noise floor)", float("nan"), ours_time,
        difference(ours.maps, other_seed.maps))
    seconds, theirs = timed(lambda: saliency(score, images, smooth_samples=samples, smooth_noise=0.2,
                                             normalize_map=False))
    row("", "tf-keras-vis `Saliency(smooth_samples)`", seconds, ours_time, difference(ours.maps, theirs),
        "noise 0.2 of each image's own range; it averages the gradient's magnitude before the max over colours")
    if explain:
        smooth = explain.SmoothGrad()
        sigma = 0.2 * noise_range
        seconds, _ = timed(lambda: each_class(lambda x, c: smooth.explain((x, None), linear, c, samples, sigma),
                                              images, classes))
        raw = by_class(lambda x, c: smooth.get_averaged_gradients(
            smooth.generate_noisy_images(x, samples, sigma), linear, c, samples), images, classes)
        row("", "tf-explain `SmoothGrad`", seconds, ours_time, difference(ours.maps, np.abs(raw).max(axis=-1)),
            "its gradient is of the cross-entropy of the softmax of the logits, not of the score")

    # Grad-CAM
    ours_time, ours = timed(Ours(model, conv_layer, "gradcam", images, classes))
    row(f"Grad-CAM of {conv_layer}", "tb-featviz", ours_time, ours_time, None)
    gradcam = Gradcam(linear, model_modifier=None, clone=False)
    seconds, theirs = timed(lambda: gradcam(score, images, penultimate_layer=conv_layer, normalize_cam=False))
    small = gradcam(score, images, penultimate_layer=conv_layer, normalize_cam=False, expand_cam=False)
    row("", "tf-keras-vis `Gradcam`", seconds, ours_time, difference(ours.maps, theirs),
        f"upsampled by scipy's zoom (corners aligned), ours bilinear (pixel centres); at the layer's "
        f"{ours.cams.shape[1]}x{ours.cams.shape[2]}: {difference(ours.cams, small):.1e}")
    if explain:
        cam = explain.GradCAM()

        def cams(x, c):
            outputs, grads = cam.get_gradients_and_filters(linear, x, conv_layer, c, False)
            return np.maximum(np.stack([np.asarray(m) for m in cam.generate_ponderated_output(outputs, grads)]), 0)

        seconds, _ = timed(lambda: each_class(lambda x, c: cam.explain((x, None), linear, c, conv_layer,
                                                                       use_guided_grads=False), images, classes))
        row("", "tf-explain `GradCAM` (use_guided_grads=False)", seconds, ours_time,
            difference(ours.cams, by_class(cams, images, classes)), "at the layer's size (its picture: OpenCV's resize)")

    # Integrated gradients (tf-keras-vis has none)
    ours_time, ours = timed(Ours(model, output_layer, "integrated_gradients", images, classes, steps=steps,
                                 baseline=0.0))
    row(f"integrated gradients, {steps} steps from 0", "tb-featviz", ours_time, ours_time, None,
        f"completeness error: median {np.median(ours.completeness_error):.1e}")
    if explain:
        ig = explain.IntegratedGradients()
        seconds, _ = timed(lambda: each_class(lambda x, c: ig.explain((x, None), linear, c, steps), images, classes))
        mean = by_class(lambda x, c: ig.get_integrated_gradients(ig.generate_interpolations(x, steps), linear, c,
                                                                 steps), images, classes)
        row("", "tf-explain `IntegratedGradients`", seconds, ours_time,
            difference(ours.maps, (images * mean).sum(axis=-1)),
            "it returns the mean gradient (times x here: it omits it) over alpha = 0..1 both ends included")
    else:
        row("", "tf-explain", float("nan"), ours_time, None, "not installed in this Python")
    table.extend(rows)


def _tf_explain():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from tf_explain.core import grad_cam, integrated_gradients, smoothgrad, vanilla_gradients
    except Exception:  # noqa: BLE001 - not installed, or OpenCV missing
        return None

    class Explain:
        VanillaGradients = vanilla_gradients.VanillaGradients
        SmoothGrad = smoothgrad.SmoothGrad
        GradCAM = grad_cam.GradCAM
        IntegratedGradients = integrated_gradients.IntegratedGradients

    return Explain


def demo_model(smoke: bool):
    from demo import fashion_mnist
    from demo.train import build_model

    x, y = fashion_mnist.load("train")
    x_test, y_test = fashion_mnist.load("test")
    keras.utils.set_random_seed(0)
    model = build_model()
    count = 2000 if smoke else 12000
    model.fit(x[:count], y[:count], batch_size=128, epochs=1, verbose=0)
    images = 2 if smoke else 8
    return model, x_test[:images], y_test[:images]


def photographs(size: int, count: int) -> tuple:
    """scikit-image's bundled photographs in MobileNet's [-1, 1] (flat gray-level test images
    without it), and where they came from."""
    try:
        import skimage.data
        from skimage.transform import resize
    except ImportError:
        levels = np.linspace(-0.8, 0.8, count)
        rng = np.random.default_rng(0)
        return (np.clip(levels[:, None, None, None] + 0.2 * rng.standard_normal((count, size, size, 3)), -1, 1)
                .astype(np.float32), "noise images (scikit-image is not installed)")
    crops = []
    for name in ("chelsea", "coffee", "astronaut", "rocket")[:count]:
        image = getattr(skimage.data, name)()[..., :3]
        side = min(image.shape[:2])
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        crops.append(resize(image[top : top + side, left : left + side], (size, size), anti_aliasing=True))
    return (np.stack(crops) * 2 - 1).astype(np.float32), "scikit-image's photographs " + ", ".join(
        ("chelsea", "coffee", "astronaut", "rocket")[:count])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    samples, steps = (2, 4) if args.smoke else (16, 32)
    table: list = []
    model, images, classes = demo_model(args.smoke)
    print(f"demo CNN (28x28 Fashion-MNIST, 1 epoch): {len(images)} test images, their true classes")
    compare("demo CNN", model, images, classes, "conv3", "logits", 1.0, samples, steps, table)

    from tb_featviz import pretrained

    size = 128 if args.smoke else 224
    mobilenet = pretrained.mobilenet((size, size, 3))
    photos, source = photographs(size, 1 if args.smoke else 4)
    predicted = np.argmax(mobilenet.predict(photos, verbose=0), axis=1)
    print(f"pretrained MobileNet at {size} px: {source}, their predicted ImageNet classes {predicted.tolist()}")
    compare(f"MobileNet {size} px", mobilenet, photos, predicted, "conv_pw_13", "predictions", 2.0, samples, steps,
            table)
    print()
    print("| model | method | implementation | seconds | × tb-featviz's time | max difference | note |")
    print("|---|---|---|---|---|---|---|")
    for model_name, method, who, seconds, ratio, gap, note in table:
        shown = "–" if gap is None else f"{gap:.1e}"
        timing = "–" if not np.isfinite(seconds) else f"{seconds:.3f}"
        times = "–" if not np.isfinite(ratio) or who.startswith("tb-featviz") else f"{ratio:.1f}"
        print(f"| {model_name} | {method} | {who} | {timing} | {times} | {shown} | {note} |")


if __name__ == "__main__":
    main()
