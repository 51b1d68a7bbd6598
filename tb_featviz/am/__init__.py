"""Activation maximization: objectives, parameterizations, transforms and the batched loop."""

from tb_featviz.am.maximize import ActivationMaximizer, AMOptions, AMResult
from tb_featviz.am.objectives import Context, Objective, channel, l2, total_variation
from tb_featviz.am.parameterizations import FourierImage, PixelImage
from tb_featviz.am.transforms import RandomAffine

__all__ = [
    "ActivationMaximizer", "AMOptions", "AMResult", "Context", "Objective", "channel", "l2",
    "total_variation", "FourierImage", "PixelImage", "RandomAffine",
]
