"""Labelled picture grids (channel index and activation under each tile) without an imaging library.

A 5x7 bitmap font covers what labels need: every printable ASCII character (lower case drawn
as capitals), legible at 1x. Used by the CLI's
`render --out grid.png` and the demo's pictures, where no TensorBoard is there to label tiles.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

# A 5x7 font (the classic LCD character set's shapes): every printable ASCII character but the
# lower case, which is drawn in capitals. Each glyph is 7 rows, top first, each row two hex
# digits whose 5 low bits are its pixels, left first.
_GLYPHS = {
    " ": "00000000000000", "!": "04040404000004", '"': "0A0A0A00000000", "#": "0A0A1F0A1F0A0A",
    "$": "040F140E051E04", "%": "18190204081303", "&": "0C121408151209", "'": "04040800000000",
    "(": "02040808080402", ")": "08040202020408", "*": "0004150E150400", "+": "0004041F040400",
    ",": "000000000C0408", "-": "0000001F000000", ".": "00000000000C0C", "/": "00010204081000",
    "0": "0E11131519110E", "1": "040C040404040E", "2": "0E11010204081F", "3": "1F02040201110E",
    "4": "02060A121F0202", "5": "1F101E0101110E", "6": "0608101E11110E", "7": "1F010204080808",
    "8": "0E11110E11110E", "9": "0E11110F01020C", ":": "000C0C000C0C00", ";": "000C0C000C0408",
    "<": "02040810080402", "=": "00001F001F0000", ">": "08040201020408", "?": "0E110102040004",
    "@": "0E11010D15150E", "A": "0E1111111F1111", "B": "1E11111E11111E", "C": "0E11101010110E",
    "D": "1C12111111121C", "E": "1F10101E10101F", "F": "1F10101E101010", "G": "0E11101711110F",
    "H": "1111111F111111", "I": "0E04040404040E", "J": "0702020202120C", "K": "11121418141211",
    "L": "1010101010101F", "M": "111B1515111111", "N": "11111915131111", "O": "0E11111111110E",
    "P": "1E11111E101010", "Q": "0E11111115120D", "R": "1E11111E141211", "S": "0F10100E01011E",
    "T": "1F040404040404", "U": "1111111111110E", "V": "11111111110A04", "W": "1111111515150A",
    "X": "11110A040A1111", "Y": "1111110A040404", "Z": "1F01020408101F", "[": "0E08080808080E",
    "\\": "00100804020100", "]": "0E02020202020E", "^": "040A1100000000", "_": "0000000000001F",
    "`": "08040200000000", "{": "02040408040402", "|": "04040404040404", "}": "08040402040408",
    "~": "00000815020000",
}
_GLYPH_ROWS, _GLYPH_COLUMNS = 7, 5
_SCALE = 1
FRAME = 170  # the 1 px frame around each tile of a labelled grid
CHAR_WIDTH = (_GLYPH_COLUMNS + 1) * _SCALE  # 5 columns and 1 of spacing
CHAR_HEIGHT = _GLYPH_ROWS * _SCALE


def text_width(text: str) -> int:
    return len(text) * CHAR_WIDTH - _SCALE


def draw_text(image: np.ndarray, text: str, top: int, left: int, color=0) -> None:
    """Draws `text` (upper-cased; unknown characters as '?') into a uint8 HxWxC image in place."""
    for i, char in enumerate(text.upper()):
        bits = _bitmap(_GLYPHS.get(char, _GLYPHS["?"]))
        mask = bits.repeat(_SCALE, 0).repeat(_SCALE, 1)
        y, x = top, left + i * CHAR_WIDTH
        region = image[y : y + mask.shape[0], x : x + mask.shape[1]]
        region[mask[: region.shape[0], : region.shape[1]]] = color


def _bitmap(glyph: str) -> np.ndarray:
    rows = [int(glyph[i : i + 2], 16) for i in range(0, 2 * _GLYPH_ROWS, 2)]
    return np.array([[(row >> (_GLYPH_COLUMNS - 1 - c)) & 1 for c in range(_GLYPH_COLUMNS)] for row in rows], bool)


def format_value(value) -> str:
    """A number in at most 6 characters, as a label shows it."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    value = float(value)
    if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-2):
        return f"{value:.0e}"
    return f"{value:.3g}"


def channel_labels(channels, values, dead=None) -> list:
    """"#12 0.144" per channel, "#5 DEAD" for dead ones: the label under each tile."""
    dead = [False] * len(channels) if dead is None else dead
    return [f"#{c} DEAD" if is_dead else f"#{c} {format_value(v)}"
            for c, v, is_dead in zip(channels, values, dead)]


def _shortened(text: str, limit: int = 40) -> str:
    """A label drawn whole up to `limit` characters, then cut with '...' (a 100,000-character
    class name must not make a grid of gigapixels)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def captioned(image: np.ndarray, caption: str, gap: int = 4) -> np.ndarray:
    """`image` (h, w, 3) uint8 with `caption` in a white band above it: how it was drawn."""
    caption = _shortened(caption, 200)
    width = max(image.shape[1], text_width(caption) + 2 * gap)
    band = np.full((CHAR_HEIGHT + 2 * gap, width, image.shape[2]), 255, np.uint8)
    draw_text(band, caption, gap, gap)
    body = np.full((image.shape[0], width, image.shape[2]), 255, np.uint8)
    body[:, : image.shape[1]] = image
    return np.concatenate([band, body], axis=0)


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 4) -> np.ndarray:
    """Two (h, w, c) uint8 images of equal height with a white gap: a deconv tile's
    projections beside the image patches that caused them."""
    spacer = np.full((left.shape[0], gap, left.shape[2]), 255, np.uint8)
    return np.concatenate([left, spacer, right], axis=1)


def labelled_grid(
    tiles: np.ndarray, labels: Sequence[str], *, columns: int | None = None, scale: int = 1,
    gap: int = 4,
) -> np.ndarray:
    """Tiles (n, h, w, c) uint8, each upscaled by `scale` in a gray frame with its label below,
    on white."""
    tiles = np.asarray(tiles, np.uint8)
    labels = [_shortened(label) for label in labels]
    n, h, w, c = tiles.shape
    if c == 1:
        tiles = np.repeat(tiles, 3, axis=3)
    h, w = h * scale, w * scale
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns) if n else 0
    cell_w = max(w, max((text_width(label) for label in labels), default=0))
    cell_h = h + CHAR_HEIGHT + 4
    out = np.full((rows * (cell_h + gap) + gap, columns * (cell_w + gap) + gap, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, col = divmod(i, columns)
        y, x = gap + r * (cell_h + gap), gap + col * (cell_w + gap)
        out[y - 1 : y + h + 1, x - 1 : x + w + 1] = FRAME  # a white tile stays visible on white
        out[y : y + h, x : x + w] = tile.repeat(scale, 0).repeat(scale, 1)
        draw_text(out, labels[i], y + h + 2, x)
    return out
