"""Occlusion sensitivity, batched (tb-featviz) against the seed's per-position loop, side by side.

    python bench/occlusion_speed.py            # demo CNN trained 1 epoch, 8 Fashion-MNIST test images
    python bench/occlusion_speed.py --smoke    # 2 images, for CI

The seed's algorithm calls the model once per square position (`model.predict` on one image);
a fairer loop calls the model directly (`model(x)`, no predict overhead). tb-featviz puts every
position of every image through the model in batches of 256. All three give the same maps (checked
here); the table gives each one's time and its ratio to tb-featviz, measured in one run.
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

import tb_featviz  # noqa: E402
from demo import fashion_mnist  # noqa: E402
from demo.train import build_model  # noqa: E402


def loop(model, images, labels, boxes, call):
    """The per-position loop: one forward pass per (image, position)."""
    rows, cols = boxes.shape[:2]
    probability = np.zeros((len(images), rows, cols))
    for i, image in enumerate(images):
        for r in range(rows):
            for c in range(cols):
                top, left, bottom, right = boxes[r, c]
                occluded = image.copy()
                occluded[top:bottom, left:right] = 0.5
                probability[i, r, c] = call(occluded[None])[0][labels[i]]
    return probability


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--images", type=int, default=8)
    args = parser.parse_args()
    images = 2 if args.smoke else args.images
    x, y = fashion_mnist.load("train")
    x_test, y_test = fashion_mnist.load("test")
    keras.utils.set_random_seed(0)
    model = build_model()
    model.fit(x[:2000 if args.smoke else 60000], y[:2000 if args.smoke else 60000], batch_size=128, epochs=1, verbose=0)
    probes, labels = x_test[:images], y_test[:images]

    tb_featviz.occlusion(model, probes[:1], labels[:1])  # warm-up: tracing is a one-time cost
    model.predict(probes[:1], verbose=0)
    batched_seconds, result = timed(lambda: tb_featviz.occlusion(model, probes, labels))
    predict_seconds, by_predict = timed(lambda: loop(model, probes, labels, result.boxes,
                                                     lambda b: model.predict(b, verbose=0)))
    call_seconds, by_call = timed(lambda: loop(model, probes, labels, result.boxes,
                                               lambda b: model(b, training=False).numpy()))
    np.testing.assert_allclose(by_predict, result.probability, atol=1e-5)
    np.testing.assert_allclose(by_call, result.probability, atol=1e-5)
    positions = result.boxes.shape[0] * result.boxes.shape[1]
    print(f"demo CNN (28x28 Fashion-MNIST), {images} images x {positions} positions "
          f"(square {result.size} px, stride {result.stride}); the three give the same maps (max difference "
          f"{max(np.abs(by_predict - result.probability).max(), np.abs(by_call - result.probability).max()):.1e})")
    print()
    print("| implementation | seconds | × tb-featviz's time |")
    print("|---|---|---|")
    print(f"| tb-featviz: every position in batches of 256 | {batched_seconds:.2f} | 1.0 |")
    print(f"| seed's loop: one `model.predict` per position | {predict_seconds:.2f} | "
          f"{predict_seconds / batched_seconds:.0f} |")
    print(f"| loop with a direct `model(x)` call per position | {call_seconds:.2f} | "
          f"{call_seconds / batched_seconds:.0f} |")


if __name__ == "__main__":
    main()
