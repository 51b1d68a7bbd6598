"""One-call visualizations for notebooks and scripts: NumPy arrays and numbers, no TensorBoard."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import numpy as np

from tb_featviz import backward, checks, inputs, metadata
from tb_featviz.am.maximize import AMOptions, AMResult
from tb_featviz.deconv import DeconvResult
from tb_featviz.errors import ConfigurationError
from tb_featviz.model_access import ensure_built
from tb_featviz.plan import (
    ChannelSpec, LayerPlan, build_plans, check_backend, check_class_names, check_rule, check_top_k, name_class_units,
)
from tb_featviz.weights import WeightsResult


def maximize_activation(
    model,
    layer: str,
    channels: ChannelSpec = "all",
    *,
    options: Optional[AMOptions] = None,
    input_range: Optional[Sequence[float]] = None,
    preprocess: Optional[Callable] = None,
    image_size: Optional[Sequence[int]] = None,
    probe_images: Optional[np.ndarray] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    class_names: Optional[Sequence[str]] = None,
    **option_overrides,
) -> AMResult:
    """Images that maximize each chosen channel of `layer` (all channels in one batch).

    `option_overrides` set fields of `AMOptions` (steps=..., parameterization=..., ...).
    `result.images` are floats in [0, 1] (mapped to `input_range` before the model sees them);
    `result.tiles()` gives displayable uint8 images. With `probe_images` (as the model takes
    them) a channel is dead when it is constant on them; without, on varied test images.
    `class_names` (one per model output unit) name the class layer's channels in its records.
    """
    check_backend([metadata.METHOD_AM])
    class_names = check_class_names(class_names)
    if progress is not None and not callable(progress):
        raise ConfigurationError(f"progress must be a function (done, total), got {progress!r}")
    options = _options(options, option_overrides)
    value_range = inputs.check_value_range(input_range)
    probes = None if probe_images is None else inputs.check_probe_images(probe_images, value_range)
    spec = inputs.for_model(
        model,
        image_size=inputs.check_image_size(image_size),
        value_range=value_range,
        preprocess=inputs.check_preprocess(preprocess),
        probe_images=probes,
    )
    plan = _plan(model, layer, channels, spec, metadata.METHOD_AM, has_probes=False)
    name_class_units(model, [plan], class_names)
    return plan.maximizer(spec, options, probes).run(plan.channels, progress)


def deconvnet(
    model,
    layer: str,
    images: np.ndarray,
    channels: ChannelSpec = "all",
    *,
    top_k: int = 9,
    rule: str = backward.DECONVNET,
    input_range: Optional[Sequence[float]] = None,
    batch_size: int = 128,
) -> DeconvResult:
    """Each channel's top-k activations over `images`, projected to pixel space (Zeiler & Fergus).

    `rule` is "deconvnet", "guided" (guided backprop) or "gradient" (the plain gradient; the only
    one defined through gelu, swish and other non-ReLU nonlinearities, see `tb_featviz.backward`).
    `images` are given as the model takes them, like `x` in `fit`; `input_range` (default
    inferred from them) only says how to show their patches.
    """
    check_backend([metadata.METHOD_DECONV])
    rule = check_rule(rule)
    batch_size = checks.integer(batch_size, "batch_size", 1)
    value_range = inputs.check_value_range(input_range)
    images = inputs.check_probe_images(images, value_range)
    spec = inputs.for_model(model, value_range=value_range, probe_images=images)
    plan = _plan(model, layer, channels, spec, metadata.METHOD_DECONV, has_probes=True, rule=rule)
    projector = plan.projector(spec, rule, batch_size)
    return projector.run(spec.from_model_layout(images), plan.channels, top_k=check_top_k(top_k))


def filter_weights(model, layer: str, channels: ChannelSpec = "all") -> WeightsResult:
    """The chosen output channels' convolution filters, with norm/mean/std per filter."""
    spec = inputs.for_model(model)
    plan = _plan(model, layer, channels, spec, metadata.METHOD_WEIGHTS, has_probes=False)
    return plan.filter_weights(spec)


def _options(options: Optional[AMOptions], overrides: dict) -> AMOptions:
    options = options or AMOptions()
    if not isinstance(options, AMOptions):
        raise ConfigurationError(f"options must be an AMOptions, got {type(options).__name__}")
    fields = {f.name for f in dataclasses.fields(AMOptions)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigurationError(f"unknown option(s) {unknown}; AMOptions fields: {sorted(fields)}")
    return dataclasses.replace(options, **overrides)


def _plan(model, layer, channels, spec, method, has_probes, rule=backward.DECONVNET) -> LayerPlan:
    if not isinstance(layer, str):
        raise ConfigurationError(f"layer must be a layer name (str), got {type(layer).__name__}")
    ensure_built(model, spec.model_shape)
    return build_plans(model, {layer: channels}, spec, methods=[method], has_probe_images=has_probes,
                       deconv_rule=rule)[0]
