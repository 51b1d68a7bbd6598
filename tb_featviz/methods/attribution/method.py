"""What the attribution methods share as `Method`s: their items are probe images, they explain a
class of a classifier, they run the same runner and draw the same tiles. Each method's package
subclasses `AttributionMethod` with its engine."""

from __future__ import annotations

from typing import Optional

import numpy as np

from tb_featviz import labels
from tb_featviz.classifier import check_classifier, not_a_classifier, output_layer_name
from tb_featviz.methods.attribution.options import TARGETS, TRUE
from tb_featviz.methods.attribution.runner import AttributionRunner
from tb_featviz.methods.attribution.score import ClassScore
from tb_featviz.methods.base import NO_NAMED, TO_INPUT, CliFlag, Method, check_finite
from tb_featviz.model_access import output_layer

TARGET_FLAG = CliFlag("--target", "attribution maps: the class a map explains, true (default; needs --labels) or "
                      "predicted (the model's top class)", choices=TARGETS, words=("target",))


class AttributionMethod(Method):
    """A method that maps, per probe image, where a class's score comes from."""

    has_channels = False  # its items are the probe images
    reads_labels = True
    gradient_to = TO_INPUT
    warn_when_left_out = False  # it runs where it applies (the output, conv layers), whatever else is named
    cli_flags = (TARGET_FLAG,)

    def needs(self, settings):
        if settings.probe_images is None:
            return "probe_images (the images to map) with probe_labels"
        if settings.options_of(self.name).target == TRUE and settings.probe_labels is None:
            return "probe_labels (the true class of each probe image) with probe_images, or target=\"predicted\""
        return None

    def applies(self, ref, path, settings, output):
        problem = not_a_classifier(ref.model, self.name)
        if problem is None and self.named_layers == NO_NAMED and ref.layer is not output_layer(ref.model):
            return f"{self.format.label} maps the model's output (a class's score) onto the input: its layer is the output"
        return problem

    def implied_layers(self, model, settings):
        """The model's output layer: the scores the maps explain."""
        if self.needs(settings) is not None or not_a_classifier(model, self.name):
            return []
        return [output_layer_name(model, self.name, "leave out probe_labels")]

    def runner(self, plan, spec, settings):
        options = settings.options_of(self.name)
        check_classifier(plan.ref.model, settings, self.name)
        score = ClassScore(plan.ref.model, spec, self.name)
        engine = self.engine(plan, spec, options, score)
        record_settings = {"input": spec.settings(), "options": options.settings(), "score": score.describe(),
                           "target": options.target, **engine.settings()}
        if settings.class_names is not None:
            record_settings["class_names"] = list(settings.class_names)
        return AttributionRunner(self.name, engine, score, spec, settings, options, record_settings)

    def engine(self, plan, spec, options, score: ClassScore):
        """The method's engine for a planned layer (see `AttributionRunner`)."""
        raise NotImplementedError

    def at_step(self, runner, step):
        runner.step = step

    def check(self, result) -> None:
        check_finite(result.maps, f"{self.name} map")

    def items(self, result):
        return list(range(len(result.maps)))

    # -- the CLI's picture -----------------------------------------------------------------
    def grid(self, result, contrast):
        names = result.settings.get("class_names") or []
        tiles = np.stack([labels.side_by_side(a, b) for a, b in zip(result.overlay_tiles(), result.map_tiles())])
        captions = [f"#{i} {_class_name(names, c)} {labels.format_value(s)}"
                    for i, (c, s) in enumerate(zip(result.classes, result.scores))]
        # One picture, one model: the sanity check (rho over training) is the records' and the dashboard's.
        return tiles, captions, [
            f"{self.format.label}: LEFT, THE MAP OVER THE IMAGE; RIGHT, THE MAP ALONE".upper(),
            "UNDER EACH: IMAGE, CLASS EXPLAINED, ITS SCORE (LOGIT)"]

    def legend(self, result, width: int) -> Optional[np.ndarray]:
        """The colour scale under the CLI's grid."""
        band = np.full((labels.CHAR_HEIGHT + 8, width, 3), 255, np.uint8)
        anchors = np.array(result.colours(), float)
        at = np.linspace(0, len(anchors) - 1, 100)
        ramp = np.stack([np.interp(at, np.arange(len(anchors)), anchors[:, c]) for c in range(3)], axis=1)
        start, end = ("-LARGEST |VALUE|", "+LARGEST") if result.signed else ("0", "LARGEST VALUE OF EACH MAP")
        labels.draw_text(band, start, 4, 4)
        left = 4 + labels.text_width(start) + 6
        band[4 : 4 + labels.CHAR_HEIGHT, left : left + 100] = ramp[None].astype(np.uint8)
        labels.draw_text(band, end, 4, left + 106)
        return band


def _class_name(class_names, klass: int) -> str:
    return class_names[klass] if 0 <= klass < len(class_names) else f"CLASS {klass}"
