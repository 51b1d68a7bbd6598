"""Integrated gradients' options: the number of path steps and the baseline."""

from __future__ import annotations

import dataclasses
from typing import Optional, Union

import numpy as np

from tb_featviz import checks
from tb_featviz.errors import ConfigurationError
from tb_featviz.methods.attribution import AttributionOptions


@dataclasses.dataclass(frozen=True, eq=False)
class IntegratedGradientsOptions(AttributionOptions):
    """`steps`: gradients along the straight path from the baseline to the image (the paper's
    Riemann sum, alpha = k/steps for k = 1..steps); `baseline`: None for the low end of the
    input range everywhere (black), a number for a constant image, or one image as the model
    takes it (its shape is checked against the model's before epoch 1)."""

    steps: int = 32
    baseline: Union[None, float, np.ndarray] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        checks.integer(self.steps, "IntegratedGradientsOptions.steps", 1)
        if self.baseline is None or isinstance(self.baseline, (int, float, np.integer, np.floating)):
            if self.baseline is not None:
                object.__setattr__(self, "baseline", checks.number(self.baseline, "IntegratedGradientsOptions.baseline"))
            return
        try:
            array = np.array(self.baseline, np.float32)
        except (TypeError, ValueError):
            raise ConfigurationError("IntegratedGradientsOptions.baseline must be None, a number or one image "
                                     f"(an array), got {type(self.baseline).__name__}") from None
        if array.ndim != 3 or not np.all(np.isfinite(array)):
            raise ConfigurationError("IntegratedGradientsOptions.baseline must be one image as the model takes it "
                                     f"(height, width, channels; finite values), got shape {array.shape}")
        array.setflags(write=False)
        object.__setattr__(self, "baseline", array)

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        same = (self.images, self.target, self.batch_size, self.steps) == (
            other.images, other.target, other.batch_size, other.steps)
        if isinstance(self.baseline, np.ndarray) or isinstance(other.baseline, np.ndarray):
            return same and isinstance(other.baseline, np.ndarray) and np.array_equal(self.baseline, other.baseline)
        return same and self.baseline == other.baseline

    def __hash__(self) -> int:
        return hash((self.images, self.target, self.batch_size, self.steps,
                     self.baseline.tobytes() if isinstance(self.baseline, np.ndarray) else self.baseline))

    def describe_baseline(self) -> str:
        if self.baseline is None:
            return "the low end of the input range"
        if isinstance(self.baseline, float):
            return f"the constant image {self.baseline:g}"
        return f"an image given ({'x'.join(map(str, self.baseline.shape))})"

    def settings(self) -> dict:
        return {**super().settings(), "steps": self.steps, "baseline": self.describe_baseline()}

    def to_config(self) -> dict:
        baseline = self.baseline.tolist() if isinstance(self.baseline, np.ndarray) else self.baseline
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, "baseline": baseline}

    @classmethod
    def from_config(cls, config: dict) -> "IntegratedGradientsOptions":
        return cls(**config)


def baseline_image(options: IntegratedGradientsOptions, spec) -> np.ndarray:
    """The baseline as the model takes it (one image); a given image of another shape is refused."""
    if isinstance(options.baseline, np.ndarray):
        if tuple(options.baseline.shape) != tuple(spec.model_shape):
            raise ConfigurationError(
                f"integrated gradients' baseline has shape {tuple(options.baseline.shape)}, but the model takes "
                f"images of {tuple(spec.model_shape)}: give one image as the model takes it (or None, or a number)")
        return np.asarray(options.baseline, np.float32)
    value: Optional[float] = options.baseline
    return np.full(spec.model_shape, spec.value_range[0] if value is None else value, np.float32)
