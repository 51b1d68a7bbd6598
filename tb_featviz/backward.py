"""Backward rules: what deconvnet, guided backprop and the plain gradient do at each nonlinearity.

A deconv projection is a backward pass from one unit to the input pixels. Linear operations
(convolutions of every kind, dense, batch norm in inference, adds, concatenations, average
pooling, padding, reshapes) are transposed exactly by backprop: that is the deconvnet's
"filtering". Max pooling routes the signal through its switches (the positions of the maxima):
the deconvnet's "unpooling". What differs between the methods is the rule at each nonlinearity:

* ``deconvnet`` (Zeiler & Fergus 2013): the signal is rectified, whatever the forward input was.
  For the ReLU family (relu, relu6 / ``max_value``, ``threshold``, leaky / ``negative_slope``,
  PReLU) that is the family's own shape below and above zero applied to the signal:
  ``s if s > 0 else slope * s``. The cap of relu6 and a threshold concern forward magnitudes,
  not the signal's, so they are not applied to it.
* ``guided`` (Springenberg et al. 2015): the signal passes where the forward unit passes it and
  where it is positive: ``f'(x) * max(s, 0)``, with ``f'`` the nonlinearity's own derivative
  (1 inside relu6's linear range, 0 where it is capped, the slope below zero for leaky ones).
* ``gradient``: the plain gradient (a saliency map), every nonlinearity as it is.

Every other nonlinearity (gelu, swish, sigmoid, tanh, elu, selu, softplus, mish, a layer norm, a
multiplicative gate, an unknown function or layer) has no deconvnet or guided rule in the
literature: a layer whose path from the input crosses one gets ``gradient`` only, and only
under that name. The record lists the rule each nonlinearity on the path got.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator, Optional

import keras
from keras import ops

from tb_featviz import backend, nonlinearity
from tb_featviz.model_access import IDENTITY_AT_INFERENCE, Operation
from tb_featviz.nonlinearity import Nonlinearity, computes_as

DECONVNET, GUIDED, GRADIENT = "deconvnet", "guided", "gradient"
RULES = (DECONVNET, GUIDED, GRADIENT)
# Not a projection rule: used when searching for an input that makes a silent channel fire.
# Where a ReLU passes no gradient at all for an example, let the signal through wherever it
# would move the unit toward its linear range (Lucid's redirected ReLU gradient).
REDIRECTED = "redirected"

RELU_STEP = "relu"  # a ReLU-family nonlinearity: the rule applies
SWITCHES = "switches"  # max pooling / maximum: the signal goes through the switches
NO_RULE = "no_rule"  # a nonlinearity deconvnet and guided backprop have no rule for

_LINEAR = tuple(
    getattr(keras.layers, name)
    for name in (
        "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
        "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "Dense",
        "EinsumDense", "BatchNormalization", "Add", "Subtract", "Average", "Concatenate",
        "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling1D",
        "GlobalAveragePooling2D", "GlobalAveragePooling3D", "ZeroPadding1D", "ZeroPadding2D",
        "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "Flatten", "Reshape", "Permute",
        "RepeatVector", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
        "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Rescaling",
        "Normalization", "Identity", "UpSampling1D", "UpSampling2D", "UpSampling3D", "Resizing",
        "CenterCrop",
    )
    if hasattr(keras.layers, name)
) + IDENTITY_AT_INFERENCE
_SWITCH = tuple(
    getattr(keras.layers, name)
    for name in ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "GlobalMaxPooling1D",
                 "GlobalMaxPooling2D", "GlobalMaxPooling3D", "Maximum", "Minimum")
    if hasattr(keras.layers, name)
)
# keras.ops nodes that are affine in each input (Multiply/Divide only with one input from the model)
_AFFINE_OPS = {"Add", "Subtract", "Negative", "Reshape", "Transpose", "Concatenate", "ExpandDims",
               "Squeeze", "Mean", "Sum", "Pad", "Identity"}


def _linear_classes() -> tuple:
    """Keras's own linear layers, and linear layers Keras applications define (ConvNeXt's LayerScale)."""
    extra = []
    try:
        from keras.src.applications.convnext import LayerScale

        extra.append(LayerScale)
    except ImportError:
        pass
    return _LINEAR + tuple(extra)


@dataclasses.dataclass(frozen=True)
class Step:
    """A nonlinear step on the path from the input to a target, and how backward rules treat it."""

    name: str  # the layer (qualified) or keras.ops node
    what: str  # "relu6", "max pooling", "gelu", "Multiply of two branches", ...
    kind: str  # RELU_STEP, SWITCHES or NO_RULE
    operation: object = None
    nonlinearity: Optional[Nonlinearity] = None

    def rule_given(self, rule: str) -> str:
        if rule == GRADIENT or self.kind == NO_RULE:
            return GRADIENT
        return "switches" if self.kind == SWITCHES else rule


def steps_on_path(operations: list) -> list:
    """The nonlinear steps among `operations` (from `model_access.operations_before`)."""
    linear = _linear_classes()
    steps = []
    for op in operations:
        steps.extend(_classify(op, linear))
    return steps


def _classify(op: Operation, linear: tuple) -> list:
    layer = op.operation
    if isinstance(layer, keras.layers.Layer):
        found = nonlinearity.of_layer(layer)
        activation_step = [] if found is None else [_nonlinear_step(op.name, layer, found)]
        if isinstance(layer, (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.PReLU, keras.layers.ELU,
                              keras.layers.Softmax, keras.layers.Activation)):
            return activation_step
        if any(computes_as(layer, cls) for cls in _SWITCH):
            return [Step(op.name, type(layer).__name__, SWITCHES, layer)] + activation_step
        if isinstance(layer, keras.layers.Multiply) and op.inputs > 1:
            return [Step(op.name, "Multiply of two branches (a gate)", NO_RULE, layer)]
        if any(computes_as(layer, cls) for cls in linear + (keras.layers.Multiply,)):
            return activation_step
        return [Step(op.name, _describe_unknown(layer), NO_RULE, layer)]
    found = nonlinearity.of_operation(layer)
    if found is not None:
        return [_nonlinear_step(op.name, layer, found)]
    if _affine_op(op):
        return []
    return [Step(op.name, f"keras.ops {type(layer).__name__}", NO_RULE, layer)]


def _affine_op(op: Operation) -> bool:
    """A keras.ops node that is affine in the model's tensors: sums, reshapes, and products or
    quotients with a constant (never a constant divided by a tensor, nor a cast to integers)."""
    layer, kind = op.operation, type(op.operation).__name__
    if not type(layer).__module__.startswith("keras"):
        return False
    if kind in _AFFINE_OPS:
        return True
    if kind == "Cast":
        return str(getattr(layer, "dtype", "")).startswith(("float", "bfloat"))
    args = op.args
    tensors = [isinstance(arg, keras.KerasTensor) for arg in args]
    if kind == "Multiply":
        return sum(tensors) <= 1
    if kind in ("Divide", "TrueDivide"):
        return len(tensors) == 2 and tensors[0] and not tensors[1]
    return False



def _describe_unknown(layer) -> str:
    kind = type(layer).__name__
    if isinstance(layer, (keras.layers.LayerNormalization, keras.layers.GroupNormalization)):
        return f"{kind}: divides by its input's own statistics"
    if isinstance(layer, keras.layers.Lambda):
        return "Lambda layer: what it computes cannot be seen"
    return f"{kind}: a layer tb-featviz has no backward rule for"


def _nonlinear_step(name: str, operation, found: Nonlinearity) -> Step:
    kind = RELU_STEP if found.family == nonlinearity.RELU else NO_RULE
    return Step(name, found.name, kind, operation, found)


def refusal(layer_name: str, steps: list, rule: str) -> Optional[str]:
    """Why `rule` cannot project `layer_name` truthfully, or None when it can."""
    if rule == GRADIENT:
        return None
    blocking = [step for step in steps if step.kind == NO_RULE]
    if not blocking:
        return None
    shown = ", ".join(f"{step.name} ({step.what})" for step in blocking[:4])
    more = f" and {len(blocking) - 4} more" if len(blocking) > 4 else ""
    return (
        f"deconv rule {rule!r} is not defined for layer {layer_name!r}: its path from the input crosses "
        f"{shown}{more}; {rule} has rules only for ReLU-family nonlinearities and max pooling. "
        f"Use the rule 'gradient' for the plain gradient, recorded as such (deconv_rule='gradient' in "
        f"FeatVizCallback, rule='gradient' in tb_featviz.deconvnet, --rule gradient in the CLI), or a "
        f"layer before {blocking[0].name!r}"
    )


def record(steps: list, rule: str) -> list:
    """What the record says about the path: each nonlinear step and the rule it got."""
    return [{"layer": step.name, "nonlinearity": step.what, "rule": step.rule_given(rule)} for step in steps]


@contextlib.contextmanager
def applied(steps: list, rule: str) -> Iterator[None]:
    """Within the block, every ReLU-family step computes its usual output forward and `rule`
    backward. Wrap every call of a traced function in it: a trace keeps the rule it was traced
    with, and a retrace outside the block would silently give the plain gradient."""
    restores = []
    try:
        if rule != GRADIENT:  # deconvnet, guided, or REDIRECTED
            for step in steps:
                if step.kind == RELU_STEP:
                    restores.append(_patch(step, rule))
        yield
    finally:
        for undo in reversed(restores):
            undo()


def _patch(step: Step, rule: str):
    target, found = step.operation, step.nonlinearity
    if isinstance(target, keras.layers.Layer) and not isinstance(
        target, (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.PReLU)
    ):  # a fused activation, or an Activation layer: swap the function
        original = target.activation
        target.activation = _ruled(original, found, rule)

        def undo():
            target.activation = original

        return undo
    original = target.call  # a ReLU-family layer or a keras.ops node: swap its call
    target.call = _ruled(original, found, rule)

    def undo_call():
        del target.call

    return undo_call


def _ruled(forward, found: Nonlinearity, rule: str):
    def run(x, *args, **kwargs):
        # The forward value comes from the layer's own function; the backward pass reaches x only
        # through the rule (stop_gradient cuts the function's own gradient path).
        y = ops.stop_gradient(forward(x, *args, **kwargs))
        if rule == DECONVNET:
            slope = ops.cast(ops.convert_to_tensor(found.negative_slope(x)), y.dtype)
            return backend.custom_backward(_rectified)(x, y, ops.stop_gradient(slope + ops.zeros_like(y)))
        local = ops.cast(backend.derivative(lambda inputs: forward(inputs, *args, **kwargs), x), y.dtype)
        return backend.custom_backward(_redirected if rule == REDIRECTED else _guided)(x, y, local)

    return run


def _rectified(upstream, x, slope):
    """Backward: the signal rectified by the ReLU family's shape, to x only."""
    return ops.where(upstream > 0, upstream, upstream * slope)


def _redirected(upstream, x, local):
    """Backward: the ordinary gradient f'(x) * s, unless it is zero everywhere for an example;
    then s itself, except where it would push a unit further out of the linear range (below the
    kink, or above a cap). `s` is the gradient of a loss being minimized."""
    ordinary = local * upstream
    axes = tuple(range(1, len(upstream.shape)))
    passes = ops.any(ops.not_equal(ordinary, 0), axis=axes, keepdims=True)
    off = ops.equal(local, 0)
    blocked = ops.logical_and(off, ops.logical_or(ops.logical_and(x <= 0, upstream > 0),
                                                   ops.logical_and(x > 0, upstream < 0)))
    redirected = ops.where(blocked, ops.zeros_like(upstream), upstream)
    return ops.where(passes, ordinary, redirected)


def _guided(upstream, x, local):
    """Backward: f'(x) * max(signal, 0), to x only."""
    return local * ops.relu(upstream)
