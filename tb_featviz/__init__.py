"""tb-featviz: see what a CNN's filters learn, while they learn it, in TensorBoard.

    from tb_featviz import FeatVizCallback
    model.fit(x, y, epochs=20, callbacks=[FeatVizCallback("runs/exp1", layers=["conv1", "conv2"],
                                                            probe_images=x_val[:256])])
"""

__version__ = "0.1.0"

from tb_featviz.am import AMOptions, AMResult, FourierImage, PixelImage, RandomAffine
from tb_featviz.callback import FeatVizCallback
from tb_featviz.deconv import DeconvResult
from tb_featviz.errors import ConfigurationError
from tb_featviz.visualize import deconvnet, filter_weights, maximize_activation
from tb_featviz.weights import WeightsResult
from tb_featviz import summary

__all__ = [
    "FeatVizCallback", "maximize_activation", "deconvnet", "filter_weights", "summary",
    "AMOptions", "AMResult", "DeconvResult", "WeightsResult", "FourierImage", "PixelImage",
    "RandomAffine", "ConfigurationError",
]
