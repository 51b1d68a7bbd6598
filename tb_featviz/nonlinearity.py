"""What each elementwise nonlinearity in a Keras model is, so that every method treats it truthfully.

A nonlinearity is found on a layer (a fused ``activation=``, an ``Activation`` layer, a ``ReLU``,
``LeakyReLU``, ``PReLU``, ``ELU`` or ``Softmax`` layer) or as a ``keras.ops`` node in a Functional
graph. It falls in one family:

* ``relu``: piecewise linear with one kink: ``relu``, ``relu6`` / ``max_value``, leaky
  (``negative_slope``), ``threshold``, ``PReLU``. Deconvnet and guided backprop have rules for
  these (see `tb_featviz.backward`).
* ``squashing``: softmax and sigmoid; at a target layer the pre-activation (the logit) is used.
* ``smooth``: every other function Keras ships (gelu, swish/silu, hard_swish, elu, selu, tanh,
  softplus, mish, ...): no deconvnet rule exists for them in the literature.
* ``unknown``: a callable that cannot be identified (a lambda around ``relu`` included: what it
  computes cannot be seen from outside).

Identification is by identity with Keras's, TensorFlow's and ``keras.ops``' own functions and by
layer class, never by guessing from a name.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import keras

LINEAR = "linear"
RELU = "relu"
SQUASHING = "squashing"
SMOOTH = "smooth"
UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class Nonlinearity:
    """One elementwise (or, for softmax, per-vector) nonlinearity and how to compute it."""

    name: str  # as a user would write it: "relu", "relu6", "ReLU(max_value=6)", "gelu", "<lambda>"
    family: str  # LINEAR, RELU, SQUASHING, SMOOTH or UNKNOWN
    function: Callable  # tensor -> tensor, the forward computation
    elementwise: bool = True  # False for softmax-like functions over the last axis
    negative_slope: Optional[Callable] = None  # RELU: x -> slope below the kink (PReLU: learned)


def _functions(module, names):
    return [getattr(module, name) for name in names if hasattr(module, name)]


def _catalogue() -> dict:
    """{function object: (name, family, elementwise, negative slope)} for every known function."""
    tf = _tensorflow()
    table = {}

    def add(functions, name, family, elementwise=True, slope=None):
        for function in functions:
            table.setdefault(function, (name, family, elementwise, slope))

    add([keras.activations.linear], "linear", LINEAR)
    add([keras.activations.relu, keras.ops.relu] + _functions(tf.nn, ["relu"]), "relu", RELU, slope=0.0)
    add(_functions(keras.activations, ["relu6"]) + [keras.ops.relu6] + _functions(tf.nn, ["relu6"]), "relu6", RELU, slope=0.0)
    add(_functions(keras.activations, ["leaky_relu"]) + [keras.ops.leaky_relu], "leaky_relu", RELU, slope=0.2)
    add(_functions(tf.nn, ["leaky_relu"]), "leaky_relu", RELU, slope=0.2)
    add([keras.activations.softmax, keras.ops.softmax] + _functions(tf.nn, ["softmax"]), "softmax", SQUASHING, elementwise=False)
    add(_functions(keras.activations, ["log_softmax", "sparsemax"]) + _functions(tf.nn, ["log_softmax"]),
        "log_softmax", SQUASHING, elementwise=False)
    add([keras.activations.sigmoid, keras.ops.sigmoid] + _functions(tf.nn, ["sigmoid"]) + _functions(tf, ["sigmoid"]), "sigmoid", SQUASHING)
    smooth = [
        "gelu", "silu", "swish", "hard_silu", "hard_swish", "mish", "elu", "selu", "celu", "softplus",
        "softsign", "tanh", "hard_sigmoid", "hard_tanh", "exponential", "log_sigmoid", "sparse_plus",
        "sparse_sigmoid", "squareplus", "tanh_shrink", "soft_shrink", "hard_shrink", "glu",
    ]
    for name in smooth:
        functions = _functions(keras.activations, [name]) + _functions(keras.ops, [name]) + _functions(tf.nn, [name])
        add(functions, name, SMOOTH, elementwise=name != "glu")
    add(_functions(tf, ["tanh"]) + _functions(tf.math, ["tanh"]), "tanh", SMOOTH)
    return table


class _Absent:
    """Stands for TensorFlow (and its tf.nn, tf.math) where Keras runs on another backend: a
    model there cannot call TensorFlow's functions, so none of them need a name."""

    def __getattr__(self, name):
        if name in ("nn", "math"):
            return self
        raise AttributeError(name)


def _tensorflow():
    if keras.backend.backend() != "tensorflow":
        return _Absent()
    import tensorflow as tf

    return tf


