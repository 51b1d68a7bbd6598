"""Occlusion sensitivity (Zeiler & Fergus 2013, Fig. 7): the engine (`occluder`) and the method."""

from tb_featviz.methods.occlusion.method import Occlusion
from tb_featviz.methods.occlusion.occluder import Occluder, OcclusionOptions, OcclusionResult

__all__ = ["Occlusion", "Occluder", "OcclusionOptions", "OcclusionResult"]
