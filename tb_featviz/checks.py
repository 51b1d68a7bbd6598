"""Checks of user-given values: each returns the value in plain Python form or raises a
ConfigurationError naming the setting and what is valid. Used wherever a user gives a setting,
so that every argument is checked once, when it is given, the same way."""

from __future__ import annotations

import math
import warnings
from typing import Optional, Sequence

import numpy as np

from tb_featviz.errors import ConfigurationError

# Values this large overflow float32, where every computation happens.
FLOAT32_LIMIT = 1e30


def integer(value, name: str, minimum: int = 0) -> int:
    """An int >= `minimum` (numpy ints too; never a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigurationError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def number(value, name: str, *, minimum: Optional[float] = None, maximum: float = FLOAT32_LIMIT,
           positive: bool = False) -> float:
    """A finite real number in [minimum, maximum] (and > 0 with `positive`)."""
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating))):
        raise ConfigurationError(f"{name} must be a finite number, got {value!r}")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result) or abs(result) > maximum:
        raise ConfigurationError(f"{name} must be a finite number of magnitude at most {maximum:g}, got {value!r}")
    if positive and not result > 0:
        raise ConfigurationError(f"{name} must be > 0, got {value!r}")
    if minimum is not None and result < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum:g}, got {value!r}")
    return result


def choice(value, name: str, options: Sequence[str]) -> str:
    """One of `options` (strings)."""
    if not isinstance(value, str) or value not in options:
        raise ConfigurationError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


def renamed(old_value, old_name: str, value, name: str, default=None):
    """The value of a renamed argument, taken from its old name with a deprecation warning."""
    if old_value is None:
        return value
    if value is not None and not (isinstance(value, str) and value == default):
        raise ConfigurationError(f"give {name} only ({old_name} is its deprecated name), not both")
    warnings.warn(f"FeatVizCallback({old_name}=...) is deprecated: use {name}=... (Keras's name)",
                  DeprecationWarning, stacklevel=3)
    return old_value
