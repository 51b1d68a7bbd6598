"""Occlusion sensitivity (Zeiler & Fergus 2013, Fig. 7): where the model looks.

A gray square slides over each probe image; at every position the model sees the occluded
image, and we keep the probability of the image's true class, the most probable class, and,
for a chosen layer, the total activation of its strongest feature map (the one with the
strongest unit on the unoccluded image). Every position of every image goes through the model
in large batches, never one `predict` per position.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np
from keras import ops

from tb_featviz import backend, checks, imaging
from tb_featviz.errors import ConfigurationError
from tb_featviz.methods.occlusion.colours import CLASS_PALETTE, OTHER_COLOUR

POSITIONS_PER_AXIS = 12  # the default stride gives this many occluder positions per axis, give or take one



@dataclasses.dataclass(frozen=True)
class OcclusionOptions:
    """How occlusion runs: on the first `images` probe images, a `size` x `size` square moved by
    `stride` pixels (defaults: a quarter of the shorter image side, and the stride that gives
    12 or 13 positions per axis; the last position always touches the far edge, so every pixel
    is covered), `batch_size` occluded images per forward pass."""

    images: int = 8
    size: Optional[int] = None
    stride: Optional[int] = None
    batch_size: int = 256

    def __post_init__(self) -> None:
        checks.integer(self.images, "occlusion images", 1)
        if self.size is not None:
            checks.integer(self.size, "occlusion size", 1)
        if self.stride is not None:
            checks.integer(self.stride, "occlusion stride", 1)
        checks.integer(self.batch_size, "occlusion batch_size", 1)

    def geometry(self, height: int, width: int) -> tuple:
        """(size, stride) for images of (height, width); a square larger than the image is refused."""
        size = self.size if self.size is not None else max(1, round(min(height, width) / 4))
        if size > min(height, width):
            raise ConfigurationError(
                f"occlusion size {size} is larger than the {height}x{width} image; use at most {min(height, width)}"
            )
        stride = self.stride
        if stride is None:
            stride = max(1, round((min(height, width) - size) / (POSITIONS_PER_AXIS - 1)))
        return size, stride


def starts(length: int, size: int, stride: int) -> np.ndarray:
    """Where the square starts along one axis: every `stride` pixels, plus the last position that
    touches the far edge when the stride does not land there."""
    values = list(range(0, length - size + 1, stride))
    if values[-1] != length - size:
        values.append(length - size)
    return np.array(values, np.int64)


def boxes(height: int, width: int, size: int, stride: int) -> np.ndarray:
    """(rows, cols, 4) pixel boxes (top, left, bottom, right) of every occluder position."""
    ys, xs = starts(height, size, stride), starts(width, size, stride)
    top, left = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([top, left, top + size, left + size], axis=-1)


@dataclasses.dataclass
class OcclusionResult:
    """Per probe image and occluder position (arrays shaped (images, rows, cols)).

    `probability`: the true class's probability with the square there; `predicted_class`: the
    most probable class there; `activation` (when a layer was given): the total activation of
    that layer's strongest feature map (`feature`, chosen on the unoccluded image).
    `boxes[r, c]` is the square's (top, left, bottom, right) in pixels.
    """

    images: np.ndarray  # (n, h, w, c) in [0, 1], for display
    labels: np.ndarray  # (n,)
    boxes: np.ndarray  # (rows, cols, 4)
    size: int
    stride: int
    fill: list  # the square's value per input channel, in the model's range
    probability: Optional[np.ndarray] = None
    predicted_class: Optional[np.ndarray] = None
    unoccluded_probability: Optional[np.ndarray] = None  # (n,)
    unoccluded_class: Optional[np.ndarray] = None  # (n,)
    probability_source: str = ""  # "output" or "softmax of the output (logits)"
    num_classes: int = 0
    layer: Optional[str] = None
    activation: Optional[np.ndarray] = None
    unoccluded_activation: Optional[np.ndarray] = None  # (n,)
    feature: Optional[np.ndarray] = None  # (n,) the strongest channel per image
    settings: dict = dataclasses.field(default_factory=dict)

    def record(self, layer: str):
        """This result as the record FeatVizCallback writes (`tb_featviz.summary.write`)."""
        from tb_featviz.methods.occlusion.record import occlusion_record

        return occlusion_record(layer, self)

    def scores(self) -> tuple:
        """(per-position scores, unoccluded scores, what they are): the layer's activation when
        this result has one, else the true class's probability."""
        if self.activation is not None:
            return self.activation, self.unoccluded_activation, "total activation of the strongest feature map"
        return self.probability, self.unoccluded_probability, "probability of the true class"

    def score_scales(self) -> np.ndarray:
        """(n, 2) colour-scale ends per image: [0, 1] for probabilities; an activation map's own
        range (its unoccluded value included)."""
        values, unoccluded, _ = self.scores()
        if self.activation is None:
            return np.tile([0.0, 1.0], (len(values), 1))
        flat = np.concatenate([values.reshape(len(values), -1), unoccluded[:, None]], axis=1)
        return np.stack([flat.min(axis=1), flat.max(axis=1)], axis=1)

    def heatmap_tiles(self) -> np.ndarray:
        """(n, h, w, 3) uint8: each pixel coloured by the score of the position whose square is
        centred nearest it, over the gray image."""
        values, _, _ = self.scores()
        tiles = []
        for image, grid, (low, high) in zip(self.images, values, self.score_scales()):
            unit = (grid - low) / (high - low) if high > low else np.full(grid.shape, 0.5)
            colours = imaging.heatmap_colours(self._per_pixel(unit, image.shape[:2]))
            tiles.append(imaging.overlay(image, colours))
        return np.stack(tiles)

    def class_tiles(self, colours: dict) -> np.ndarray:
        """(n, h, w, 3) uint8: the most probable class at each position, `colours[class]` over
        the gray image (classes without a colour in OTHER_COLOUR)."""
        lookup = np.array([colours.get(c, OTHER_COLOUR) for c in range(max(self.num_classes, 1))], np.float64)
        return np.stack([
            imaging.overlay(image, lookup[self._per_pixel(grid, image.shape[:2])])
            for image, grid in zip(self.images, self.predicted_class)
        ])

    def class_colours(self) -> dict:
        """{class: (r, g, b)}: by class index when the model has at most 20 classes (stable across
        epochs), else the 19 classes most often predicted here."""
        if self.num_classes <= len(CLASS_PALETTE):
            return {c: CLASS_PALETTE[c] for c in range(self.num_classes)}
        found, counts = np.unique(np.concatenate([self.predicted_class.ravel(), self.labels]), return_counts=True)
        ranked = found[np.argsort(-counts, kind="stable")][: len(CLASS_PALETTE) - 1]
        return {int(c): CLASS_PALETTE[i] for i, c in enumerate(ranked)}

    def _per_pixel(self, grid: np.ndarray, shape: tuple) -> np.ndarray:
        rows = _nearest(self.boxes[:, 0, 0], self.size, shape[0])
        cols = _nearest(self.boxes[0, :, 1], self.size, shape[1])
        return grid[rows[:, None], cols[None, :]]


