"""Every method's results on one model with fixed weights, under whichever Keras backend runs.

    KERAS_BACKEND=jax python -m tests.backend_results OUT.npz

`test_backends.py` runs this under TensorFlow, JAX and PyTorch and compares the files: the same
weights and seed must give the same pictures whatever backend computes them.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tb_featviz  # noqa: E402
from tests.conftest import fill_weights, image_data  # noqa: E402

RULES = ("deconvnet", "guided", "gradient")


def cross_backend_cnn() -> keras.Model:
    """Conv-BN-ReLU, a conv with relu6, one with leaky ReLU, a softmax head: every rule's path."""
    model = keras.Sequential([
        keras.Input((24, 24, 3)),
        keras.layers.Conv2D(8, 3, padding="same", name="conv1"),
        keras.layers.BatchNormalization(name="bn1"),
        keras.layers.ReLU(name="relu1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(12, 3, padding="same", activation="relu6", name="conv2"),
        keras.layers.MaxPooling2D(name="pool2"),
        keras.layers.Conv2D(10, 3, activation="leaky_relu", name="conv3"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(5, activation="softmax", name="logits"),
    ], name="cross_backend_cnn")
    return fill_weights(model, 7)  # the same numbers under every backend (not its initializers)


def results() -> dict:
    model = cross_backend_cnn()
    x, y = image_data(n=8, size=24)
    out = {}
    am = tb_featviz.maximize_activation(model, "conv2", [0, 3, 5, 7], preset="fast", steps=16)
    out.update(am_images=am.images, am_activation=am.activation, am_dead=am.dead)
    fourier = tb_featviz.maximize_activation(model, "conv3", [1, 2], preset="quality", steps=12,
                                             parameterization="fourier")
    out.update(fourier_images=fourier.images, fourier_activation=fourier.activation)
    for rule in RULES:
        deconv = tb_featviz.deconvnet(model, "conv3", x, [0, 4, 9], top_k=2, rule=rule)
        out[f"deconv_{rule}_values"] = deconv.values
        out[f"deconv_{rule}_projections"] = deconv.projections
        out[f"deconv_{rule}_image_index"] = deconv.image_index
    occluded = tb_featviz.occlusion(model, x[:2], y[:2], size=8, stride=8)
    out.update(occlusion_probability=occluded.probability, occlusion_class=occluded.predicted_class)
    smooth = tb_featviz.attribution(model, x[:3], y[:3], method="smoothgrad", smoothgrad=3)
    cam = tb_featviz.attribution(model, x[:3], y[:3], method="gradcam", layer="conv2")
    ig = tb_featviz.attribution(model, x[:3], y[:3], method="integrated_gradients", steps=6)
    out.update(smoothgrad_maps=smooth.maps, gradcam_maps=cam.maps, gradcam_cams=cam.cams, ig_maps=ig.maps,
               ig_score_difference=ig.input_scores - ig.baseline_scores, attribution_scores=ig.scores)
    weights = tb_featviz.filter_weights(model, "conv1", [0, 1, 2])
    out.update(weights_tiles=np.asarray(weights.tiles()))
    return out


if __name__ == "__main__":
    np.savez(sys.argv[1], backend=keras.backend.backend(), **results())
