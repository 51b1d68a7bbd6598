"""Grad-CAM as a method: on a conv layer (each one named in `layers`, and always the last one
before the output), a map per probe image of where that layer's features raise the class's
score."""

from __future__ import annotations

from tb_featviz import metadata
from tb_featviz.classifier import not_a_classifier, output_layer_name
from tb_featviz.methods.attribution import TARGET_FLAG, TRUE, AttributionMethod
from tb_featviz.methods.gradcam.engine import GradcamEngine
from tb_featviz.methods.gradcam.layers import last_conv_layer, reaches
from tb_featviz.methods.gradcam.options import GradcamOptions
from tb_featviz.methods.base import SOME_NAMED
from tb_featviz.model_access import SPATIAL


class Gradcam(AttributionMethod):
    name = metadata.METHOD_GRADCAM
    options_type = GradcamOptions
    named_layers = SOME_NAMED  # the conv layers among those named (and always the last one)
    cli_flags = (TARGET_FLAG,)

    def options_from_cli(self, values, probe_count):
        return GradcamOptions(images=max(1, probe_count), target=values["target"] or TRUE)

    def applies(self, ref, path, settings, output):
        problem = super().applies(ref, path, settings, output)
        if problem:
            return problem
        if output.kind != SPATIAL:
            return (f"Grad-CAM weights a conv layer's feature maps: layer {ref.name!r} outputs "
                    f"{tuple(output.shape)} per image, not (height, width, channels)")
        if not reaches(ref, output_layer_name(ref.model, self.name, "leave out probe_labels")):
            return f"the model's output is not computed from layer {ref.name!r}"
        return None

    def implied_layers(self, model, settings):
        """The last conv layer before the output (Grad-CAM's own choice)."""
        if self.needs(settings) is not None or not_a_classifier(model, self.name):
            return []
        found = last_conv_layer(model, output_layer_name(model, self.name, "leave out probe_labels"))
        return [found] if found else []

    def engine(self, plan, spec, options, score):
        return GradcamEngine(score, spec, options, plan.ref.model, plan.ref)
