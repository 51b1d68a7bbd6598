"""Labelled picture grids (channel index and activation under each tile) without an imaging library.

A 3x5 bitmap font covers what labels need: digits, a few letters and signs. Used by the CLI's
`render --out grid.png` and the demo's pictures, where no TensorBoard is there to label tiles.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111",
    "3": "111001111001111", "4": "101101111001001", "5": "111100111001111",
    "6": "111100111101111", "7": "111001001010010", "8": "111101111101111",
    "9": "111101111001111", ".": "000000000000010", "-": "000000111000000",
    "+": "000010111010000", "#": "010111010111010", ":": "000010000010000",
    " ": "000000000000000", "A": "010101111101101", "C": "111100100100111",
    "D": "110101101101110", "E": "111100111100111", "F": "111100111100100",
    "H": "101101111101101", "I": "111010010010111", "L": "100100100100111",
    "N": "111101101101101", "O": "111101101101111", "P": "111101111100100",
    "T": "111010010010010", "?": "111001011000010", "S": "111100111001111",
    "R": "110101110101101", "W": "101101101111101", "U": "101101101101111",
    "G": "111100101101111", "M": "101111111101101", "B": "110101110101110",
    "K": "101101110101101", "V": "101101101101010", "X": "101101010101101",
    "Y": "101101010010010", "Z": "111001010100111", "J": "001001001101111",
    "Q": "111101101111001", "/": "001001010100100", "(": "010100100100010",
    ")": "010001001001010", ",": "000000000010100", "=": "000111000111000",
}
_SCALE = 2
FRAME = 170  # the 1 px frame around each tile of a labelled grid
CHAR_WIDTH = 4 * _SCALE  # 3 columns and 1 of spacing
CHAR_HEIGHT = 5 * _SCALE


def text_width(text: str) -> int:
    return len(text) * CHAR_WIDTH - _SCALE


def draw_text(image: np.ndarray, text: str, top: int, left: int, color=0) -> None:
    """Draws `text` (upper-cased; unknown characters as '?') into a uint8 HxWxC image in place."""
    for i, char in enumerate(text.upper()):
        bits = np.array([int(b) for b in _GLYPHS.get(char, _GLYPHS["?"])], bool).reshape(5, 3)
        mask = bits.repeat(_SCALE, 0).repeat(_SCALE, 1)
        y, x = top, left + i * CHAR_WIDTH
        region = image[y : y + mask.shape[0], x : x + mask.shape[1]]
        region[mask[: region.shape[0], : region.shape[1]]] = color


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


def captioned(image: np.ndarray, caption: str, gap: int = 4) -> np.ndarray:
    """`image` (h, w, 3) uint8 with `caption` in a white band above it: how it was drawn."""
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
