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
    "run_method": "tb_featviz.visualize",
    "attribution": "tb_featviz.visualize",
    "SaliencyOptions": "tb_featviz.methods.saliency",
    "GradcamOptions": "tb_featviz.methods.gradcam",
    "IntegratedGradientsOptions": "tb_featviz.methods.integrated_gradients",
    "similarity": "tb_featviz.visualize",
    "cka": "tb_featviz.methods.similarity",
    "SimilarityOptions": "tb_featviz.methods.similarity",
    "SimilarityResult": "tb_featviz.methods.similarity",
    "OcclusionOptions": "tb_featviz.methods.occlusion",
    "OcclusionResult": "tb_featviz.methods.occlusion",
    "AMOptions": "tb_featviz.methods.am",
    "AMResult": "tb_featviz.methods.am",
    "FourierImage": "tb_featviz.methods.am",
    "PixelImage": "tb_featviz.methods.am",
    "RandomAffine": "tb_featviz.methods.am",
    "TransformStack": "tb_featviz.methods.am",
    "objectives": "tb_featviz.methods.am",
    "DeconvOptions": "tb_featviz.methods.deconv",
    "DeconvResult": "tb_featviz.methods.deconv",
    "WeightsResult": "tb_featviz.methods.weights",
    "ConfigurationError": "tb_featviz.errors",
    "RenderOptions": "tb_featviz.offline.process",
}

_MODULES = ("summary", "records", "pretrained", "methods")

__all__ = [*_EXPORTS, *_MODULES]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"tb_featviz.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tb_featviz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
