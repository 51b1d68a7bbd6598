"""The one kind of error `tb-featviz` shows: a problem the user can fix, said in one line."""

from __future__ import annotations

import re


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


def one_line(text: str) -> str:
    """Control characters (a newline in a path) shown escaped: an error is one line."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group(0))[1:-1], text)
