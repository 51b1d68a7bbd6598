"""Activation maximization as a method: the image each channel responds to most."""

from __future__ import annotations

import collections
import hashlib
import json
import weakref

from tb_featviz import labels, metadata
from tb_featviz.methods.am import cli
from tb_featviz.methods.am.options import AMOptions
from tb_featviz.methods.base import TO_IMAGE, Method, check_finite


class ActivationMaximization(Method):
    name = metadata.METHOD_AM
    options_type = AMOptions
    arguments = ("am",)
    gradient_to = TO_IMAGE
    cli_flags = cli.FLAGS

    def options_from_cli(self, values, probe_count):
        return cli.options_from_flags(values)

    def check_recordable(self, options):
        if options.images_per_channel > 1:
            return ("AM records hold one image per channel and step (images_per_channel > 1 is for notebooks and "
                    "the CLI's --out)")
        return None

    def runner(self, plan, spec, settings):
        from tb_featviz.methods.am.maximize import ActivationMaximizer
        from tb_featviz.methods.am.selected import SelectedChannelsForward

        options = settings.options_of(self.name)
        key = (plan.name, spec, options, _fingerprint(settings.probe_images),
               json.dumps(plan.record_settings(spec), sort_keys=True))
        maximizer = _cached(plan.ref.model, key, lambda: ActivationMaximizer(
            plan.target, spec, options, SelectedChannelsForward.for_layer(plan.ref), settings.probe_images,
            path=plan.path, settings=plan.record_settings(spec),
        ))
        # An objective that is the same for every channel (a direction) needs one image, not one each.
        channels = plan.channels if options.full_objective().per_channel else plan.channels[:1]
        runner = lambda progress=None: maximizer.run(channels, progress)  # noqa: E731
        runner.flat_optimum = maximizer.flat_optimum
        return runner

    def warnings(self, plan, runner):
        if not getattr(runner, "flat_optimum", False):
            return []
        return [f"layer {plan.name!r} is an affine function of the image, so the image that maximizes it is flat "
                "(black or white by the sign of each filter's sum); the nonlinearity after it shows patterns"]

    def check(self, result) -> None:
        check_finite(result.images, "AM image")

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


# Maximizers already traced, per model: a second notebook call on the same model, layer and
# options (or a second fit) reuses one instead of tracing its steps again. They read the weights
# when they run, so a cached one sees the model as it is now.
_MAXIMIZERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_PER_MODEL = 8


def _cached(model, key, make):
    try:
        hash(key)
    except TypeError:  # options holding a list (RandomAffine(scale=[...])): not kept, made afresh
        return make()
    maximizers = _MAXIMIZERS.setdefault(model, collections.OrderedDict())
    if key in maximizers:
        maximizers.move_to_end(key)
        return maximizers[key]
    maximizer = maximizers[key] = make()
    while len(maximizers) > _PER_MODEL:
        maximizers.popitem(last=False)
    return maximizer


def _fingerprint(images):
    """The probe images by content (a notebook passes the same images as a new array each time)."""
    if images is None:
        return None
    return images.shape, hashlib.blake2b(images.tobytes(), digest_size=16).hexdigest()
