"""Grad-CAM (Selvaraju et al. 2017): where a conv layer's features raise a class's score."""

from tb_featviz.methods.gradcam.engine import GradcamResult
from tb_featviz.methods.gradcam.method import Gradcam
from tb_featviz.methods.gradcam.options import GradcamOptions

__all__ = ["Gradcam", "GradcamOptions", "GradcamResult"]
