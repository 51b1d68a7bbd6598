"""Reaching a layer inside a Keras model without changing the model.

Finds layers by name (also inside nested models, as ``"outer/inner"``), builds a function from the
model input to a layer's output that reuses the model's own layers and weights in inference mode,
and temporarily swaps activations (softmax -> linear for logits, ReLU backward rules for deconv).
Works for Functional models, Sequential models (built or not, with or without an ``Input``) and
models nested in either.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import Callable, Iterator, Sequence

import keras
import tensorflow as tf

from tb_featviz.errors import ConfigurationError

SPATIAL = "spatial"  # output (batch, h, w, channels)
UNITS = "units"  # output (batch, units)


@dataclasses.dataclass(frozen=True)
class LayerRef:
    """A layer and the chain of models that contains it, outermost first."""

    name: str  # the name a user gives: "conv1" or "outer/conv1"
    layer: keras.layers.Layer
    parents: tuple  # (model, nested model, ...) whose last element holds `layer`

    @property
    def model(self) -> keras.Model:
        return self.parents[0]


def iter_layers(model: keras.Model) -> Iterator[LayerRef]:
    """Every layer of the model, nested models' layers included, with its qualified name."""

    def walk(container, prefix, parents):
        for layer in container.layers:
            qualified = f"{prefix}{layer.name}"
            yield LayerRef(qualified, layer, parents)
            if isinstance(layer, keras.Model):
                yield from walk(layer, qualified + "/", parents + (layer,))

    yield from walk(model, "", (model,))


def find_layer(model: keras.Model, name: str) -> LayerRef:
    """The layer called `name` (plain, if unique, or qualified); a clear error listing choices."""
    if not isinstance(model, keras.Model):
        raise ConfigurationError(f"expected a keras.Model, got {type(model).__name__}")
    if _is_subclassed(model):
        raise ConfigurationError(
            f"model {model.name!r} is a subclassed keras.Model: its layers cannot be reached "
            "from its input. Use a Sequential or Functional model (or wrap the part to "
            "visualize in one)."
        )
    refs = list(iter_layers(model))
    exact = [r for r in refs if r.name == name]
    if not exact:
        exact = [r for r in refs if r.layer.name == name]
    if len(exact) == 1:
        return exact[0]
    choices = ", ".join(r.name for r in refs if not isinstance(r.layer, keras.layers.InputLayer))
    if not exact:
        raise ConfigurationError(f"model {model.name!r} has no layer {name!r}; layers: {choices}")
    raise ConfigurationError(
        f"layer name {name!r} is ambiguous; use one of: {', '.join(r.name for r in exact)}"
    )


def _is_subclassed(model: keras.Model) -> bool:
    from keras.src.models.functional import Functional

    return not isinstance(model, (Functional, keras.Sequential))


def input_shape(model: keras.Model, fallback: Sequence[int] | None = None) -> tuple:
    """(height, width, channels) of the model input; `fallback` where the model has none yet.

    Dimensions the model leaves open are None. A Sequential model defined without an Input
    has no input shape until its first training step, hence the fallback (probe images or a
    user-given size).
    """
    try:
        shape = tuple(model.inputs[0].shape[1:])
    except (AttributeError, ValueError, IndexError, TypeError):
        shape = None
    if shape is None:
        if fallback is None:
            raise ConfigurationError(
                f"model {model.name!r} has no input shape yet (a Sequential model without "
                "keras.Input). Pass probe_images or image_size=(height, width), or start the "
                "model with keras.Input(shape=...)."
            )
        shape = tuple(fallback)
    if len(shape) != 3:
        raise ConfigurationError(
            f"model {model.name!r} takes inputs of shape {shape}; only image inputs "
            "(height, width, channels) are supported"
        )
    return shape


def shape_from_first_kernel(model: keras.Model, image_size: Sequence[int] | None) -> tuple | None:
    """(h, w, c) for a model without an input shape yet: `image_size` and its first conv's depth."""
    if image_size is None:
        return None
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and len(kernel.shape) == 4:
            return (int(image_size[0]), int(image_size[1]), int(kernel.shape[2]))
    return None


def forward_to(ref: LayerRef, *, layer_input: bool = False) -> Callable[[tf.Tensor], tf.Tensor]:
    """A function input -> output of `ref.layer` (its input, with `layer_input`), running the
    model's layers in inference mode."""
    stages = []
    for depth, container in enumerate(ref.parents):
        last = depth + 1 == len(ref.parents)
        target = ref.layer if last else ref.parents[depth + 1]
        stages.append(_prefix_function(container, target, to_input=last and layer_input))

    def forward(x):
        for stage in stages:
            x = stage(x)
        return x

    return forward


