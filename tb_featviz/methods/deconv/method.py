"""Deconvnet projections (Zeiler & Fergus) as a method: what in the probe images drives a channel."""

from __future__ import annotations

import numpy as np

from tb_featviz import backward, checks, labels, metadata
from tb_featviz.methods.base import TO_INPUT, CliFlag, Method
from tb_featviz.methods.deconv.options import DeconvOptions


class Deconvnet(Method):
    name = metadata.METHOD_DECONV
    options_type = DeconvOptions
    arguments = ("top_k", "deconv_rule")
    gradient_to = TO_INPUT
    cli_flags = (
        CliFlag("--top-k", "deconv: activations per channel (default 9)", type=int, words=("top_k",)),
        CliFlag("--rule", "deconv: backward rule at ReLUs (gradient: the plain gradient, the only one defined "
                "through gelu, swish and other nonlinearities)", choices=tuple(backward.RULES)),
    )

    def options_from_arguments(self, arguments):
        given = {name: arguments.get(name) for name in self.arguments if arguments.get(name) is not None}
        if not given:
            return None
        rule = checks.choice(given.get("deconv_rule", backward.DECONVNET), "deconv_rule", list(backward.RULES))
        return DeconvOptions(top_k=given.get("top_k", DeconvOptions.top_k), rule=rule)

    def options_from_cli(self, values, probe_count):
        top_k = values["top_k"]
        return DeconvOptions(top_k=9 if top_k is None else top_k, rule=values["rule"] or backward.DECONVNET)

    def needs(self, settings):
        if settings.probe_images is None:
            return "probe_images (the images to find top activations in)"
        return None

    def applies(self, ref, path, settings, output):
        return backward.refusal(ref.name, path, settings.options_of(self.name).rule)

    def listing_note(self, ref, path, settings, output):
        if backward.refusal(ref.name, path, backward.GRADIENT) is None:
            return "deconv (--rule gradient only)"
        return None

    def runner(self, plan, spec, settings):
        from tb_featviz.methods.deconv.projector import DeconvProjector

        options = settings.options_of(self.name)
        projector = DeconvProjector(
            plan.target, plan.path, plan.field, options.rule, value_range=spec.value_range,
            channels_first=spec.channels_first, batch_size=options.batch_size, settings=plan.record_settings(spec),
        )
        probes = spec.from_model_layout(settings.probe_images)
        return lambda progress=None: projector.run(probes, plan.channels, top_k=options.top_k)

    def grid(self, result, contrast):
        pairs = zip(result.projection_tiles(), result.patch_tiles(contrast=contrast))
        tiles = np.stack([labels.side_by_side(p, q) for p, q in pairs])
        names = labels.channel_labels(list(result.channels), result.values[:, 0], result.dead)
        return tiles, names, [f"RULE: {result.rule}  LEFT: PROJECTIONS (GRAY = 0)  RIGHT: IMAGE PATCHES".upper()]
