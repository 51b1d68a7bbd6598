"""Representation similarity as a method: each chosen layer's centred Gram matrix on the probe
images at every recorded step, so that linear CKA says how far a whole layer still is from what
it ends up computing, and whether two runs learn the same thing (Kornblith et al. 2019).

A record's one item is the whole layer (channels do not apply); its element is an array, not an
image (format version 4). The dashboard's Similarity page compares records by CKA on the server.
"""

from __future__ import annotations

import numpy as np

from tb_featviz import imaging, labels, metadata
from tb_featviz.methods.base import Method, check_finite
from tb_featviz.methods.similarity.gram import GramRecorder, fingerprint
from tb_featviz.methods.similarity.options import MAX_PROBES, MIN_PROBES, SimilarityOptions

# The activations of every probe image are held at once (float32) to form the Gram matrix.
MAX_ACTIVATION_BYTES = 2**30
_TILE = 128  # the CLI's picture of a Gram matrix is at least this many pixels wide


class Similarity(Method):
    name = metadata.METHOD_SIMILARITY
    options_type = SimilarityOptions
    has_channels = False  # its item is the whole layer

    def needs(self, settings):
        if settings.probe_images is None:
            return f"probe_images (the images whose representations are compared; up to {MAX_PROBES})"
        return None

    def applies(self, ref, path, settings, output):
        count = _probe_count(settings, settings.options_of(self.name))
        if count < MIN_PROBES:
            return f"it needs at least {MIN_PROBES} probe images to compare representations ({count} given)"
        known = all(isinstance(d, (int, np.integer)) for d in output.shape)  # a listing may hold None
        size = count * int(np.prod(output.shape)) * 4 if known else 0
        if size > MAX_ACTIVATION_BYTES:
            return (f"its activations on {count} probe images take {size / 2**30:.1f} GiB (at most "
                    f"{MAX_ACTIVATION_BYTES / 2**30:.0f}); give fewer with SimilarityOptions(probes=...)")
        return None

    def runner(self, plan, spec, settings):
        options = settings.options_of(self.name)
        probes = settings.probe_images[: _probe_count(settings, options)]
        record_settings = {
            "input": spec.settings(),
            "probes": {"count": len(probes), "given": len(settings.probe_images), "sha256": fingerprint(probes)},
        }
        recorder = GramRecorder(plan.target, plan.ref.model, options.batch_size, record_settings)

        def run(progress=None):
            return recorder.run(probes)

        run.probes = record_settings["probes"]
        return run

    def warnings(self, plan, runner):
        probes = getattr(runner, "probes", None)
        if probes is None or probes["count"] == probes["given"]:
            return []
        # The same line for every layer: `prepare` says it once.
        return [f"similarity uses the first {probes['count']} of the {probes['given']} probe images (its records "
                f"hold a Gram matrix of probes x probes; SimilarityOptions(probes=...) chooses up to {MAX_PROBES})"]

    def check(self, result) -> None:
        check_finite(result.gram, "Gram matrix")

    def items(self, result):
        return [0]

    def grid(self, result, contrast):
        """One tile: the centred Gram matrix, probe by probe (gray = 0, white = alike, black = opposite)."""
        tile = imaging.signed_uint8(result.gram)
        scale = max(1, -(-_TILE // result.probes))
        tile = np.repeat(np.repeat(tile, scale, axis=0), scale, axis=1)[None, ..., None]
        name = f"{result.probes} IMAGES VAR {labels.format_value(result.variance())}"
        return tile, [name], ["CENTRED GRAM MATRIX OF THE PROBE IMAGES (GRAY = 0, WHITE = ALIKE)"]


def _probe_count(settings, options: SimilarityOptions) -> int:
    """The probe images used: the first `options.probes` (all the option allows when none are
    given yet: `tb-featviz layers` asks where the method would apply)."""
    given = options.probes if settings.probe_images is None else len(settings.probe_images)
    return min(given, options.probes)
