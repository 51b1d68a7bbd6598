"""Deconvnet projections (Zeiler & Fergus) as a method: what in the probe images drives a channel."""

from __future__ import annotations

import numpy as np

from tb_featviz import backward, labels, metadata, summary
from tb_featviz.methods.base import Method


class Deconvnet(Method):
    name = metadata.METHOD_DECONV

    def needs(self, settings):
        if settings.probe_images is None:
            return "probe_images (the images to find top activations in)"
        return None

    def applies(self, ref, path, settings):
        return backward.refusal(ref.name, path, settings.deconv_rule)

    def runner(self, plan, spec, settings):
        from tb_featviz.deconv import DeconvProjector

        projector = DeconvProjector(
            plan.target, plan.path, plan.field, settings.deconv_rule, value_range=spec.value_range,
            channels_first=spec.channels_first, batch_size=settings.batch_size, settings=plan.record_settings(spec),
        )
        probes = spec.from_model_layout(settings.probe_images)
        return lambda progress=None: projector.run(probes, plan.channels, top_k=settings.top_k)

    def record(self, layer, result):
        return summary.deconv_record(layer, result)

    def grid(self, result, contrast):
        pairs = zip(result.projection_tiles(), result.patch_tiles(contrast=contrast))
        tiles = np.stack([labels.side_by_side(p, q) for p, q in pairs])
        names = labels.channel_labels(list(result.channels), result.values[:, 0], result.dead)
        return tiles, names, [f"RULE: {result.rule}  LEFT: PROJECTIONS (GRAY = 0)  RIGHT: IMAGE PATCHES".upper()]
