"""tb-featviz: see what a CNN's filters learn, while they learn it, in TensorBoard.

    from tb_featviz import FeatVizCallback
    model.fit(x, y, epochs=20, callbacks=[FeatVizCallback(log_dir="runs/exp1", layers=["conv1", "conv2"],
                                                          probe_images=x_val[:256])])

The public names load lazily: the TensorBoard plugin (`tb_featviz.plugin`) lives in this package
too and must never import TensorFlow, so importing the package itself must not either.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "FeatVizCallback": "tb_featviz.callback",
    "maximize_activation": "tb_featviz.visualize",
    "deconvnet": "tb_featviz.visualize",
    "filter_weights": "tb_featviz.visualize",
    "occlusion": "tb_featviz.visualize",
    "OcclusionOptions": "tb_featviz.occlude",
    "OcclusionResult": "tb_featviz.occlude",
    "AMOptions": "tb_featviz.am",
    "AMResult": "tb_featviz.am",
    "FourierImage": "tb_featviz.am",
    "PixelImage": "tb_featviz.am",
    "RandomAffine": "tb_featviz.am",
    "TransformStack": "tb_featviz.am",
    "objectives": "tb_featviz.am",
    "DeconvResult": "tb_featviz.deconv",
    "WeightsResult": "tb_featviz.weights",
    "ConfigurationError": "tb_featviz.errors",
}

__all__ = [*_EXPORTS, "summary", "records", "pretrained"]


def __getattr__(name: str) -> Any:
    if name in ("summary", "records", "pretrained"):
        return importlib.import_module(f"tb_featviz.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tb_featviz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
