"""Saliency's options: plain (Simonyan et al. 2014) or SmoothGrad (Smilkov et al. 2017)."""

from __future__ import annotations

import dataclasses
from typing import Optional

from tb_featviz import checks
from tb_featviz.methods.attribution import AttributionOptions

SMOOTHGRAD_SAMPLES = 16  # `tb_featviz.attribution(method="smoothgrad")` without smoothgrad=N


@dataclasses.dataclass(frozen=True)
class SaliencyOptions(AttributionOptions):
    """`smoothgrad`: None for the plain gradient, else N noisy copies of each image whose maps
    are averaged; `noise`: their Gaussian noise's standard deviation as a fraction of the input
    range (Smilkov et al. found 10-20 % best; tf-keras-vis's default is 20 %); `seed`: the noise
    (the same at every step, so the maps change with the model, not with the noise)."""

    smoothgrad: Optional[int] = None
    noise: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.smoothgrad is not None:
            checks.integer(self.smoothgrad, "SaliencyOptions.smoothgrad (noisy copies per image)", 1)
        checks.number(self.noise, "SaliencyOptions.noise", minimum=0.0)
        checks.integer(self.seed, "SaliencyOptions.seed", 0)

    @property
    def samples(self) -> int:
        """Gradients per image: 1, or SmoothGrad's copies."""
        return self.smoothgrad or 1
