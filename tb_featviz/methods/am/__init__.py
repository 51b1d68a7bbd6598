"""Activation maximization: objectives, parameterizations, transforms, the batched loop, the method."""

from tb_featviz.methods.am.maximize import ActivationMaximizer, AMResult
from tb_featviz.methods.am.options import AMOptions
from tb_featviz.methods.am.method import ActivationMaximization
from tb_featviz.methods.am.objectives import (
    Context, Objective, channel, direction, diversity, fixed_channel, interpolate, l2, neuron, total_variation,
)
from tb_featviz.methods.am.parameterizations import FourierImage, PixelImage
from tb_featviz.methods.am.transforms import RandomAffine, TransformStack

__all__ = [
    "ActivationMaximization", "ActivationMaximizer", "AMOptions", "AMResult", "Context", "Objective", "channel",
    "direction", "diversity", "fixed_channel", "interpolate", "l2", "neuron", "total_variation", "FourierImage",
    "PixelImage", "RandomAffine", "TransformStack",
]
