"""Activation maximization: objectives, parameterizations, transforms and the batched loop."""

from tb_featviz.am.maximize import ActivationMaximizer, AMOptions, AMResult
from tb_featviz.am.objectives import (
    Context, Objective, channel, direction, diversity, fixed_channel, interpolate, l2, neuron, total_variation,
)
from tb_featviz.am.parameterizations import FourierImage, PixelImage
from tb_featviz.am.transforms import RandomAffine, TransformStack

__all__ = [
    "ActivationMaximizer", "AMOptions", "AMResult", "Context", "Objective", "channel", "direction", "diversity",
    "fixed_channel", "interpolate", "l2", "neuron", "total_variation", "FourierImage", "PixelImage",
    "RandomAffine", "TransformStack",
]
