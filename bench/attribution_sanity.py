"""What the built-in sanity check (Adebayo et al. 2018) says for each attribution method on the demo.

    python bench/attribution_sanity.py           # the demo's model and data: 5 epochs on 60,000 images
    python bench/attribution_sanity.py --smoke   # 1 epoch on 2,000 images, for CI

Trains the demo's CNN as `python -m demo` does (Fashion-MNIST, batch 128, the demo's layers and
probe images, whose first 8 the attribution methods map), with FeatVizCallback writing saliency,
SmoothGrad (saliency with 16 noisy copies, a second run of the same training), Grad-CAM and
integrated gradients at step 0 and at every epoch's end. For each method (and Grad-CAM's layer) the
table gives, after each epoch, the median over the 8 images of Spearman's rho between the map and
the same image's map at step 0 (the untrained model), and how many of the 8 maps stay above 0.9
(the dashboard's mark: "barely differs from the untrained model's"). Blank maps (a Grad-CAM all 0)
have no rho and are counted apart.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from demo import fashion_mnist  # noqa: E402
from demo.train import LAYERS, PROBE_IMAGES, build_model  # noqa: E402
from tb_featviz import FeatVizCallback, SaliencyOptions  # noqa: E402
from tb_featviz.records import read_records  # noqa: E402

ATTRIBUTIONS = ["saliency", "gradcam", "integrated_gradients"]


def train(log_dir: str, data, epochs: int, options=None, seed: int = 0) -> float:
    (x, y), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    model = build_model()
    callback = FeatVizCallback(log_dir, LAYERS, probe_images=x_test[:PROBE_IMAGES], probe_labels=y_test[:PROBE_IMAGES],
                               class_names=fashion_mnist.CLASS_NAMES, methods=ATTRIBUTIONS, schedule="epoch",
                               options=options, verbose=0)
    model.fit(x, y, batch_size=128, epochs=epochs, verbose=0, callbacks=[callback])
    return float(model.evaluate(x_test, y_test, verbose=0)[1])


def rows(log_dir: str, rename: dict) -> list:
    """(method, layer, {epoch: (median rho, above 0.9, blank)}) per series, model order."""
    found = []
    for (layer, method), series in read_records(log_dir).items():
        per_epoch = {}
        for step, (header, _) in sorted(series.items()):
            assert header["settings"]["reference"]["step"] == 0
            rhos = [r for r in header["numbers"]["spearman_vs_first"] if r is not None]
            blank = len(header["numbers"]["spearman_vs_first"]) - len(rhos)
            epoch = header["position"]["epochs_completed"]
            per_epoch[epoch] = (float(np.median(rhos)) if rhos else float("nan"), sum(r > 0.9 for r in rhos), blank)
        found.append((rename.get(method, method), layer, per_epoch))
    order = {name: i for i, name in enumerate(["saliency", "SmoothGrad (16)", "gradcam", "integrated_gradients"])}
    return sorted(found, key=lambda row: (order[row[0]], row[1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    epochs, count = (1, 2000) if args.smoke else (5, 60000)
    x, y = fashion_mnist.load("train")
    data = ((x[:count], y[:count]), fashion_mnist.load("test"))
    table = []
    with tempfile.TemporaryDirectory() as root:
        accuracy = train(os.path.join(root, "plain"), data, epochs)
        table += rows(os.path.join(root, "plain"), {})
        train(os.path.join(root, "smooth"), data, epochs, {"saliency": SaliencyOptions(smoothgrad=16)})
        table += [row for row in rows(os.path.join(root, "smooth"), {"saliency": "SmoothGrad (16)"})
                  if row[0] == "SmoothGrad (16)"]
    print(f"demo CNN, {epochs} epoch(s) on {count:,} Fashion-MNIST images: test accuracy {accuracy:.3f}; "
          "8 probe images (the first test images)")
    print()
    epochs_shown = list(range(1, epochs + 1))
    print("| method | layer | " + " | ".join(f"after epoch {e}: median rho, maps > 0.9" for e in epochs_shown) + " |")
    print("|---|---|" + "---|" * len(epochs_shown))
    for method, layer, per_epoch in table:
        cells = []
        for epoch in epochs_shown:
            median, above, blank = per_epoch[epoch]
            cells.append(f"{median:.2f}, {above}/8" + (f" ({blank} blank)" if blank else ""))
        print(f"| {method} | {layer} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
