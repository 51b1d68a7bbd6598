"""Turning the user's choice of layers, channels and methods into a checked plan.

Everything that can be wrong with a configuration is found here, before any epoch runs, and
reported as a ConfigurationError that lists the valid choices.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import weakref
from typing import Iterable, Mapping, Optional, Sequence, Union

import numpy as np
from keras import ops
from keras.layers import InputLayer

from tb_featviz import backend, backward, target
from tb_featviz.errors import ConfigurationError, cause
from tb_featviz.inputs import InputSpec
from tb_featviz.methods import REGISTRY
from tb_featviz.methods.base import EVERY_NAMED, SOME_NAMED, TO_IMAGE, TO_INPUT, LayerOutput
from tb_featviz.model_access import SPATIAL, LayerRef, find_layer, iter_layers, operations_before, output_kind
from tb_featviz.settings import Settings
from tb_featviz.receptive_field import Field, receptive_field

log = logging.getLogger("tb_featviz")

DEFAULT_MAX_CHANNELS = 64

# Where a method's gradients must reach, in the words of a refusal.
_GRADIENT_TARGETS = {TO_IMAGE: "the AM image (input_range, preprocess)", TO_INPUT: "the model input"}

ChannelSpec = Union[str, int, Iterable[int], None]
LayerSpec = Union[str, Sequence[str], Mapping[str, ChannelSpec]]

# Layers that keep the model input's colour channels as they are (a first conv after them still
# looks at red, green and blue).
_COLOUR_PRESERVING = ("Rescaling", "Normalization", "ZeroPadding2D", "Cropping2D", "Resizing", "CenterCrop",
                      "Dropout", "GaussianNoise", "Identity")


@dataclasses.dataclass
class LayerPlan:
    """One layer to visualize: how to reach it, which channels, which methods."""

    ref: LayerRef
    target: target.Target
    kind: str  # model_access.SPATIAL or UNITS
    num_channels: int
    channels: list
    methods: tuple
    field: Optional[Field]
    path: list  # the nonlinear steps between the input and the layer (backward.Step)
    colour: bool  # the layer reads the model's RGB input directly (weights are RGB pictures)
    left_out: dict = dataclasses.field(default_factory=dict)  # {method: why it does not apply}
    channel_names: Optional[list] = None  # the user's class names of the chosen channels

    @property
    def name(self) -> str:
        return self.ref.name

    def record_settings(self, spec: InputSpec) -> dict:
        """What every record of this layer says about how it was made (docs/FORMAT.md)."""
        settings = {"input": spec.settings(), "num_channels": self.num_channels}
        if self.channel_names is not None:
            settings["channel_names"] = list(self.channel_names)
        return settings


def class_layer_names(model, class_names: Optional[tuple]):
    """(the class layer, its unit names) for `class_names`, or (None, None).

    The class layer is the model's last layer with weights when it has one unit per class
    (a Dense logits layer, softmax or not); other layers' channels are not classes. A model
    output of another size is a misconfiguration, named before the first epoch.
    """
    if class_names is None:
        return None, None
    output_units = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    if output_units == 1 and len(class_names) == 2:
        return None, None  # a binary classifier's two classes (occlusion's class maps), not a name per unit
    if output_units != len(class_names):
        raise ConfigurationError(
            f"class_names has {len(class_names)} names but the model's output has {output_units} units"
        )
    weighted = [layer for layer in model.layers if layer.weights]
    return (weighted[-1] if weighted else None), class_names


def normalize_layers(layers: LayerSpec, max_channels: int = DEFAULT_MAX_CHANNELS) -> dict:
    """{name: channel spec}; a bare name or list of names means all channels up to the cap."""
    if isinstance(layers, str):
        layers = [layers]
    if isinstance(layers, Mapping):
        names = list(layers)
    elif isinstance(layers, (list, tuple)):
        names = list(layers)
    else:
        raise ConfigurationError(
            "layers must be a layer name, a list of names, or a dict {name: 'all' | channels}; "
            f"got {type(layers).__name__}"
        )
    if not names:
        raise ConfigurationError("layers is empty: name at least one layer to visualize")
    for name in names:
        if not isinstance(name, str):
            raise ConfigurationError(f"layer names must be strings, got {name!r}")
    if not isinstance(layers, Mapping):
        return {name: ("first", max_channels) for name in names}
    return {name: _kept(spec, name) for name, spec in layers.items()}


_MAX_LISTED_CHANNELS = 1_000_000


def _kept(spec: ChannelSpec, layer: str):
    """A channel spec that can be read again at every fit: iterators and generators become a
    tuple (at most `_MAX_LISTED_CHANNELS`); ranges stay ranges (checked without listing them)."""
    if spec is None or isinstance(spec, (str, int, np.integer, range, tuple, list)):
        return spec
    try:
        values = tuple(itertools.islice(iter(spec), _MAX_LISTED_CHANNELS + 1))
    except TypeError:
        return spec  # not iterable: resolve_channels names the problem
    if len(values) > _MAX_LISTED_CHANNELS:
        raise ConfigurationError(f"channels for layer {layer!r}: more than {_MAX_LISTED_CHANNELS:,} given")
    return values


def _describe_range(spec: range) -> str:
    """range(0, 100) as users write it: 0-99 (or 0-98 step 2)."""
    if not len(spec):
        return "(none)"
    text = f"{spec[0]}-{spec[-1]}"
    return text if spec.step == 1 else f"{text} step {spec.step}"


def resolve_channels(spec: ChannelSpec, num_channels: int, layer: str) -> list:
    """Channel indices from "all", an int, a range or an iterable of ints; checked against the layer."""
    if isinstance(spec, tuple) and len(spec) == 2 and spec[0] == "first":
        cap = spec[1]
        if num_channels > cap:
            log.warning(
                "tb_featviz: layer %r has %d channels; showing the first %d (pass "
                "layers={%r: 'all'} for every channel)", layer, num_channels, cap, layer,
            )
        return list(range(min(num_channels, cap)))
    if spec is None or (isinstance(spec, str) and spec == "all"):
        return list(range(num_channels))
    if isinstance(spec, str):
        raise ConfigurationError(f"channels for layer {layer!r} must be 'all' or integers, got {spec!r}")
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        values = [int(spec)]
    elif isinstance(spec, range):
        if len(spec) and not (0 <= min(spec[0], spec[-1]) and max(spec[0], spec[-1]) < num_channels):
            raise ConfigurationError(
                f"channels {_describe_range(spec)} out of range for layer {layer!r}, which has {num_channels} channels "
                f"(valid: 0..{num_channels - 1})"
            )
        values = list(spec)
    else:
        try:
            values = list(itertools.islice(iter(spec), num_channels + 1))
        except TypeError:
            raise ConfigurationError(
                f"channels for layer {layer!r} must be 'all', an int or an iterable of ints, got {spec!r}"
            ) from None
        if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in values):
            raise ConfigurationError(f"channels for layer {layer!r} must be integers, got {values!r}")
        values = [int(v) for v in values]
    if not values:
        raise ConfigurationError(f"no channels chosen for layer {layer!r}")
    bad = [v for v in values if not 0 <= v < num_channels]
    if bad:
        raise ConfigurationError(
            f"channel(s) {_short_list(bad)} out of range for layer {layer!r}, which has {num_channels} "
            f"channels (valid: 0..{num_channels - 1})"
        )
    if len(values) > num_channels:  # only read this far: more than the layer has, so some repeat
        raise ConfigurationError(f"more channels given for layer {layer!r} than its {num_channels} channels")
    if len(set(values)) != len(values):
        raise ConfigurationError(f"channels for layer {layer!r} repeat: {values}")
    return values


def build_plans(
    model,
    layers: LayerSpec,
    input_spec: InputSpec,
    methods: Optional[Sequence[str]] = None,
    settings: Optional[Settings] = None,
    max_channels: int = DEFAULT_MAX_CHANNELS,
) -> list:
    """Check every chosen layer and return one LayerPlan each (errors list valid choices).

    With `methods` None every method that applies to a layer is planned; the others are named
    with the reason in `LayerPlan.left_out`. Methods asked for by name must apply. A method that
    always covers some layer (occlusion: the model's output) adds it with that method alone. The
    class layer's channels get the user's class names (`class_layer_names`).
    """
    settings = settings or Settings()
    methods = None if methods is None else check_methods(methods)
    class_layer, class_names = class_layer_names(model, settings.class_names)
    wanted = list(REGISTRY) if methods is None else list(methods)
    chosen_layers = normalize_layers(layers, max_channels)
    named = {id(find_layer(model, name).layer) for name in chosen_layers}
    added: dict = {}  # layers a method covers that the user did not name: {name: methods}
    for name in wanted:
        if REGISTRY[name].needs(settings) is None:
            for implied in REGISTRY[name].implied_layers(model, settings):
                if id(find_layer(model, implied).layer) not in named:
                    added.setdefault(implied, []).append(name)
    # In model order, whatever order they were named in: the records are written in this order
    # and the dashboard lists layers as first written.
    position = {id(ref.layer): index for index, ref in enumerate(iter_layers(model))}
    everything = [*chosen_layers.items(), *((n, ("first", max_channels)) for n in added)]
    everything.sort(key=lambda item: position[id(find_layer(model, item[0]).layer)])
    plans = []
    for name, spec in everything:
        ref = find_layer(model, name)
        if isinstance(ref.layer, InputLayer):
            raise ConfigurationError(f"layer {name!r} is the model's input; pick a layer after it")
        layer_target = target.for_layer(ref, input_spec.channels_first)
        shape, reaches = _tried(layer_target, input_spec, name)
        kind = output_kind(ref, np.empty((1,) + shape))
        num_channels = int(shape[-1])
        operations = operations_before(ref)
        path = backward.steps_on_path(operations)
        status = method_status(ref, path, settings, LayerOutput(kind, shape))
        for method, why in status.items():
            through = REGISTRY[method].gradient_to
            if why is None and through is not None and not reaches[through]:
                status[method] = (f"no gradient reaches {_GRADIENT_TARGETS[through]} from layer {name!r} (a cast to "
                                  "integers or a non-differentiable step on the way?)")
        if name in added:
            chosen = tuple(added[name])
        elif methods is None:
            chosen = tuple(m for m in REGISTRY if status[m] is None)
        else:
            for method in methods:
                if status[method] is not None and REGISTRY[method].named_layers == EVERY_NAMED:
                    raise ConfigurationError(f"method {method!r} does not apply to layer {name!r}: {status[method]}")
            chosen = tuple(m for m in methods if status[m] is None)
        field = receptive_field(ref, input_spec.height, input_spec.width) if kind == SPATIAL else None
        colour = input_spec.channels == 3 and all(type(op.operation).__name__ in _COLOUR_PRESERVING for op in operations)
        left_out = {m: why for m, why in status.items() if why is not None and m not in chosen}
        channels = resolve_channels(spec, num_channels, name)
        names = None
        if ref.layer is class_layer and kind != SPATIAL and num_channels == len(class_names):
            names = [class_names[c] for c in channels]
        plans.append(LayerPlan(
            ref, layer_target, kind, num_channels, channels, chosen, field, path, colour, left_out, names,
        ))
    for method in methods or ():  # asked for by name, it must run somewhere
        named = [plan for plan in plans if plan.name not in added]
        if REGISTRY[method].named_layers == SOME_NAMED and not any(method in plan.methods for plan in named):
            why = "; ".join(plan.left_out[method] for plan in named if method in plan.left_out)
            raise ConfigurationError(f"method {method!r} applies to none of the layers named "
                                     f"({', '.join(plan.name for plan in named)}): {why}")
        if not any(method in plan.methods for plan in plans):
            why = next((plan.left_out[method] for plan in plans if method in plan.left_out), "no layer for it")
            raise ConfigurationError(f"method {method!r} applies to none of the layers: {why}")
    return plans


# What `_trial` found, per model: it depends on the model's structure and input, not on its
# weights, so a second notebook call on the same layer does not run it again.
_TRIED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _tried(layer_target, spec: InputSpec, name: str) -> tuple:
    """(the layer's output shape, {where: whether gradients reach it}), from `_trial` once per
    (model, layer, input)."""
    found = _TRIED.setdefault(layer_target.ref.model, {})
    key = (name, spec)
    if key not in found:
        sample, gradients = _trial(layer_target, spec, name)
        found[key] = (tuple(int(d) for d in sample.shape[1:]), {k: g is not None for k, g in gradients.items()})
    return found[key]


def _trial(layer_target, spec: InputSpec, name: str):
    """The layer's output on one gray image, and whether gradients of its pre-activation reach
    the [0, 1] image (TO_IMAGE) and the model input (TO_INPUT): {where: gradient or None}, found
    once here, not every epoch."""
    def through_image(unit):
        model_input = spec.to_model(unit)
        return ops.sum(layer_target.pre(model_input)), layer_target.output(model_input)

    def through_input(model_input):
        return ops.sum(layer_target.pre(model_input)), None

    unit = backend.tensor(np.full((1,) + spec.shape, 0.5, np.float32))
    try:
        if backend.name() not in backend.SUPPORTED:  # no gradients: only backend-free methods run
            return layer_target.output(spec.to_model(unit)), {TO_IMAGE: None, TO_INPUT: None}
        _, sample, to_image = backend.value_and_grad(through_image)(unit)
        to_input = backend.value_and_grad(through_input)(spec.to_model(unit))[2]
        gradients = {TO_IMAGE: to_image, TO_INPUT: to_input}
        if backend.name() == backend.JAX and not all(_reaches(g) for g in gradients.values()):
            gradients = _jax_reach(through_image, through_input, spec)
    except Exception as error:  # the layer cannot be reached from the input, or preprocess failed
        why = cause(error)
        if spec.channels_first and "NHWC" in why:
            why += (" - this model is channels_first (NCHW), which TensorFlow's CPU kernels run only with"
                    " oneDNN (on by default on some CPUs, or with TF_ENABLE_ONEDNN_OPTS=1); build it"
                    " channels_last, or run it on a GPU or on the JAX or PyTorch backend")
        raise ConfigurationError(
            f"layer {name!r} cannot be computed from the model input ({spec.describe_range()}"
            f"{', through preprocess' if spec.preprocess else ''}): {why}"
        ) from None
    return sample, gradients


def _reaches(gradient) -> bool:
    return gradient is not None and bool(np.any(backend.numpy(gradient) != 0))


def _jax_reach(through_image, through_input, spec: InputSpec) -> list:
    """JAX gives zeros, not None, where no gradient can reach (a cast to integers: a uint8 model
    input): a gradient zero on the gray image and on every varied test image counts as none."""
    from tb_featviz import liveness

    images = backend.tensor(liveness.test_images(spec.shape))
    to_image = backend.value_and_grad(through_image)(images)[2]
    to_input = backend.value_and_grad(through_input)(spec.to_model(images))[2]
    return {where: gradient if _reaches(gradient) else None
            for where, gradient in ((TO_IMAGE, to_image), (TO_INPUT, to_input))}


def method_status(ref: LayerRef, path: list, settings: Settings, output: LayerOutput) -> dict:
    """{method: None if it applies to the layer with these settings, else why not}."""
    status = {}
    for name, method in REGISTRY.items():
        missing = method.needs(settings)
        status[name] = f"it needs {missing}" if missing else method.applies(ref, path, settings, output)
    return status


def check_methods(methods) -> tuple:
    """Method names as given by a user: a name or a non-empty list of known names, no repeats."""
    if isinstance(methods, str):
        methods = [methods]
    try:
        methods = tuple(methods)
    except TypeError:
        raise ConfigurationError(f"methods must be a list of method names {list(REGISTRY)}, got {methods!r}") from None
    unknown = [m for m in methods if m not in REGISTRY]
    if unknown or not methods:
        raise ConfigurationError(f"unknown method(s) {unknown or list(methods)}; methods: {list(REGISTRY)}")
    if len(set(methods)) != len(methods):
        raise ConfigurationError(f"methods repeat: {list(methods)}")
    return methods


def _short_list(values: list, limit: int = 8) -> str:
    """A list for an error message: long lists show their first items and a count."""
    if len(values) <= limit:
        return str(values)
    return f"[{', '.join(map(str, values[:limit]))}, ... ({len(values)} in all)]"
