"""Filter weights as a method: what each output channel's convolution filter looks like."""

from __future__ import annotations

from tb_featviz import labels, metadata
from tb_featviz.methods.base import Method, check_finite
from tb_featviz.methods.weights import filters


class FilterWeights(Method):
    name = metadata.METHOD_WEIGHTS
    backend_free = True
    warn_when_left_out = False  # most layers have no filters: saying so for each would be noise
    reads_inputs = False

    def applies(self, ref, path, settings, output):
        if filters.supports(ref.layer):
            return None
        return f"{type(ref.layer).__name__} has no convolution filters to show; weights applies to {filters.SUPPORTED}"

    def runner(self, plan, spec, settings):
        def run(progress=None):
            result = filters.filter_weights(plan.ref.layer, plan.channels, colour=plan.colour)
            result.settings = plan.record_settings(spec)
            return result

        return run

    def check(self, result) -> None:
        check_finite(result.kernels, "kernel")

    def grid(self, result, contrast):
        caption = "STAMPS (WHAT ONE INPUT UNIT ADDS)" if result.orientation == "stamp" else "FILTERS (GRAY = 0)"
        return result.tiles(), labels.channel_labels(list(result.channels), result.norm), [caption]
