"""One-call visualizations for notebooks and scripts: NumPy arrays and numbers, no TensorBoard."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import numpy as np

from tb_featviz import backward, metadata, methods
from tb_featviz.classifier import not_a_classifier
from tb_featviz.errors import ConfigurationError
from tb_featviz.methods.attribution import PREDICTED
from tb_featviz.methods.base import NO_NAMED
from tb_featviz.methods.am import AMOptions, AMResult
from tb_featviz.methods.deconv import DeconvOptions, DeconvResult
from tb_featviz.methods.occlusion import OcclusionOptions, OcclusionResult
from tb_featviz.methods.saliency import SMOOTHGRAD_SAMPLES
from tb_featviz.methods.similarity import SimilarityOptions, SimilarityResult
from tb_featviz.methods.weights import WeightsResult
from tb_featviz.model_access import find_layer
from tb_featviz.plan import ChannelSpec
from tb_featviz.prepare import check_backend, prepare
from tb_featviz.settings import Settings


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
    preset: str = "quality",
    **option_overrides,
) -> AMResult:
    """Images that maximize each chosen channel of `layer` (all channels in one batch).

    `preset` "quality" (default here: Lucid's recipe, 512 Fourier steps) or "fast" (what the
    callback runs every epoch); `option_overrides` set fields of `AMOptions` over it (steps=...,
    parameterization=..., objective=..., images_per_channel=...); `options` replaces both.
    An objective that does not depend on the channel (`objectives.direction`) gives one image.
    `result.images` are floats in [0, 1] (mapped to `input_range` before the model sees them);
    `result.tiles()` gives displayable uint8 images. With `probe_images` (as the model takes
    them) a channel is dead when it is constant on them; without, on varied test images.
    `class_names` (one per model output unit) name the class layer's channels in its records.
    """
    check_backend([metadata.METHOD_AM])
    if progress is not None and not callable(progress):
        raise ConfigurationError(f"progress must be a function (done, total), got {progress!r}")
    settings = Settings.checked(input_range=input_range, preprocess=preprocess, image_size=image_size,
                                probe_images=probe_images, class_names=class_names,
                                options={metadata.METHOD_AM: _options(options, option_overrides, preset)})
    return _run(model, layer, channels, metadata.METHOD_AM, settings, progress)


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
    settings = Settings.checked(probe_images=images, input_range=input_range, options={
        metadata.METHOD_DECONV: DeconvOptions(top_k=top_k, rule=rule, batch_size=batch_size)})
    return _run(model, layer, channels, metadata.METHOD_DECONV, settings)


def filter_weights(model, layer: str, channels: ChannelSpec = "all") -> WeightsResult:
    """The chosen output channels' convolution filters, with norm/mean/std per filter."""
    return _run(model, layer, channels, metadata.METHOD_WEIGHTS, Settings())


def occlusion(
    model,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    size: Optional[int] = None,
    stride: Optional[int] = None,
    layer: Optional[str] = None,
    input_range: Optional[Sequence[float]] = None,
    batch_size: int = 256,
    class_names: Optional[Sequence[str]] = None,
) -> OcclusionResult:
    """Occlusion sensitivity (Zeiler & Fergus Fig. 7): a gray square at every position of each image.

    Returns arrays shaped (images, rows, cols) over the square's positions: `probability` (of
    the image's true class), `predicted_class`, and with `layer` also `activation` (the total
    activation of that layer's feature map with the strongest unit on the unoccluded image,
    `feature`). `boxes[r, c]` is the square's (top, left, bottom, right) in pixels. `size`
    defaults to a quarter of the shorter side, `stride` to about 12 positions per axis; the
    square is the input range's mid gray. `images` as the model takes them, `labels` class
    indices (or one-hot rows).
    """
    check_backend([metadata.METHOD_OCCLUSION])
    if labels is None:
        raise ConfigurationError("occlusion needs labels: the true class of each image")
    if layer is not None and not isinstance(layer, str):
        raise ConfigurationError(f"layer must be a layer name (str), got {type(layer).__name__}")
    name = metadata.METHOD_OCCLUSION
    settings = Settings.checked(probe_images=images, probe_labels=labels, input_range=input_range,
                                class_names=class_names,
                                options={name: OcclusionOptions(size=size, stride=stride, batch_size=batch_size)})
    every_image = dataclasses.replace(settings.options_of(name), images=len(settings.probe_images))
    settings = settings.replace_options(name, every_image)
    method = methods.get(name)
    output_name = method.implied_layers(model, settings)[0]
    names = [output_name] + ([layer] if layer is not None else [])
    prepared = prepare(model, dict.fromkeys(names, [0]), settings, methods=[name])
    by_layer = {find_layer(model, plan.name).layer: plan for plan in prepared.plans}
    result = prepared.runners[(by_layer[find_layer(model, output_name).layer].name, name)]()
    if layer is not None:
        feature = method.runner(by_layer[find_layer(model, layer).layer], prepared.spec, settings, feature=True)()
        result.layer, result.feature = feature.layer, feature.feature
        result.activation, result.unoccluded_activation = feature.activation, feature.unoccluded_activation
    return result


# `attribution`'s methods: SmoothGrad is saliency with noisy copies.
_ATTRIBUTIONS = {"saliency": metadata.METHOD_SALIENCY, "smoothgrad": metadata.METHOD_SALIENCY,
                 "gradcam": metadata.METHOD_GRADCAM, "integrated_gradients": metadata.METHOD_INTEGRATED_GRADIENTS}


