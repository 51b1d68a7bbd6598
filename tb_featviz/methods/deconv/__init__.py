"""Deconvnet projections (Zeiler & Fergus 2013) and guided backprop: the engine and the method."""

from tb_featviz.methods.deconv.method import Deconvnet
from tb_featviz.methods.deconv.options import DeconvOptions
from tb_featviz.methods.deconv.projector import DeconvProjector, DeconvResult

__all__ = ["Deconvnet", "DeconvOptions", "DeconvProjector", "DeconvResult"]
