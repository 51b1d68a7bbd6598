"""Activation maximization as a method: the image each channel responds to most."""

from __future__ import annotations

from tb_featviz import labels, metadata, summary
from tb_featviz.methods.base import Method, check_finite


class ActivationMaximization(Method):
    name = metadata.METHOD_AM

    def runner(self, plan, spec, settings):
        from tb_featviz.am.maximize import ActivationMaximizer
        from tb_featviz.am.selected import SelectedChannelsForward

        maximizer = ActivationMaximizer(
            plan.target, spec, settings.am, SelectedChannelsForward.for_layer(plan.ref), settings.probe_images,
            path=plan.path, settings=plan.record_settings(spec),
        )
        # An objective that is the same for every channel (a direction) needs one image, not one each.
        channels = plan.channels if settings.am.full_objective().per_channel else plan.channels[:1]
        runner = lambda progress=None: maximizer.run(channels, progress)  # noqa: E731
        runner.flat_optimum = maximizer.flat_optimum
        return runner

    def check(self, result) -> None:
        check_finite(result.images, "AM image")

    def record(self, layer, result):
        return summary.am_record(layer, result)

    def grid(self, result, contrast):
        names = labels.channel_labels(list(result.channels), result.activation, result.dead)
        class_names = result.settings.get("channel_names")
        if class_names:
            names = [f"{label} {name}" for label, name in zip(names, class_names)]
        objective = result.settings.get("objective", "channel_mean")
        copies = int(getattr(result, "copies", 1))
        if objective.startswith("direction"):  # one image for all channels: numbered, not a channel's
            names = [f"IMAGE {i} {labels.format_value(v)}" for i, v in enumerate(result.objective)]
        elif objective != "channel_mean":  # the number is what was maximized; #channel (:copy) stays
            names = [f"#{c}{f':{i % copies}' if copies > 1 else ''} {labels.format_value(v)}"
                     for i, (c, v) in enumerate(zip(result.channels, result.objective))]
        captions = [f"MAXIMIZED: {result.target.split(':')[0].split(',')[0]}".upper(),
                    f"OBJECTIVE: {objective}".upper().replace("_", " ")[:120]]
        return result.tiles(contrast), names, [c.replace("_", " ") for c in captions]