def _prefix_function(container: keras.Model, target: keras.layers.Layer, to_input: bool = False) -> Callable:
    """Input of `container` -> output of its direct layer `target` (its input, if `target` is a
    model or `to_input`)."""
    stop_at_input = to_input or isinstance(target, keras.Model)
    if isinstance(container, keras.Sequential):
        layers = [layer for layer in container.layers]
        index = next(i for i, layer in enumerate(layers) if layer is target)
        chain = layers[:index] if stop_at_input else layers[: index + 1]

        def run_chain(x):
            for layer in chain:
                x = layer(x, training=False) if layer._call_has_training_arg else layer(x)
            return x

        return run_chain
    belongs = nodes_in(container, target)
    if len(belongs) != 1:
        raise ConfigurationError(
            f"layer {target.name!r} is used {len(belongs)} times in model {container.name!r}; "
            "only layers used once can be visualized"
        )
    outputs = belongs[0].input_tensors if stop_at_input else belongs[0].output_tensors
    if len(outputs) != 1:
        raise ConfigurationError(f"layer {target.name!r} has {len(outputs)} inputs/outputs; expected 1")
    sub = keras.Model(container.inputs, outputs[0], name=f"featviz_to_{target.name}")
    return lambda x: sub(x, training=False)


def nodes_in(container: keras.Model, layer: keras.layers.Layer) -> list:
    """The call sites (nodes) of `layer` inside the Functional model `container`'s graph."""
    graph = [n for nodes in getattr(container, "_nodes_by_depth", {}).values() for n in nodes]
    return [n for n in layer._inbound_nodes if any(n is g for g in graph)]


def output_kind(ref: LayerRef, sample_output: tf.Tensor) -> str:
    """SPATIAL or UNITS; anything else cannot be visualized per channel."""
    rank = len(sample_output.shape)
    if rank == 4:
        return SPATIAL
    if rank == 2:
        return UNITS
    raise ConfigurationError(
        f"layer {ref.name!r} outputs shape {tuple(sample_output.shape)}; only layers with "
        "(batch, height, width, channels) or (batch, units) outputs have channels to visualize"
    )


def _relu_like(fn) -> bool:
    return fn is keras.activations.relu or fn is tf.nn.relu or fn is keras.ops.relu


def _squashing(fn) -> bool:
    return fn in (keras.activations.softmax, keras.activations.sigmoid, tf.nn.softmax, tf.nn.sigmoid)


@contextlib.contextmanager
def logits_of(layer: keras.layers.Layer) -> Iterator[None]:
    """Within the block, a layer ending in softmax/sigmoid outputs its pre-activation (logits).

    Maximizing a probability rewards suppressing the other classes; the logit is the unit's own
    evidence. Wrap every call of a traced function in it so that a retrace sees the same graph.
    """
    activation = getattr(layer, "activation", None)
    if activation is None or not _squashing(activation):
        yield
        return
    layer.activation = keras.activations.linear
    try:
        yield
    finally:
        layer.activation = activation


@contextlib.contextmanager
def relu_backward_rule(model: keras.Model, rule: Callable) -> Iterator[None]:
    """Within the block, every ReLU of `model` computes relu(x) forward and `rule` backward.

    `rule(x, upstream) -> downstream`. Catches `activation="relu"` on any layer, `Activation`
    layers and `keras.layers.ReLU` layers (plain ReLUs only), nested models included.
    """

    @tf.custom_gradient
    def swapped_relu(x):
        def grad(upstream):
            return rule(x, upstream)

        return tf.nn.relu(x), grad

    def activation_fn(x, *args, **kwargs):
        return swapped_relu(x)

    restores = []
    try:
        for ref in iter_layers(model):
            layer = ref.layer
            if _relu_like(getattr(layer, "activation", None)):
                restores.append((layer, "activation", layer.activation))
                layer.activation = activation_fn
            elif isinstance(layer, keras.layers.ReLU) and _plain_relu(layer):
                restores.append((layer, "call", None))
                layer.call = lambda inputs: swapped_relu(inputs)
        yield
    finally:
        for layer, attribute, original in reversed(restores):
            if attribute == "call":
                del layer.call
            else:
                layer.activation = original


def _plain_relu(layer: keras.layers.ReLU) -> bool:
    return (
        not getattr(layer, "negative_slope", 0.0)
        and getattr(layer, "max_value", None) is None
        and not getattr(layer, "threshold", 0.0)
    )


def traced(method: Callable) -> Callable:
    """`tf.function` of a bound method, its retraces counted for this instance alone.

    TensorFlow counts retraces per code object, so one maximizer per layer (each tracing
    once) would be reported as "excessive retracing"; a partial has no code object of its own.
    """
    return tf.function(functools.partial(method), reduce_retracing=True)
