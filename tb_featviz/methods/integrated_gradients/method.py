"""Integrated gradients as a method: on the model's output layer, a signed map per probe image
of how much each pixel, against the baseline, adds to the class's score."""

from __future__ import annotations

import os

import numpy as np

from tb_featviz import metadata
from tb_featviz.errors import ConfigurationError
from tb_featviz.methods.attribution import TARGET_FLAG, TRUE, AttributionMethod
from tb_featviz.methods.base import NO_NAMED, CliFlag
from tb_featviz.methods.integrated_gradients.engine import IntegratedGradientsEngine
from tb_featviz.methods.integrated_gradients.options import IntegratedGradientsOptions


class IntegratedGradients(AttributionMethod):
    name = metadata.METHOD_INTEGRATED_GRADIENTS
    options_type = IntegratedGradientsOptions
    named_layers = NO_NAMED  # it maps the output's scores: the named layers are not its
    cli_flags = (
        TARGET_FLAG,
        CliFlag("--ig-steps", "integrated_gradients: steps along the path (default 32)", type=int,
                words=("IntegratedGradientsOptions.steps",)),
        CliFlag("--baseline", "integrated_gradients: low (default: the input range's low end), a number, or "
                "FILE.npy (one image as the model takes it)", words=("IntegratedGradientsOptions.baseline",)),
    )

    def options_from_cli(self, values, probe_count):
        steps = {} if values["ig_steps"] is None else {"steps": values["ig_steps"]}
        return IntegratedGradientsOptions(images=max(1, probe_count), target=values["target"] or TRUE,
                                          baseline=_baseline(values["baseline"]), **steps)

    def engine(self, plan, spec, options, score):
        return IntegratedGradientsEngine(score, spec, options, plan.ref.model)


def _baseline(text):
    """--baseline: None ("low" or not given), a number, or an image from a .npy file."""
    if text is None or text.strip().lower() == "low":
        return None
    try:
        return float(text)
    except ValueError:
        pass
    if not text.endswith(".npy") or not os.path.isfile(text):
        raise ConfigurationError(f"--baseline {text!r}: give low, a number or an existing FILE.npy")
    try:
        return np.load(text, allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - not a .npy array
        raise ConfigurationError(f"--baseline {text}: not a NumPy array ({type(error).__name__})") from None
