"""Turning the user's choice of layers, channels and methods into a checked plan.

Everything that can be wrong with a configuration is found here, before any epoch runs, and
reported as a ConfigurationError that lists the valid choices.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from tb_featviz import metadata
from tb_featviz.errors import ConfigurationError
from tb_featviz.inputs import InputSpec
from tb_featviz.model_access import SPATIAL, LayerRef, find_layer, forward_to, iter_layers, output_kind
from tb_featviz.receptive_field import Field, receptive_field
from tb_featviz.weights import kernel_of

log = logging.getLogger("tb_featviz")

DEFAULT_MAX_CHANNELS = 64

ChannelSpec = Union[str, int, Iterable[int], None]
LayerSpec = Union[str, Sequence[str], Mapping[str, ChannelSpec]]


@dataclasses.dataclass
class LayerPlan:
    """One layer to visualize: how to reach it, which channels, which methods."""

    ref: LayerRef
    forward: Callable
    kind: str  # model_access.SPATIAL or UNITS
    num_channels: int
    channels: list
    methods: tuple
    field: Optional[Field]

    @property
    def name(self) -> str:
        return self.ref.name


def normalize_layers(layers: LayerSpec, max_channels: int = DEFAULT_MAX_CHANNELS) -> dict:
    """{name: channel spec}; a bare name or list of names means all channels up to the cap."""
    if isinstance(layers, str):
        layers = [layers]
    if isinstance(layers, Mapping):
        result = dict(layers)
    elif isinstance(layers, (list, tuple)):
        result = {name: ("first", max_channels) for name in layers}
    else:
        raise ConfigurationError(
            "layers must be a layer name, a list of names, or a dict {name: 'all' | channels}; "
            f"got {type(layers).__name__}"
        )
    if not result:
        raise ConfigurationError("layers is empty: name at least one layer to visualize")
    for name in result:
        if not isinstance(name, str):
            raise ConfigurationError(f"layer names must be strings, got {name!r}")
    return result


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
    else:
        try:
            values = list(spec)
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
    if len(set(values)) != len(values):
        raise ConfigurationError(f"channels for layer {layer!r} repeat: {values}")
    return values


def build_plans(
    model,
    layers: LayerSpec,
    input_spec: InputSpec,
    methods: Optional[Sequence[str]] = None,
    has_probe_images: bool = False,
    max_channels: int = DEFAULT_MAX_CHANNELS,
) -> list:
    """Check every chosen layer and return one LayerPlan each (errors list valid choices)."""
    import tensorflow as tf

    if methods is not None:
        methods = _check_methods(methods, has_probe_images)
    plans = []
    for name, spec in normalize_layers(layers, max_channels).items():
        ref = find_layer(model, name)
        data_format = getattr(ref.layer, "data_format", "channels_last")
        if data_format != "channels_last":
            raise ConfigurationError(f"layer {name!r} uses {data_format}; only channels_last is supported")
        forward = forward_to(ref)
        try:
            sample = forward(tf.zeros((1,) + input_spec.shape, tf.float32))
        except Exception as error:  # the layer cannot be reached from the input
            raise ConfigurationError(f"layer {name!r} cannot be computed from the model input: {error}") from None
        kind = output_kind(ref, sample)
        num_channels = int(sample.shape[-1])
        applicable = applicable_methods(ref, has_probe_images)
        chosen = tuple(m for m in metadata.METHODS if m in applicable) if methods is None else methods
        for method in chosen:
            if method not in applicable:
                raise ConfigurationError(
                    f"method {method!r} does not apply to layer {name!r} "
                    f"({type(ref.layer).__name__}); it supports: {sorted(applicable)}"
                )
        field = receptive_field(ref, input_spec.height, input_spec.width) if kind == SPATIAL else None
        plans.append(
            LayerPlan(ref, forward, kind, num_channels, resolve_channels(spec, num_channels, name), chosen, field)
        )
    return plans


def check_top_k(top_k) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ConfigurationError(f"top_k must be an int >= 1, got {top_k!r}")
    return int(top_k)


def applicable_methods(ref: LayerRef, has_probe_images: bool) -> set:
    methods = {metadata.METHOD_AM}
    if has_probe_images:
        methods.add(metadata.METHOD_DECONV)
    try:
        kernel_of(ref.layer)
        methods.add(metadata.METHOD_WEIGHTS)
    except ConfigurationError:
        pass
    return methods


def _check_methods(methods, has_probe_images) -> tuple:
    if isinstance(methods, str):
        methods = [methods]
    methods = tuple(methods)
    unknown = [m for m in methods if m not in metadata.METHODS]
    if unknown or not methods:
        raise ConfigurationError(f"unknown method(s) {unknown or methods}; methods: {list(metadata.METHODS)}")
    if metadata.METHOD_DECONV in methods and not has_probe_images:
        raise ConfigurationError("method 'deconv' needs probe_images (images to find top activations in)")
    return methods


def describe(model) -> list:
    """(name, layer type) of every layer a user may name, for listings and error messages."""
    return [(r.name, type(r.layer).__name__) for r in iter_layers(model)]


def _short_list(values: list, limit: int = 8) -> str:
    """A list for an error message: long lists show their first items and a count."""
    if len(values) <= limit:
        return str(values)
    return f"[{', '.join(map(str, values[:limit]))}, ... ({len(values)} in all)]"