_CATALOGUE: Optional[dict] = None


def of_function(function: Callable) -> Nonlinearity:
    """The nonlinearity a fused ``activation=`` or an ``Activation`` layer computes."""
    global _CATALOGUE
    if _CATALOGUE is None:
        _CATALOGUE = _catalogue()
    if function is None:
        return Nonlinearity("linear", LINEAR, keras.activations.linear)
    try:
        entry = _CATALOGUE.get(function)
    except TypeError:  # an unhashable callable
        entry = None
    if entry is None:
        name = getattr(function, "__name__", type(function).__name__)
        return Nonlinearity(name, UNKNOWN, function)
    name, family, elementwise, slope = entry
    return Nonlinearity(name, family, function, elementwise, _constant(slope) if family == RELU else None)


def computes_as(layer, cls) -> bool:
    """Whether `layer` is a `cls` that computes what `cls` does (a subclass may override `call`)."""
    return isinstance(layer, cls) and type(layer).call is cls.call


def of_layer(layer) -> Optional[Nonlinearity]:
    """The elementwise nonlinearity a layer applies last: an activation layer's function or a
    fused ``activation``. None when the layer has none (or only ``linear``). A subclass of an
    activation layer with its own `call` is UNKNOWN: what it computes cannot be seen."""
    known = (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.PReLU, keras.layers.ELU, keras.layers.Softmax)
    if isinstance(layer, known) and not any(computes_as(layer, cls) for cls in known):
        return Nonlinearity(f"{type(layer).__name__} (its own call)", UNKNOWN, layer.call)
    if isinstance(layer, keras.layers.ReLU):
        return _relu_layer(layer)
    if isinstance(layer, keras.layers.LeakyReLU):
        slope = float(layer.negative_slope)
        return Nonlinearity(f"LeakyReLU(negative_slope={slope:g})", RELU, layer.call, True, _constant(slope))
    if isinstance(layer, keras.layers.PReLU):
        return Nonlinearity("PReLU", RELU, layer.call, True, lambda x, layer=layer: layer.alpha)
    if isinstance(layer, keras.layers.ELU):
        return Nonlinearity("ELU", SMOOTH, layer.call)
    if isinstance(layer, keras.layers.Softmax):
        return Nonlinearity("Softmax", SQUASHING, layer.call, elementwise=False)
    activation = getattr(layer, "activation", None)
    if activation is None or not callable(activation):
        return None
    found = of_function(activation)
    return None if found.family == LINEAR else found


def of_operation(operation) -> Optional[Nonlinearity]:
    """The nonlinearity of a ``keras.ops`` node (``keras.ops.relu(x)`` in a Functional graph)."""
    from keras.src.ops import nn

    name = type(operation).__name__
    if isinstance(operation, (nn.Relu, nn.Relu6)):
        return Nonlinearity(name.lower(), RELU, operation.call, True, _constant(0.0))
    if isinstance(operation, nn.LeakyRelu):
        slope = float(getattr(operation, "negative_slope", 0.2))
        return Nonlinearity(f"leaky_relu({slope:g})", RELU, operation.call, True, _constant(slope))
    if isinstance(operation, (nn.Softmax, nn.LogSoftmax)):
        return Nonlinearity(name.lower(), SQUASHING, operation.call, elementwise=False)
    if isinstance(operation, nn.Sigmoid):
        return Nonlinearity("sigmoid", SQUASHING, operation.call)
    smooth = ("Gelu", "Silu", "HardSilu", "HardSigmoid", "Elu", "Selu", "Celu", "Softplus", "Softsign",
              "LogSigmoid", "SparsePlus", "Squareplus", "TanhShrink", "SoftShrink", "HardShrink", "HardTanh",
              "SparseSigmoid", "Glu", "Sparsemax", "Threshold")
    if name in smooth and type(operation).__module__.startswith("keras"):
        return Nonlinearity(name.lower(), SMOOTH, operation.call, elementwise=name not in ("Glu", "Sparsemax"))
    return None


def _relu_layer(layer) -> Nonlinearity:
    options = []
    if getattr(layer, "max_value", None) is not None:
        options.append(f"max_value={float(layer.max_value):g}")
    slope = float(getattr(layer, "negative_slope", 0.0) or 0.0)
    if slope:
        options.append(f"negative_slope={slope:g}")
    if float(getattr(layer, "threshold", 0.0) or 0.0):
        options.append(f"threshold={float(layer.threshold):g}")
    return Nonlinearity(f"ReLU({', '.join(options)})" if options else "ReLU", RELU, layer.call, True, _constant(slope))


def _constant(value: float) -> Callable:
    return lambda x, value=value: value
