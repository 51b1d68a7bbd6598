"""The score an attribution map explains: one class's logit per image.

The logit is the output layer's value before its softmax (or sigmoid), as Grad-CAM's paper
takes it: through a softmax, a class's gradient also carries every other class's. The class is
the image's true one or the model's prediction. A one-unit output (a binary classifier) scores
class 1 by its logit z and class 0 by -z.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from keras import ops

from tb_featviz import backend, target
from tb_featviz.classifier import output_layer_name
from tb_featviz.methods.attribution.batches import in_batches
from tb_featviz.methods.attribution.options import TRUE
from tb_featviz.model_access import find_layer


class ClassScore:
    """The model's logits and one class's score, for one model (`who`: the method, for messages)."""

    def __init__(self, model, spec, who: str):
        ref = find_layer(model, output_layer_name(model, who, "leave out probe_labels"))
        self.layer = ref.name
        self.output = target.for_layer(ref, spec.channels_first)
        self.units = int(model.outputs[0].shape[-1])
        self._logits = backend.compiled(self.logits, model)

    def logits(self, x):
        """Model inputs -> (batch, units) logits, in a traced step."""
        return self.output.pre(x)

    @staticmethod
    def of(logits, selector):
        """Each row's score: `selector` rows are one-hot on the class (a one-unit output: +1 for
        class 1, -1 for class 0), so the score is a sum that traces the same on every backend."""
        return ops.sum(logits * selector, axis=1)

    def selector(self, classes: np.ndarray) -> np.ndarray:
        """(n, units) float32 rows that pick each image's class from the logits (see `of`)."""
        classes = np.asarray(classes, np.int64)
        if self.units == 1:
            return (2.0 * classes - 1.0).astype(np.float32)[:, None]
        rows = np.zeros((len(classes), self.units), np.float32)
        rows[np.arange(len(classes)), classes] = 1.0
        return rows

    def logits_of(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        """(n, units) logits of images as the model takes them."""
        return in_batches(self._logits, (), (images,), batch_size)[0]

    def predicted(self, logits: np.ndarray) -> np.ndarray:
        """The model's class per image (the largest logit; one unit: class 1 when z > 0)."""
        return (logits[:, 0] > 0).astype(np.int64) if self.units == 1 else np.argmax(logits, axis=1)

    def classes(self, logits: np.ndarray, labels: Optional[np.ndarray], which: str) -> np.ndarray:
        """The class each map explains: the label ("true") or the prediction ("predicted")."""
        return np.asarray(labels, np.int64) if which == TRUE else self.predicted(logits)

    def scores(self, logits: np.ndarray, classes: np.ndarray) -> np.ndarray:
        return np.sum(logits * self.selector(classes), axis=1)

    def describe(self) -> str:
        """What the score is, in words (records and the dashboard)."""
        found = self.output.nonlinearity
        if found is None:
            return f"the class's unit of {self.layer!r} (the output layer has no activation: its logits)"
        return f"the class's logit: {self.layer!r} before its {found.name}"
