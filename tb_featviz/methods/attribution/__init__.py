"""What the attribution methods (gradient maps of a class's score, each its own package) share:
the class score, the runner with its sanity check against the run's first maps, the result drawn
as tiles and written as a record, the `Method` base. It is no method itself and names none."""

from tb_featviz.methods.attribution.method import TARGET_FLAG, AttributionMethod
from tb_featviz.methods.attribution.options import PREDICTED, TARGETS, TRUE, AttributionOptions
from tb_featviz.methods.attribution.result import AttributionResult

__all__ = ["AttributionMethod", "AttributionOptions", "AttributionResult", "PREDICTED", "TARGETS", "TARGET_FLAG",
           "TRUE"]