def attribution(
    model,
    images: np.ndarray,
    labels: Optional[np.ndarray] = None,
    method: str = "saliency",
    layer: Optional[str] = None,
    *,
    input_range: Optional[Sequence[float]] = None,
    class_names: Optional[Sequence[str]] = None,
    **options,
):
    """Where the model looks for a class, by its gradients: a map per image.

    `method`: "saliency" (Simonyan et al. 2014), "smoothgrad" (saliency averaged over 16 noisy
    copies, or `smoothgrad=N`), "gradcam" (Selvaraju et al. 2017; `layer`: the conv layer,
    default the last one before the output) or "integrated_gradients" (Sundararajan et al.
    2017; `steps=32`, `baseline=` None for the input range's low end, a number, or one image).
    The map explains each image's true class (`labels`: indices or one-hot rows) or, without
    labels, the model's predicted class; the score is that class's logit. `options` are fields
    of the method's options (`SaliencyOptions`, `GradcamOptions`, `IntegratedGradientsOptions`).
    Returns a result whose `.maps` is (n, height, width) float32 (integrated gradients: summed
    over the colour channels, signed), with `.classes`, `.scores`, `.predicted` and what the
    method computed besides (`.cams`, `.attributions`, `.completeness_error`).
    """
    if not isinstance(method, str) or method not in _ATTRIBUTIONS:
        raise ConfigurationError(f"method must be one of {list(_ATTRIBUTIONS)}, got {method!r}")
    name = _ATTRIBUTIONS[method]
    check_backend([name])
    chosen = methods.get(name)
    fields = {f.name for f in dataclasses.fields(chosen.options_type)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ConfigurationError(f"unknown option(s) {unknown} for {method}; "
                                 f"{chosen.options_type.__name__} fields: {sorted(fields)}")
    if method == "smoothgrad":
        options.setdefault("smoothgrad", SMOOTHGRAD_SAMPLES)
    if labels is None:
        options.setdefault("target", PREDICTED)
    settings = Settings.checked(probe_images=images, probe_labels=labels, input_range=input_range,
                                class_names=class_names)
    options.setdefault("images", len(settings.probe_images))
    settings = settings.replace_options(name, chosen.options_type(**options))
    if layer is not None and not isinstance(layer, str):
        raise ConfigurationError(f"layer must be a layer name (str), got {type(layer).__name__}")
    if layer is not None and chosen.named_layers == NO_NAMED:
        raise ConfigurationError(f"layer is Grad-CAM's conv layer; {method} maps the model's output onto the "
                                 "input and takes no layer")
    if layer is None:
        implied = chosen.implied_layers(model, settings) if not chosen.needs(settings) else []
        if not implied:
            problem = not_a_classifier(model, method) or chosen.needs(settings)
            raise ConfigurationError(problem if problem else f"model {model.name!r} has no conv layer for {method}")
        layer = implied[0]
    return prepare_method(model, layer, [0], name, settings)()


def similarity(
    model,
    layer: str,
    probe_images: np.ndarray,
    *,
    options: Optional[SimilarityOptions] = None,
    input_range: Optional[Sequence[float]] = None,
) -> SimilarityResult:
    """The layer's representation of the probe images as its similarity records keep it: the
    centred Gram matrix of its activations (`result.gram`, n x n for the first
    `options.probes` images, at most 256). `result.cka(other)`: linear CKA with another result
    on the same images (another layer, model or moment of training); `tb_featviz.cka(x, y)`
    compares activation arrays directly. `probe_images` as the model takes them."""
    name = metadata.METHOD_SIMILARITY
    check_backend([name])
    settings = Settings.checked(probe_images=probe_images, input_range=input_range,
                                options={name: options} if options is not None else None)
    return _run(model, layer, "all", name, settings)


def _options(options: Optional[AMOptions], overrides: dict, preset: str = "quality") -> AMOptions:
    if options is None:
        return AMOptions.preset(preset, **overrides)
    if not isinstance(options, AMOptions):
        raise ConfigurationError(f"options must be an AMOptions, got {type(options).__name__}")
    fields = {f.name for f in dataclasses.fields(AMOptions)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigurationError(f"unknown option(s) {unknown}; AMOptions fields: {sorted(fields)}")
    return dataclasses.replace(options, **overrides)


def run_method(
    model,
    layer: str,
    method: str,
    channels: ChannelSpec = "all",
    *,
    probe_images: Optional[np.ndarray] = None,
    probe_labels: Optional[np.ndarray] = None,
    input_range: Optional[Sequence[float]] = None,
    preprocess: Optional[Callable] = None,
    image_size: Optional[Sequence[int]] = None,
    class_names: Optional[Sequence[str]] = None,
    options: Optional[object] = None,
    progress: Optional[Callable[[int, int], None]] = None,
):
    """Any registered method (`tb_featviz.methods.names()`, your own included) on one layer, with
    its `options` (default its defaults): the same plan and runner the callback uses, so what
    the method needs missing is a ConfigurationError before any work. Returns its result."""
    settings = Settings.checked(probe_images=probe_images, probe_labels=probe_labels, input_range=input_range,
                                preprocess=preprocess, image_size=image_size, class_names=class_names,
                                options={method: options} if options is not None else None)
    return _run(model, layer, channels, method, settings, progress)


def _run(model, layer: str, channels: ChannelSpec, method: str, settings: Settings, progress=None):
    return prepare_method(model, layer, channels, method, settings)(progress)


def prepare_method(model, layer: str, channels: ChannelSpec, method: str, settings: Settings):
    """`run_method` in two steps: every check now, the work when the returned runner is called."""
    if not isinstance(layer, str):
        raise ConfigurationError(f"layer must be a layer name (str), got {type(layer).__name__}")
    prepared = prepare(model, {layer: channels}, settings, methods=[method])
    return prepared.runners[(prepared.named(model, layer).name, method)]
