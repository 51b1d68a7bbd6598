"""Saliency (and SmoothGrad) as a method: on the model's output layer, a map per probe image of
where a small change of the input changes the class's score most."""

from __future__ import annotations

from tb_featviz import metadata
from tb_featviz.methods.attribution import TARGET_FLAG, TRUE, AttributionMethod
from tb_featviz.methods.base import NO_NAMED, CliFlag
from tb_featviz.methods.saliency.engine import SaliencyEngine
from tb_featviz.methods.saliency.options import SaliencyOptions


class Saliency(AttributionMethod):
    name = metadata.METHOD_SALIENCY
    options_type = SaliencyOptions
    named_layers = NO_NAMED  # it maps the output's scores: the named layers are not its
    cli_flags = (
        TARGET_FLAG,
        CliFlag("--smoothgrad", "saliency: average N noisy copies of each image (SmoothGrad); default: plain",
                type=int, words=("SaliencyOptions.smoothgrad",)),
        CliFlag("--noise", "saliency: SmoothGrad's noise, a fraction of the input range (default 0.2)", type=float,
                words=("SaliencyOptions.noise",)),
    )

    def options_from_cli(self, values, probe_count):
        noise = {} if values["noise"] is None else {"noise": values["noise"]}
        return SaliencyOptions(images=max(1, probe_count), target=values["target"] or TRUE,
                               smoothgrad=values["smoothgrad"], **noise)

    def engine(self, plan, spec, options, score):
        return SaliencyEngine(score, spec, options, plan.ref.model)
