"""Exceptions a user sees; each names what was wrong and what would be valid."""

import re

_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
_FUNCTION_NODE = re.compile(r"\{\{function_node [^}]*\}\}\s*")


class ConfigurationError(ValueError):
    """A bad argument or an unsupported model/layer, raised before any training runs."""


def cause(error: BaseException, limit: int = 1000) -> str:
    """An exception's whole message on one line. Keras wraps a layer's error as "Exception
    encountered when calling Conv2D.call()." with the real cause on the lines after it (in terminal
    colour codes), so a first line alone says nothing. Left out: the colour codes, TensorFlow's
    function-node names and Keras's "Arguments received by" list (tensor reprs, not the cause)."""
    text = _FUNCTION_NODE.sub("", _COLOUR.sub("", str(error)))
    text = re.split(r"\n\s*Arguments received by ", text)[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines)[:limit] or type(error).__name__
