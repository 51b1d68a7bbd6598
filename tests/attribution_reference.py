"""The attribution methods computed the direct way, one image at a time with tf.GradientTape, as
their papers define them: the references tests/test_attribution.py compares tb-featviz with.
They share no code with tb_featviz (the logits are the output Dense layer's input times its
kernel plus bias, written out here)."""

import keras
import numpy as np
import tensorflow as tf

from tests.conftest import fill_weights


def residual_cnn(size=24, classes=5, name="residual_cnn") -> keras.Model:
    """Conv-BN-ReLU, a residual block with BatchNorm and an Add, a second residual add after
    pooling, global pooling and a softmax head; BatchNorm statistics that are not the identity."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    y = keras.layers.Conv2D(8, 3, padding="same", name="conv2")(x)
    y = keras.layers.BatchNormalization(name="bn2")(y)
    x = keras.layers.ReLU(name="relu2")(keras.layers.Add(name="add1")([x, y]))
    x = keras.layers.MaxPooling2D(name="pool")(x)
    z = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.Add(name="add2")([x, z])
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="logits")(x)
    model = keras.Model(inputs, outputs, name=name)
    return fill_weights(model, 3)


def logits_of(model, head: str):
    """x -> logits: the input of the Dense layer `head`, times its kernel, plus its bias."""
    dense = model.get_layer(head)
    before = keras.Model(model.inputs, dense.input)

    def logits(x):
        return tf.matmul(before(x, training=False), dense.kernel) + dense.bias

    return logits


def saliency(model, head, images, classes, noise=None):
    """Per image: max over channels of |d logit / d x|; with `noise` (n, N, h, w, c) the mean of
    the maps of the N noisy copies (SmoothGrad)."""
    logits = logits_of(model, head)
    maps = []
    for i, image in enumerate(images):
        copies = [image] if noise is None else [image + n for n in noise[i]]
        per_copy = []
        for copy in copies:
            x = tf.constant(copy[None])
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = logits(x)[0, classes[i]]
            per_copy.append(np.max(np.abs(tape.gradient(score, x).numpy()[0]), axis=-1))
        maps.append(np.mean(per_copy, axis=0))
    return np.array(maps)


def gradcam(model, head, layer, images, classes):
    """Per image: ReLU(sum_k mean_ij(d logit / d A_k) A_k), bilinearly resized to the image."""
    dense = model.get_layer(head)
    both = keras.Model(model.inputs, [model.get_layer(layer).output, dense.input])
    maps = []
    for i, image in enumerate(images):
        with tf.GradientTape() as tape:
            features, before = both(tf.constant(image[None]), training=False)
            score = (tf.matmul(before, dense.kernel) + dense.bias)[0, classes[i]]
        gradient = tape.gradient(score, features).numpy()[0]
        cam = np.maximum(np.sum(features.numpy()[0] * gradient.mean(axis=(0, 1)), axis=-1), 0)
        maps.append(tf.image.resize(cam[..., None], image.shape[:2], method="bilinear").numpy()[..., 0])
    return np.array(maps)


def integrated_gradients(model, head, images, classes, baseline, steps):
    """Per image: (x - x') * mean_k dF(x' + k/m (x - x'))/dx, k = 1..m; with F(x) and F(x')."""
    logits = logits_of(model, head)
    attributions, differences = [], []
    for i, image in enumerate(images):
        total = np.zeros(image.shape, np.float64)
        for k in range(1, steps + 1):
            x = tf.constant((baseline + k / steps * (image - baseline))[None].astype(np.float32))
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = logits(x)[0, classes[i]]
            total += tape.gradient(score, x).numpy()[0]
        attributions.append((image - baseline) * total / steps)
        ends = logits(tf.constant(np.stack([image, baseline]).astype(np.float32))).numpy()[:, classes[i]]
        differences.append(ends[0] - ends[1])
    return np.array(attributions), np.array(differences)


def spearman(a, b) -> float:
    from scipy import stats

    return float(stats.spearmanr(np.ravel(a), np.ravel(b)).statistic)
