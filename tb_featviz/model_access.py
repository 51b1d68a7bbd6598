"""Reaching a layer inside a Keras model without changing the model.

Finds layers by name (also inside nested models, as ``"outer/inner"``), builds a function from the
model input to a layer's output that reuses the model's own layers and weights in inference mode,
and temporarily swaps activations (softmax -> linear for logits, ReLU backward rules for deconv).
Works for Functional models, Sequential models (built or not, with or without an ``Input``) and
models nested in either.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Callable, Iterator, Sequence

import keras

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

    def descent(self) -> Iterator[tuple]:
        """(container, target, last, prefix) from the outermost model inwards: in each container,
        the layer to reach there (the next nested model on the way, or the layer itself when
        `last`), and the qualified-name prefix of that container's layers. Every walk from the
        model input to a nested layer (forward functions, operations, receptive fields) goes
        through here."""
        for depth, container in enumerate(self.parents):
            last = depth + 1 == len(self.parents)
            target = self.layer if last else self.parents[depth + 1]
            yield container, target, last, "".join(f"{model.name}/" for model in self.parents[1 : depth + 1])


# Augmentation layers pass the input through unchanged at inference, which is how every method
# calls the model (training=False): the usual Keras pattern of augmenting inside the model.
IDENTITY_AT_INFERENCE = tuple(
    getattr(keras.layers, name)
    for name in ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
                 "RandomBrightness", "RandomShear", "RandomGrayscale", "RandomHue", "RandomSaturation",
                 "RandomColorJitter", "RandomColorDegeneration", "RandomErasing", "RandomGaussianBlur",
                 "RandomPerspective", "RandomElasticTransform", "RandomInvert")
    if hasattr(keras.layers, name)
)


def iter_layers(model: keras.Model) -> Iterator[LayerRef]:
    """Every layer of the model, nested models' layers included, with its qualified name."""

    def walk(container, prefix, parents):
        for layer in container.layers:
            qualified = f"{prefix}{layer.name}"
            yield LayerRef(qualified, layer, parents)
            if isinstance(layer, keras.Model):
                yield from walk(layer, qualified + "/", parents + (layer,))

    yield from walk(model, "", (model,))


def output_layer(model: keras.Model):
    """The layer (or operation) that computes a single-output model's output."""
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) > 1:
        raise ConfigurationError(f"model {model.name!r} has {len(outputs)} outputs; occlusion needs one (a classifier)")
    if outputs:
        return outputs[0]._keras_history[0]
    return model.layers[-1] if model.layers else None


def check_model(model) -> None:
    """A Sequential or Functional keras.Model, or a clear error."""
    if not isinstance(model, keras.Model):
        raise ConfigurationError(f"expected a keras.Model, got {type(model).__name__}")
    if _is_subclassed(model):
        raise ConfigurationError(
            f"model {model.name!r} is a subclassed keras.Model: its layers cannot be reached "
            "from its input. Use a Sequential or Functional model (or wrap the part to "
            "visualize in one)."
        )


def find_layer(model: keras.Model, name: str) -> LayerRef:
    """The layer called `name` (plain, if unique, or qualified); a clear error listing choices."""
    check_model(model)
    refs = list(iter_layers(model))
    exact = [r for r in refs if r.name == name]
    if not exact:
        exact = [r for r in refs if r.layer.name == name]
    if len(exact) == 1:
        return exact[0]
    named = [r for r in refs if not isinstance(r.layer, keras.layers.InputLayer)]
    choices = ", ".join(r.name for r in named)
    if not exact:
        close = close_names(name, named)
        hint = f" (did you mean {' or '.join(repr(n) for n in close)}?)" if close else ""
        raise ConfigurationError(f"model {model.name!r} has no layer {name!r}{hint}; layers: {choices}")
    raise ConfigurationError(
        f"layer name {name!r} is ambiguous; use one of: {', '.join(r.name for r in exact)}"
    )


def close_names(name: str, refs: Sequence[LayerRef], limit: int = 3) -> list:
    """The layers whose name (qualified or plain) is close to `name`, ignoring case ("conv1" ->
    "Conv1", as keras.applications names them), in the model's order."""
    lowered = {}
    for index, ref in enumerate(refs):
        for key in (ref.name.lower(), ref.layer.name.lower()):
            lowered.setdefault(key, []).append(index)
    same = lowered.get(name.lower())  # the name in another case: that one, not its neighbours
    matches = [name.lower()] if same else difflib.get_close_matches(name.lower(), list(lowered), n=limit, cutoff=0.6)
    indices = sorted({i for match in matches for i in lowered[match]})
    return [refs[i].name for i in indices][:limit]


def _is_subclassed(model: keras.Model) -> bool:
    from keras.src.models.functional import Functional

    return not isinstance(model, (Functional, keras.Sequential))


def declared_input_shape(model: keras.Model) -> tuple | None:
    """The shape of one model input as the model declares it (None where it has none yet: a
    Sequential model defined without keras.Input, before its first call)."""
    try:
        return tuple(model.inputs[0].shape[1:])
    except (AttributeError, ValueError, IndexError, TypeError):
        return None


_SPATIAL_LAYERS = (
    keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Conv2DTranspose,
    keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D, keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D, keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D,
    keras.layers.UpSampling2D, keras.layers.ZeroPadding2D, keras.layers.Cropping2D,
)


