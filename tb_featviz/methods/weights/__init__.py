"""Filter weights as pictures: the engine (`filters`) and the method."""

from tb_featviz.methods.weights.filters import WeightsResult, filter_weights
from tb_featviz.methods.weights.method import FilterWeights

__all__ = ["FilterWeights", "WeightsResult", "filter_weights"]
