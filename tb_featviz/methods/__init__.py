"""The visualization methods: the one list of them in Python, in the order they are run.

Each method is a package here (see `base.Method` and docs/architecture.md); `register` adds one
from outside tb-featviz (a method of your own: its records carry their format, so the dashboard
shows them with its generic view).
"""

from __future__ import annotations

from tb_featviz.errors import ConfigurationError
from tb_featviz.methods.am import ActivationMaximization
from tb_featviz.methods.base import CliFlag, LayerOutput, Method
from tb_featviz.methods.deconv import Deconvnet
from tb_featviz.methods.gradcam import Gradcam
from tb_featviz.methods.integrated_gradients import IntegratedGradients
from tb_featviz.methods.occlusion import Occlusion
from tb_featviz.methods.saliency import Saliency
from tb_featviz.methods.similarity import Similarity
from tb_featviz.methods.weights import FilterWeights

REGISTRY: dict = {m.name: m for m in (ActivationMaximization(), Deconvnet(), FilterWeights(), Occlusion(), Saliency(),
                                      Gradcam(), IntegratedGradients(), Similarity())}


def names() -> tuple:
    """The registered methods' names, in the order they run."""
    return tuple(REGISTRY)


def get(name: str) -> Method:
    if not isinstance(name, str) or name not in REGISTRY:
        raise ConfigurationError(f"unknown method {name!r}; methods: {list(REGISTRY)}")
    return REGISTRY[name]


def register(method: Method) -> Method:
    """Adds a method of your own (runs after the built-in ones); its name must be new and valid
    in a record's tag (`metadata.check_method_name`)."""
    from tb_featviz import metadata

    if not isinstance(method, Method):
        raise ConfigurationError(f"register takes a tb_featviz.methods.Method, got {type(method).__name__}")
    try:
        metadata.check_method_name(method.name)
    except metadata.FormatError as error:
        raise ConfigurationError(str(error)) from None
    if method.name in REGISTRY and REGISTRY[method.name] is not method:
        raise ConfigurationError(f"a method named {method.name!r} is registered already")
    REGISTRY[method.name] = method
    return method


def unregister(name: str) -> None:
    """Removes a method added with `register` (tests and notebooks that redefine one)."""
    get(name)
    del REGISTRY[name]


__all__ = ["REGISTRY", "Method", "CliFlag", "LayerOutput", "get", "names", "register", "unregister"]
