"""Integrated gradients (Sundararajan et al. 2017), with each map's completeness error."""

from tb_featviz.methods.integrated_gradients.engine import IntegratedGradientsResult
from tb_featviz.methods.integrated_gradients.method import IntegratedGradients
from tb_featviz.methods.integrated_gradients.options import IntegratedGradientsOptions

__all__ = ["IntegratedGradients", "IntegratedGradientsOptions", "IntegratedGradientsResult"]
