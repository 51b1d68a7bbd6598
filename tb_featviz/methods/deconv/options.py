"""How deconv projections run: how many top activations, which backward rule, what batch."""

from __future__ import annotations

import dataclasses

from tb_featviz import backward, checks
from tb_featviz.errors import ConfigurationError

MAX_TOP_K = 256  # activations projected per channel; each keeps its receptive field's patch


@dataclasses.dataclass(frozen=True)
class DeconvOptions:
    """top_k: strongest activations per channel over the probe images, each projected.
    rule: "deconvnet" (Zeiler & Fergus), "guided" (guided backprop) or "gradient" (the plain
      gradient: the only one defined through gelu, swish and other non-ReLU layers).
    batch_size: projections computed together."""

    top_k: int = 9
    rule: str = backward.DECONVNET
    batch_size: int = 128

    def __post_init__(self) -> None:
        top_k = checks.integer(self.top_k, "top_k", 1)
        if top_k > MAX_TOP_K:
            raise ConfigurationError(f"top_k must be at most {MAX_TOP_K}, got {top_k}")
        checks.choice(self.rule, "rule", list(backward.RULES))
        checks.integer(self.batch_size, "batch_size", 1)
        object.__setattr__(self, "top_k", top_k)
        object.__setattr__(self, "batch_size", int(self.batch_size))