def channels_first(model: keras.Model) -> bool:
    """Whether the model's images are (channels, height, width), from its spatial layers' own
    `data_format`; a model that mixes both layouts is refused."""
    formats = {
        ref.layer.data_format for ref in iter_layers(model)
        if isinstance(ref.layer, _SPATIAL_LAYERS) and getattr(ref.layer, "data_format", None)
    }
    if len(formats) > 1:
        raise ConfigurationError(
            f"model {model.name!r} mixes channels_first and channels_last layers; tb-featviz needs one "
            "image layout throughout"
        )
    return formats == {"channels_first"}


def ensure_built(model: keras.Model, model_shape: Sequence[int]) -> None:
    """Build a model that has no weights yet (a Sequential without keras.Input) for inputs of
    `model_shape`, as its first call in `fit` would: same layers, same initializers, same order."""
    if not model.built or declared_input_shape(model) is None:
        model.build((None,) + tuple(model_shape))


def forward_to(ref: LayerRef, *, layer_input: bool = False) -> Callable:
    """A function input -> output of `ref.layer` (its input, with `layer_input`), running the
    model's layers in inference mode. A nested model named as the target gives its output."""
    stages = []
    for container, target, last, _ in ref.descent():
        # On the way down, a nested model on the path is entered: stop at its input.
        stages.append(_prefix_function(container, target, to_input=layer_input if last else True))

    def forward(x):
        for stage in stages:
            x = stage(x)
        return x

    return forward


def _prefix_function(container: keras.Model, target: keras.layers.Layer, to_input: bool) -> Callable:
    """Input of `container` -> output (or, with `to_input`, input) of its direct layer `target`."""
    if isinstance(container, keras.Sequential):
        layers = [layer for layer in container.layers]
        index = next(i for i, layer in enumerate(layers) if layer is target)
        chain = layers[:index] if to_input else layers[: index + 1]

        def run_chain(x):
            for layer in chain:
                x = layer(x, training=False) if layer._call_has_training_arg else layer(x)
            return x

        return run_chain
    node = single_node(container, target)
    outputs = node.input_tensors if to_input else node.output_tensors
    if len(outputs) != 1:
        raise ConfigurationError(f"layer {target.name!r} has {len(outputs)} inputs/outputs; expected 1")
    sub = keras.Model(container.inputs, outputs[0], name=f"featviz_to_{target.name}")
    return lambda x: sub(x, training=False)


def single_node(container: keras.Model, layer) -> object:
    """The one call site of `layer` in the Functional model `container` (shared layers refused)."""
    belongs = nodes_in(container, layer)
    if len(belongs) != 1:
        raise ConfigurationError(
            f"layer {layer.name!r} is used {len(belongs)} times in model {container.name!r}; "
            "only layers used once can be visualized"
        )
    return belongs[0]


def nodes_in(container: keras.Model, layer: keras.layers.Layer) -> list:
    """The call sites (nodes) of `layer` inside the Functional model `container`'s graph."""
    graph = [n for nodes in getattr(container, "_nodes_by_depth", {}).values() for n in nodes]
    return [n for n in layer._inbound_nodes if any(n is g for g in graph)]


@dataclasses.dataclass(frozen=True)
class Operation:
    """One step between the model input and a target: a layer or a `keras.ops` node."""

    name: str  # qualified like layer names: "block/relu"
    operation: object  # the keras Layer or Operation
    inputs: int  # how many of its inputs come from the model input (2 for Multiply gating)
    args: tuple = ()  # its call's positional arguments (tensors and constants), for keras.ops nodes


def operations_before(ref: LayerRef) -> list:
    """Every operation between the model input and `ref.layer`'s input, input side first; nested
    models on the way are opened. For a nested model named as the target, its inside too."""
    found: list = []
    for container, target, _, prefix in ref.descent():
        found += _ancestors(container, target, prefix)
    if isinstance(ref.layer, keras.Model):
        found += _whole(ref.layer, ref.name + "/")
    return found


def _ancestors(container, target, prefix: str) -> list:
    if isinstance(container, keras.Sequential):
        found = []
        for layer in container.layers:
            if layer is target:
                return found
            found += _opened(layer, prefix, 1)
        return found
    return _walk_back(single_node(container, target).input_tensors, prefix)


def _whole(model, prefix: str) -> list:
    if isinstance(model, keras.Sequential):
        return [op for layer in model.layers for op in _opened(layer, prefix, 1)]
    return _walk_back(model.outputs, prefix)


def _walk_back(tensors, prefix: str) -> list:
    """Post-order walk from `tensors` back to the inputs: each operation after its inputs'."""
    found, seen = [], set()

    def visit(tensor):
        operation, node_index, _ = tensor._keras_history
        node = operation._inbound_nodes[node_index]
        if id(node) in seen:
            return
        seen.add(id(node))
        for parent in node.input_tensors:
            visit(parent)
        if not isinstance(operation, keras.layers.InputLayer):
            args = tuple(getattr(getattr(node, "arguments", None), "args", ()) or ())
            found.extend(_opened(operation, prefix, len(node.input_tensors), args))

    for tensor in tensors:
        visit(tensor)
    return found


def _opened(operation, prefix: str, inputs: int, args: tuple = ()) -> list:
    if isinstance(operation, keras.Model):
        return _whole(operation, f"{prefix}{operation.name}/")
    if isinstance(operation, keras.layers.InputLayer):
        return []
    return [Operation(f"{prefix}{operation.name}", operation, inputs, args)]


def output_kind(ref: LayerRef, sample_output) -> str:
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



