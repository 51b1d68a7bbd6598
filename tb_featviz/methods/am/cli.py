"""AM's flags of `tb-featviz render`: the preset, the number of steps and the objective."""

from __future__ import annotations

import os

import numpy as np

from tb_featviz.errors import ConfigurationError
from tb_featviz.methods.am import objectives
from tb_featviz.methods.am.options import PRESETS, AMOptions
from tb_featviz.methods.base import CliFlag

FLAGS = (
    CliFlag("--steps", "AM gradient steps (default: the preset's)", type=int,
            words=("AMOptions.steps",)),
    CliFlag("--preset", "am: quality (default; Lucid's recipe, 512 Fourier steps) or fast (the callback's)",
            choices=tuple(PRESETS), default="quality"),
    CliFlag("--objective", "am: channel (default), negative (minimize the channel), neuron:ROW,COL (one unit), "
            "diversity:N[,WEIGHT] (N different images per channel), interpolate:CHANNEL,N (N images from each "
            "channel to CHANNEL), direction:FILE.npy (a direction in channel space)", default="channel"),
)


def options_from_flags(values) -> AMOptions:
    """The AM settings of the preset, with --steps and the --objective parsed."""
    overrides = parse_objective(values["objective"])
    steps = values["steps"]
    if steps is not None:
        if steps < 1:
            raise ConfigurationError(f"--steps {steps}: give at least 1")
        overrides["steps"] = steps
    return AMOptions.preset(values["preset"], **overrides)


def parse_objective(text: str) -> dict:
    """--objective TEXT -> AMOptions overrides (objective, images_per_channel)."""
    kind, _, rest = text.strip().partition(":")
    numbers = rest.split(",") if rest else []
    try:
        if kind == "channel" and not rest:
            return {}
        if kind == "negative" and not rest:
            return {"objective": -objectives.channel()}
        if kind == "neuron" and len(numbers) == 2:
            return {"objective": objectives.neuron(int(numbers[0]), int(numbers[1]))}
        if kind == "diversity" and len(numbers) in (1, 2):
            weight = float(numbers[1]) if len(numbers) == 2 else 100.0
            return {"objective": objectives.channel() + weight * objectives.diversity(),
                    "images_per_channel": int(numbers[0])}
        if kind == "interpolate" and len(numbers) == 2:
            return {"objective": objectives.interpolate(objectives.channel(), objectives.fixed_channel(int(numbers[0]))),
                    "images_per_channel": int(numbers[1])}
        if kind == "direction" and rest:
            if not os.path.isfile(rest):
                raise ConfigurationError(f"--objective direction:{rest}: no such file")
            return {"objective": objectives.direction(np.load(rest, allow_pickle=False))}
    except ConfigurationError as error:
        if str(error).startswith("--objective"):
            raise
        raise ConfigurationError(f"--objective {text!r}: {_first_line(error)}") from None
    except Exception as error:  # a number that is not one, a weight out of range, an unreadable file
        raise ConfigurationError(f"--objective {text!r}: {_first_line(error)}") from None
    raise ConfigurationError(f"--objective {text!r}: use channel, negative, neuron:ROW,COL, diversity:N[,WEIGHT], "
                             "interpolate:CHANNEL,N or direction:FILE.npy")


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
