"""The visualization methods, one object each (see `base.Method`), in the order they are run."""

from __future__ import annotations

from tb_featviz.errors import ConfigurationError
from tb_featviz.methods.am import ActivationMaximization
from tb_featviz.methods.base import Method, Settings
from tb_featviz.methods.deconv import Deconvnet
from tb_featviz.methods.occlusion import Occlusion
from tb_featviz.methods.weights import FilterWeights

REGISTRY = {m.name: m for m in (ActivationMaximization(), Deconvnet(), FilterWeights(), Occlusion())}
NAMES = tuple(REGISTRY)


def get(name: str) -> Method:
    if name not in REGISTRY:
        raise ConfigurationError(f"unknown method {name!r}; methods: {list(NAMES)}")
    return REGISTRY[name]


__all__ = ["REGISTRY", "NAMES", "Method", "Settings", "get"]
