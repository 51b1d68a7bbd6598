"""The frontend's files: packaged as `tb_featviz/frontend/` in a wheel, `frontend/` in a checkout."""

from __future__ import annotations

import re
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
# Our files' names are short; a longer name is not ours (and may be too long for the file system).
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.(js|css)")
CONTENT_TYPES = {"js": "text/javascript", "css": "text/css"}


def frontend_dir() -> Path:
    """Where the dashboard's files are: installed copy first, then the source tree (editable)."""
    for candidate in (_PACKAGE_DIR / "frontend", _PACKAGE_DIR.parent / "frontend"):
        if (candidate / "index.js").is_file():
            return candidate
    raise FileNotFoundError(f"tb-featviz frontend files not found near {_PACKAGE_DIR}")


def read_frontend_file(name: str) -> tuple[bytes, str] | None:
    """(bytes, content type) of a frontend file, or None for names that are not ours.

    Only plain `name.js` / `name.css` are served, so no path can leave the directory; a name
    the file system refuses is not found either.
    """
    match = _NAME.fullmatch(name)
    if not match:
        return None
    try:
        return (frontend_dir() / name).read_bytes(), CONTENT_TYPES[match.group(1)]
    except OSError:  # missing, a directory, a name the file system refuses
        return None