def _nearest(starts_: np.ndarray, size: int, length: int) -> np.ndarray:
    """For each pixel along an axis, the position whose square is centred nearest it."""
    centres = starts_ + size / 2.0
    pixels = np.arange(length) + 0.5
    return np.argmin(np.abs(pixels[:, None] - centres[None, :]), axis=1)


class Occluder:
    """Runs occlusion for one model (and optionally one layer), batched over every position of
    every image. `output` maps model inputs to the class scores, `feature` to the layer's output
    (channels last); either may be None."""

    def __init__(self, spec, options: OcclusionOptions, output: Optional[Callable] = None,
                 feature: Optional[Callable] = None, layer: Optional[str] = None,
                 output_is_probability: Optional[bool] = None, settings: Optional[dict] = None,
                 model=None):
        if output is None and feature is None:
            raise ValueError("occlusion needs the model output, a layer, or both")
        self.spec = spec
        self.options = options
        self.size, self.stride = options.geometry(spec.height, spec.width)
        self.boxes = boxes(spec.height, spec.width, self.size, self.stride)
        low, high = spec.value_range
        self.fill = [float(low + (high - low) / 2)] * spec.channels  # mid gray of the input range
        self.layer = layer
        self.output_is_probability = output_is_probability
        self.settings = dict(settings or {})

        self._output, self._feature = output, feature
        self._forward = backend.compiled(self._forward_values, model)  # model: whose weights it reads

    def _forward_values(self, x):
        # Only what is kept leaves the graph: a feature map's per-channel total and peak, not
        # the map itself (thousands of occluded images would not fit otherwise).
        values = [self._output(x)] if self._output is not None else []
        if self._feature is not None:
            maps = self._feature(x)
            axes = list(range(1, len(maps.shape) - 1))
            values += [ops.sum(maps, axis=axes), ops.max(maps, axis=axes)] if axes else [maps, maps]
        return values

    def run(self, images: np.ndarray, labels: np.ndarray) -> OcclusionResult:
        """`images` channels last as the model takes them (values and size); `labels` ints."""
        images = np.asarray(images, np.float32)[: self.options.images]
        labels = np.asarray(labels, np.int64)[: len(images)]
        n, (rows, cols) = len(images), self.boxes.shape[:2]
        plain = self._apply(images)
        result = OcclusionResult(
            images=self.spec.to_unit(images), labels=labels, boxes=self.boxes, size=self.size,
            stride=self.stride, fill=self.fill, layer=self.layer,
            settings={**self.settings, "occluder": {"size": self.size, "stride": self.stride, "fill": self.fill}},
        )
        keep = []  # per occluded batch: what to keep of the forward pass's values (rows of the batch)
        if self._output is not None:
            probabilities, source = _probabilities(plain[0], self.output_is_probability)
            num_classes = probabilities.shape[1]
            bad = labels[(labels < 0) | (labels >= num_classes)]
            if bad.size:
                raise ConfigurationError(
                    f"probe_labels hold class {int(bad[0])}, but the model's output has {num_classes} classes "
                    f"(valid: 0..{num_classes - 1})"
                )
            as_given = not source.startswith(("softmax", "sigmoid"))

            def true_and_predicted(values, image):
                scores = _probabilities(values[0], as_given)[0]
                return np.stack([scores[np.arange(len(image)), labels[image]], np.argmax(scores, axis=1)], axis=1)

            keep.append(true_and_predicted)
            result.unoccluded_probability = probabilities[np.arange(n), labels]
            result.unoccluded_class = np.argmax(probabilities, axis=-1)
            result.probability_source = source
            result.num_classes = num_classes
            result.settings["probability"] = source
        if self._feature is not None:
            totals, peaks = plain[-2], plain[-1]
            strongest = np.argmax(peaks, axis=1)  # the channel with the strongest unit
            result.feature = strongest
            result.unoccluded_activation = totals[np.arange(n), strongest]
            keep.append(lambda values, image: values[-2][np.arange(len(image)), strongest[image]][:, None])
        kept = self._apply_occluded(images, keep).reshape(n, rows, cols, -1)
        if self._output is not None:
            result.probability, result.predicted_class = kept[..., 0], kept[..., 1].astype(np.int64)
        if self._feature is not None:
            result.activation = kept[..., -1]
        return result

    def _apply(self, images: np.ndarray) -> list:
        """The forward functions on `images` (channels last), in batches; NumPy results."""
        outputs = []
        for start in range(0, len(images), self.options.batch_size):
            batch = images[start : start + self.options.batch_size]
            outputs.append([backend.numpy(v).astype(np.float64) for v in self._forward(self._model_layout(batch))])
        return [np.concatenate(parts) for parts in zip(*outputs)]

    def _apply_occluded(self, images: np.ndarray, keep: list) -> np.ndarray:
        """Every image with the square at every position, in order (image, row, col): per
        occluded image the columns `keep` returns, reduced batch by batch (a thousand-class
        output for every position of every image is never held at once)."""
        flat = self.boxes.reshape(-1, 4)
        jobs = np.array([(i, p) for i in range(len(images)) for p in range(len(flat))], np.int64)
        kept = []
        for start in range(0, len(jobs), self.options.batch_size):
            chunk = jobs[start : start + self.options.batch_size]
            batch = images[chunk[:, 0]].copy()
            for row, (_, p) in enumerate(chunk):
                top, left, bottom, right = flat[p]
                batch[row, top:bottom, left:right, :] = self.fill
            values = [backend.numpy(v).astype(np.float64) for v in self._forward(self._model_layout(batch))]
            kept.append(np.concatenate([reduce(values, chunk[:, 0]) for reduce in keep], axis=1))
        return np.concatenate(kept)

    def _model_layout(self, batch: np.ndarray):
        if self.spec.channels_first:
            batch = np.transpose(batch, (0, 3, 1, 2))
        return backend.tensor(batch)


def _probabilities(outputs: np.ndarray, is_probability: Optional[bool] = None) -> tuple:
    """(probabilities (n, classes), source): the output as it is when it is a probability per
    class (a softmax or sigmoid output layer), else its softmax (a logits layer). Unknown
    (None): decided by the values, rows of probabilities that sum to 1. The choice made on the
    unoccluded images is passed on, so every position is read the same way. A single unit is
    a binary classifier: class 1 with its probability (sigmoid of a logit), class 0 with the rest."""
    if outputs.ndim != 2:
        raise ConfigurationError(
            f"occlusion needs a classifier: the model's output must be (batch, classes), got {outputs.shape[1:]}"
        )
    binary = outputs.shape[1] == 1
    if is_probability is None:
        is_probability = bool(np.all(outputs >= 0) and np.all(outputs <= 1)
                              and (binary or np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3)))
    if binary:
        positive = outputs[:, 0] if is_probability else 1.0 / (1.0 + np.exp(-outputs[:, 0]))
        source = "output (one unit: class 1)" if is_probability else "sigmoid of the output (a logit for class 1)"
        return np.stack([1.0 - positive, positive], axis=1), source
    if is_probability:
        return outputs, "output"
    shifted = outputs - outputs.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True), "softmax of the output (logits)"
