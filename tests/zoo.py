"""The model zoo: every keras.applications architecture that builds offline, checked end to end.

Shared by `tests/test_zoo.py` (CI: small inputs, 2 AM steps, 3 layers per network) and
`make zoo` (`ZOO=full`: more steps and channels, and the CLI on each saved model).
For every network: the layer listing, then the callback in a one-epoch `fit` on an early, a
middle and a late convolution layer with every method that applies, then the notebook API on
the same layers, each result compared with a reference that does not go through tb-featviz:

* weights: the layer's own response to impulse inputs (tests/impulse.py);
* AM: the Keras sub-model's output on the AM images equals the activation reported;
* deconv: the top activations and the dead flags equal those of the Keras sub-model on the
  probes; with the plain-gradient rule the projection equals autodiff through the sub-model;
  with deconvnet every ReLU on the path is listed with its rule;
* records: the callback's record at step 1 holds the same numbers as the notebook API's result
  on the trained model, so what TensorBoard shows is what was checked.
A method that does not apply is refused before any work with a ConfigurationError naming the
layer, the reason and what would work.
"""

import os

import keras
import tensorflow as tf

FULL = os.environ.get("ZOO") == "full"

# (name, constructor, smallest input size keras.applications accepts)
ARCHITECTURES = [
    ("VGG16", "VGG16", 32),
    ("ResNet50", "ResNet50", 32),
    ("ResNet50V2", "ResNet50V2", 32),
    ("MobileNet", "MobileNet", 32),
    ("MobileNetV2", "MobileNetV2", 32),
    ("MobileNetV3Small", "MobileNetV3Small", 32),
    ("EfficientNetB0", "EfficientNetB0", 32),
    ("EfficientNetV2B0", "EfficientNetV2B0", 32),
    ("DenseNet121", "DenseNet121", 32),
    ("ConvNeXtTiny", "ConvNeXtTiny", 32),
    ("Xception", "Xception", 71),
    ("InceptionV3", "InceptionV3", 75),
    ("NASNetMobile", "NASNetMobile", 32),
]
CONV_TYPES = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D,
              keras.layers.Conv2DTranspose)


def build(name, size, classes=5):
    keras.utils.set_random_seed(0)
    constructor = getattr(keras.applications, name)
    kwargs = dict(weights=None, input_shape=(size, size, 3), classes=classes)
    if name.startswith("MobileNetV3"):
        kwargs["include_preprocessing"] = False
    return constructor(**kwargs)


def pick_layers(model):
    """An early, a middle and a late convolution (qualified names, nested models opened)."""
    from tb_featviz.model_access import iter_layers

    convs = [ref.name for ref in iter_layers(model) if isinstance(ref.layer, CONV_TYPES)]
    return [convs[0], convs[len(convs) // 2], convs[-1]]


def sub_model(model, name):
    """Model input -> the layer's output, through Keras's own graph (no tb-featviz code)."""
    layer = model
    for part in name.split("/"):
        layer = layer.get_layer(part)
    if "/" not in name:
        return keras.Model(model.inputs, layer.output)
    # a layer in a nested model: chain the outer model up to the nested one, then inside it
    outer_name, inner_name = name.split("/", 1)
    outer = model.get_layer(outer_name)
    to_outer = keras.Model(model.inputs, outer.input)
    inside = keras.Model(outer.inputs, outer.get_layer(inner_name).output)
    return lambda x: inside(to_outer(x))


def fused_linear(layer):
    activation = getattr(layer, "activation", None)
    return activation is None or activation is keras.activations.linear


def unit_gradient(function, image, row, col, channel):
    image = tf.constant(image[None])
    with tf.GradientTape() as tape:
        tape.watch(image)
        out = function(image)
        unit = out[0, row, col, channel] if len(out.shape) == 4 else out[0, channel]
    return tape.gradient(unit, image)[0].numpy()
