"""Occlusion sensitivity as a method: where the model looks, per probe image (Zeiler & Fergus Fig. 7).

On the model's output layer a record holds, per probe image, the true class's probability with
the gray square at each position (`heatmap`) and the most probable class there (`classes`); on
any other layer, the total activation of its strongest feature map (`heatmap` only). The
record's items (header `channels`) are probe image indices.
"""

from __future__ import annotations

import numpy as np

from tb_featviz import imaging, labels, metadata
from tb_featviz.classifier import check_classifier, not_a_classifier, output_layer_name
from tb_featviz.methods.base import CliFlag, Method, check_finite
from tb_featviz.model_access import output_layer
from tb_featviz.methods.occlusion.colours import OTHER_COLOUR
from tb_featviz.methods.occlusion.occluder import Occluder, OcclusionOptions


class Occlusion(Method):
    name = metadata.METHOD_OCCLUSION
    options_type = OcclusionOptions
    arguments = ("occlusion",)
    has_channels = False  # its items are the probe images
    reads_labels = True
    cli_flags = (
        CliFlag("--size", "occlusion: the gray square's side in pixels (default a quarter of the image)", type=int,
                words=("occlusion size",)),
        CliFlag("--stride", "occlusion: pixels between positions (default: about 12 positions per axis)", type=int,
                words=("occlusion stride",)),
    )

    def options_from_cli(self, values, probe_count):
        return OcclusionOptions(images=max(1, probe_count), size=values["size"], stride=values["stride"])

    def needs(self, settings):
        if settings.probe_labels is None:
            return "probe_labels (the true class of each probe image) with probe_images"
        return None

    def applies(self, ref, path, settings, output):
        return not_a_classifier(ref.model, self.name)

    def implied_layers(self, model, settings):
        if self.needs(settings) is not None:
            return []
        return [output_layer_name(model, self.name, "leave out probe_labels")]

    def runner(self, plan, spec, settings, feature: bool = False):
        """Probabilities on the model's output layer, else (or with `feature`) the layer's
        strongest feature map."""
        is_output = not feature and plan.ref.layer is output_layer(plan.ref.model)
        check_classifier(plan.ref.model, settings, self.name)
        common = dict(settings={"input": spec.settings(), "layer_output": is_output}, model=plan.ref.model)
        if settings.class_names is not None:
            common["settings"]["class_names"] = list(settings.class_names)
        if is_output:
            occluder = Occluder(spec, settings.options_of(self.name), output=plan.target.output,
                                output_is_probability=_is_probability(plan.target), **common)
        else:
            occluder = Occluder(spec, settings.options_of(self.name), feature=plan.target.output, layer=plan.name, **common)
        probes = spec.from_model_layout(settings.probe_images)
        return lambda progress=None: occluder.run(probes, settings.probe_labels)

    def check(self, result) -> None:
        check_finite(result.scores()[0], "occlusion score")

    def items(self, result):
        return list(range(len(result.images)))

    def grid(self, result, contrast):
        values, unoccluded, what = result.scores()
        names = [f"#{i} {labels.format_value(v)}" for i, v in enumerate(unoccluded)]
        if result.activation is not None:
            names = [f"{name} MAP {feature}" for name, feature in zip(names, result.feature)]
            return result.heatmap_tiles(), names, [
                f"{result.layer}: TOTAL ACTIVATION OF THE STRONGEST MAP, SQUARE AT EACH PLACE (DARK = LOW)".upper()]
        class_names = result.settings.get("class_names") or []
        names = [f"{name} {_class_name(class_names, label)}" for name, label in zip(names, result.labels)]
        pairs = zip(result.heatmap_tiles(), result.class_tiles(result.class_colours()))
        tiles = np.stack([labels.side_by_side(p, q) for p, q in pairs])
        return tiles, names, ["LEFT: P(TRUE CLASS) WITH THE SQUARE THERE  RIGHT: PREDICTED CLASS THERE",
                              "UNDER EACH: IMAGE, P(TRUE CLASS) UNOCCLUDED, TRUE CLASS"]

    def legend(self, result, width: int):
        """The colour scale and (output layer) each class's colour and name, under the grid."""
        present = set(result.labels.tolist())
        if result.activation is None:
            present |= set(np.unique(result.predicted_class).tolist())
        return legend_band(
            imaging.HEATMAP, result.class_colours() if result.activation is None else {},
            result.settings.get("class_names") or [], sorted(present), width, probability=result.activation is None,
        )


def legend_band(colormap, class_colours: dict, class_names, classes, width: int, *, probability: bool) -> np.ndarray:
    """A white band: the colour scale from low to high, then the classes' colours with their
    names (those without a colour in OTHER_COLOUR). Used by the CLI and the demo's pictures."""
    band = np.full((2 * (labels.CHAR_HEIGHT + 8) + 4, width, 3), 255, np.uint8)
    anchors = np.array(colormap, float)
    at = np.linspace(0, len(anchors) - 1, 100)
    ramp = np.stack([np.interp(at, np.arange(len(anchors)), anchors[:, c]) for c in range(3)], axis=1)
    start = "P(TRUE CLASS) 0" if probability else "ACTIVATION: LOWEST OF EACH IMAGE"
    labels.draw_text(band, start, 4, 4)
    left = 4 + labels.text_width(start) + 6
    band[4 : 4 + labels.CHAR_HEIGHT, left : left + 100] = ramp[None].astype(np.uint8)
    labels.draw_text(band, "1" if probability else "HIGHEST", 4, left + 106)
    x, y = 4, labels.CHAR_HEIGHT + 14
    for klass in classes if probability else ():
        text = _class_name(class_names, klass).upper()
        if x + labels.CHAR_HEIGHT + 4 + labels.text_width(text) > width:
            labels.draw_text(band, "...", y, x)
            break
        band[y : y + labels.CHAR_HEIGHT, x : x + labels.CHAR_HEIGHT] = class_colours.get(klass, OTHER_COLOUR)
        labels.draw_text(band, text, y, x + labels.CHAR_HEIGHT + 4)
        x += labels.CHAR_HEIGHT + 4 + labels.text_width(text) + 14
    return band


def _class_name(class_names, klass: int) -> str:
    return class_names[klass] if 0 <= klass < len(class_names) else f"CLASS {klass}"


def _is_probability(target):
    """Whether the output layer's values are probabilities (softmax/sigmoid) or logits (linear);
    None when its nonlinearity says neither (decided from the values)."""
    if target.nonlinearity is None:
        return False if getattr(target.ref.layer, "activation", None) is not None else None
    name = target.nonlinearity.name.lower()
    return True if name in ("softmax", "sigmoid") else None
