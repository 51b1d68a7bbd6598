"""How similarity records are made: how many probe images, how many per forward pass."""

from __future__ import annotations

import dataclasses

from tb_featviz import checks
from tb_featviz.errors import ConfigurationError

# A record holds an n × n Gram matrix: n(n + 1)/2 float32, 128.5 KiB for 256 probe images.
MAX_PROBES = 256
MIN_PROBES = 3  # with 2, every centred Gram matrix has rank 1 and every CKA is 1


@dataclasses.dataclass(frozen=True)
class SimilarityOptions:
    """probes: the first `probes` probe images are the examples every Gram matrix is of (at most
    256: a record grows with their square); batch_size: images per forward pass."""

    probes: int = MAX_PROBES
    batch_size: int = 64

    def __post_init__(self) -> None:
        probes = checks.integer(self.probes, "similarity probes", MIN_PROBES)
        if probes > MAX_PROBES:
            raise ConfigurationError(f"similarity probes must be at most {MAX_PROBES} (a record holds a Gram matrix "
                                     f"of probes x probes), got {probes}")
        object.__setattr__(self, "probes", probes)
        object.__setattr__(self, "batch_size", checks.integer(self.batch_size, "similarity batch_size", 1))
