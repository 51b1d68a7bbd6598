"""Saliency maps (Simonyan et al. 2014) and SmoothGrad (Smilkov et al. 2017)."""

from tb_featviz.methods.saliency.method import Saliency
from tb_featviz.methods.saliency.options import SMOOTHGRAD_SAMPLES, SaliencyOptions

__all__ = ["SMOOTHGRAD_SAMPLES", "Saliency", "SaliencyOptions"]
