"""What every attribution method's options hold: which probe images, which class, how many
inputs go through the model at once. Each method's options subclass this one."""

from __future__ import annotations

import dataclasses

from tb_featviz import checks

TRUE, PREDICTED = "true", "predicted"
TARGETS = (TRUE, PREDICTED)  # whose class's score a map explains: the image's true class, or the model's


@dataclasses.dataclass(frozen=True)
class AttributionOptions:
    """`images`: the first probe images mapped; `target`: the class explained, "true" (the
    probe label; needs probe_labels) or "predicted" (the model's top class on the image);
    `batch_size`: inputs per traced call (images and SmoothGrad's noisy copies share the batches;
    integrated gradients put whole paths of steps + 1 points in a call, at least one)."""

    images: int = 8
    target: str = TRUE
    batch_size: int = 64

    def __post_init__(self) -> None:
        who = type(self).__name__
        checks.integer(self.images, f"{who}.images", 1)
        checks.choice(self.target, f"{who}.target", TARGETS)
        checks.integer(self.batch_size, f"{who}.batch_size", 1)

    def settings(self) -> dict:
        """These options as a record states them."""
        return dataclasses.asdict(self)
