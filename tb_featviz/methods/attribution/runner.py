"""The runner an attribution method gives `prepare`: made before epoch 1, called at every step.

Each call takes the probe images' logits, picks the class each map explains, has the method's
engine compute the maps, and compares them with the first maps this runner drew (the sanity
check, `sanity.FirstMaps`). `Method.at_step` tells it which global step it draws.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from tb_featviz.methods.attribution.sanity import FirstMaps


class AttributionRunner:
    """`engine(images, selector, progress) -> {"maps": (n, h, w), ...}` computes one method's
    maps (its other keys are fields of `engine.result_type`); `score` is the `ClassScore`."""

    def __init__(self, method: str, engine, score, spec, settings, options, record_settings: dict):
        count = min(options.images, len(settings.probe_images))
        self.method, self.engine, self.score, self.spec, self.options = method, engine, score, spec, options
        self.images = np.asarray(settings.probe_images[:count], np.float32)  # as the model takes them
        self.labels = None if settings.probe_labels is None else settings.probe_labels[:count]
        self.settings = record_settings
        self.first = FirstMaps()
        self.step: Optional[int] = None  # the global step being drawn (None outside training)

    @property
    def wants_reference(self) -> bool:
        """No reference yet: a renderer that did not draw the job's first step primes it
        (`offline.renderer.prime_references`)."""
        return self.first.maps is None

    def __call__(self, progress=None):
        logits = self.score.logits_of(self.images, self.options.batch_size)
        classes = self.score.classes(logits, self.labels, self.options.target)
        computed = self.engine(self.images, self.score.selector(classes), progress)
        maps = np.asarray(computed.pop("maps"), np.float32)
        spearman = self.first.compare(maps, self.step)
        return self.engine.result_type(
            method=self.method, images=self.spec.to_unit(self.spec.from_model_layout(self.images)), maps=maps,
            classes=classes, scores=self.score.scores(logits, classes), predicted=self.score.predicted(logits),
            labels=self.labels, spearman=spearman, reference_step=self.first.step, signed=self.engine.signed,
            settings={**self.settings, "reference": self.first.describe()}, **computed,
        )
