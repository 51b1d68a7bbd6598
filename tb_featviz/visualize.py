"""One-call visualizations for notebooks and scripts: NumPy arrays and numbers, no TensorBoard."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import numpy as np

from tb_featviz import inputs, metadata
from tb_featviz.am.maximize import ActivationMaximizer, AMOptions, AMResult
from tb_featviz.am.selected import SelectedChannelsForward
from tb_featviz.deconv import DeconvProjector, DeconvResult
from tb_featviz.errors import ConfigurationError
from tb_featviz.model_access import find_layer, input_shape, shape_from_first_kernel
from tb_featviz.plan import ChannelSpec, LayerPlan, build_plans, check_top_k, resolve_channels
from tb_featviz.weights import WeightsResult, kernel_of
from tb_featviz.weights import filter_weights as _filter_weights


def maximize_activation(
    model,
    layer: str,
    channels: ChannelSpec = "all",
    *,
    options: Optional[AMOptions] = None,
    input_range: Optional[Sequence[float]] = None,
    preprocess: Optional[Callable] = None,
    image_size: Optional[Sequence[int]] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    **option_overrides,
) -> AMResult:
    """Images that maximize each chosen channel of `layer` (all channels in one batch).

    `option_overrides` set fields of `AMOptions` (steps=..., parameterization=..., ...).
    `result.images` are floats in [0, 1] (mapped to `input_range` before the model sees them);
    `result.tiles()` gives displayable uint8 images.
    """
    options = _options(options, option_overrides)
    spec = inputs.resolve(
        input_shape(model, shape_from_first_kernel(model, image_size)),
        image_size=image_size,
        value_range=input_range,
        preprocess=preprocess,
    )
    plan = _plan(model, layer, channels, spec, metadata.METHOD_AM, has_probes=False)
    selected = SelectedChannelsForward.for_layer(plan.ref)
    maximizer = ActivationMaximizer(plan.forward, plan.ref.layer, spec, options, selected)
    return maximizer.run(plan.channels, progress)


def deconvnet(
    model,
    layer: str,
    images: np.ndarray,
    channels: ChannelSpec = "all",
    *,
    top_k: int = 9,
    rule: str = "deconvnet",
    batch_size: int = 128,
) -> DeconvResult:
    """Each channel's top-k activations over `images`, projected to pixel space (Zeiler & Fergus).

    `rule` is "deconvnet" or "guided" (guided backprop). `images` are given as the model takes
    them, like `x` in `fit`.
    """
    images = check_probe_images(images)
    spec = inputs.resolve(input_shape(model, images.shape[1:]), image_size=images.shape[1:3])
    plan = _plan(model, layer, channels, spec, metadata.METHOD_DECONV, has_probes=True)
    projector = DeconvProjector(model, plan.forward, plan.ref.layer, plan.field, rule, batch_size)
    return projector.run(images, plan.channels, top_k=check_top_k(top_k))


def filter_weights(model, layer: str, channels: ChannelSpec = "all") -> WeightsResult:
    """The chosen output channels' convolution filters, with norm/mean/std per filter."""
    ref = find_layer(model, layer)
    kernel = kernel_of(ref.layer)
    return _filter_weights(ref.layer, resolve_channels(channels, kernel.shape[-1], layer))


def check_probe_images(images) -> np.ndarray:
    """Probe images as float32 (n, h, w, c); grayscale (n, h, w) gains a channel axis."""
    try:
        array = np.asarray(images, dtype=np.float32)
    except (TypeError, ValueError):
        raise ConfigurationError("probe_images must be an array of images (n, height, width, channels)") from None
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[0] < 1:
        raise ConfigurationError(
            f"probe_images must have shape (n, height, width, channels) with n >= 1, got {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ConfigurationError("probe_images contain NaN or infinite values")
    return array


def _options(options: Optional[AMOptions], overrides: dict) -> AMOptions:
    options = options or AMOptions()
    if not isinstance(options, AMOptions):
        raise ConfigurationError(f"options must be an AMOptions, got {type(options).__name__}")
    fields = {f.name for f in dataclasses.fields(AMOptions)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigurationError(f"unknown option(s) {unknown}; AMOptions fields: {sorted(fields)}")
    options = dataclasses.replace(options, **overrides)
    options.validate()
    return options


def _plan(model, layer, channels, spec, method, has_probes) -> LayerPlan:
    if not isinstance(layer, str):
        raise ConfigurationError(f"layer must be a layer name (str), got {type(layer).__name__}")
    return build_plans(model, {layer: channels}, spec, methods=[method], has_probe_images=has_probes)[0]
