"""A model read as a classifier: one output of (batch, classes) computed by a layer, and probe
labels that are its classes. The methods that explain a class ask here, so a model that is not
a classifier is refused in the same words by each, before epoch 1.
"""

from __future__ import annotations

from typing import Optional

from tb_featviz.errors import ConfigurationError
from tb_featviz.model_access import iter_layers, output_layer


def not_a_classifier(model, who: str) -> Optional[str]:
    """Why the model is not a single-output classifier with output (batch, classes), or None
    (`who`: the method, as the message names it)."""
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) > 1:
        return f"the model has {len(outputs)} outputs; {who} needs one (a classifier)"
    if outputs and len(outputs[0].shape) != 2:
        return f"{who} needs a classifier: the model's output must be (batch, classes), got {tuple(outputs[0].shape)}"
    return None


def class_count(model) -> Optional[int]:
    """How many classes the output holds (one unit: a binary classifier, 2); None if unknown."""
    shape = tuple(model.outputs[0].shape) if getattr(model, "outputs", None) else None
    return None if shape is None else (2 if shape[-1] == 1 else shape[-1])


def check_classifier(model, settings, who: str) -> None:
    """The model is a classifier, (batch, classes), and every probe label (when given) one of its
    classes: checked before training, not at the first epoch."""
    problem = not_a_classifier(model, who)
    if problem:
        raise ConfigurationError(problem)
    classes = class_count(model)
    labels = settings.probe_labels
    if labels is None:
        return
    if classes is not None and settings.label_width is not None and settings.label_width != classes:
        raise ConfigurationError(
            f"probe_labels are one-hot rows of {settings.label_width} classes, but the model's output has {classes}"
        )
    if classes is not None and len(labels) and labels.max() >= classes:
        raise ConfigurationError(
            f"probe_labels hold class {int(labels.max())}, but the model's output has {classes} classes "
            f"(valid: 0..{classes - 1})"
        )


def output_layer_name(model, who: str, without: str) -> str:
    """The qualified name of the layer that computes the model's output (`without`: what to
    leave out instead, when the output is no layer's)."""
    last = output_layer(model)
    found = [ref.name for ref in iter_layers(model) if ref.layer is last][:1]
    if not found:
        raise ConfigurationError(
            f"{who} needs the model's output to come from a layer; {model.name!r} ends in "
            f"{type(last).__name__}. Wrap it in a layer (e.g. keras.layers.Softmax) or {without}"
        )
    return found[0]
