"""Turning float arrays into displayable uint8 tiles and PNG bytes (NumPy and zlib: the same bytes
whichever Keras backend runs, with or without TensorFlow)."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

MID_GRAY = 128
# Between the pictures of a mosaic (filter slices, input planes, deconv's top-k): a colour no
# gray picture has, so a gap is never read as a zero weight or a white pixel.
GAP_COLOUR = (70, 130, 180)

ABSOLUTE = "absolute"  # [0, 1] -> black..white: what the model sees (white is white)
STRETCH = "stretch"  # each image stretched between its 0.5 and 99.5 percentiles
CONTRASTS = (ABSOLUTE, STRETCH)


def to_uint8(unit_image: np.ndarray, contrast: str = ABSOLUTE) -> np.ndarray:
    """An image in [0, 1] (the model's input range mapped there) as uint8, by `contrast`.

    ABSOLUTE keeps the model's view: a uniform white optimum is white, a faint one faint.
    STRETCH shows faint structure, but makes every image look equally strong; it is a choice a
    viewer makes knowingly, never the default.
    """
    if contrast == STRETCH:
        return robust_uint8(unit_image)
    if contrast != ABSOLUTE:
        raise ValueError(f"contrast must be one of {CONTRASTS}, got {contrast!r}")
    image = np.nan_to_num(np.asarray(unit_image, np.float64), nan=0.0)
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def displayable(tile: np.ndarray, gap: int = 1) -> np.ndarray:
    """A (h, w, c) uint8 tile as a PNG can show it: 1 or 3 channels as they are; any other count
    (2, 4, 12 input planes) as a `mosaic` of gray planes, channel 0 first. Never as gray+alpha
    or RGBA, where a data channel would turn into transparency."""
    if tile.shape[-1] in (1, 3):
        return tile
    return mosaic(np.moveaxis(tile, -1, 0)[..., None], gap)


def mosaic(tiles: np.ndarray, gap: int = 1) -> np.ndarray:
    """Tiles (n, h, w, 1|3) uint8 in a near-square RGB grid with `GAP_COLOUR` gaps; one tile is
    returned as it is."""
    tiles = np.asarray(tiles, np.uint8)
    if len(tiles) == 1:
        return tiles[0]
    if tiles.shape[-1] == 1:
        tiles = np.repeat(tiles, 3, axis=-1)
    return tile_grid(tiles, gap, fill=GAP_COLOUR)


def robust_uint8(image: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> np.ndarray:
    """Stretch one image between its percentiles so faint structure shows; flat images -> gray.

    A plain min/max stretch lets one hot pixel wash the rest out; clipping the tails keeps the
    feature visible. Channels share one stretch so colours keep their balance.
    """
    image = np.asarray(image, dtype=np.float64)
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return np.full(image.shape, MID_GRAY, np.uint8)
    low, high = np.percentile(finite, [low_pct, high_pct])
    if not high - low > 1e-12 * max(1.0, abs(high)):
        return np.full(image.shape, MID_GRAY, np.uint8)
    scaled = (np.nan_to_num(image, nan=low) - low) / (high - low)
    return np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)


def signed_uint8(image: np.ndarray, pct: float = 99.5) -> np.ndarray:
    """Map signed values to gray = 0, white = positive, black = negative, symmetric per image.

    Used for filter weights and deconv projections, whose sign matters and whose zero must stay
    mid-gray so that tiles can be compared.
    """
    image = np.nan_to_num(np.asarray(image, dtype=np.float64))
    scale = np.percentile(np.abs(image), pct) if image.size else 0.0
    if not scale > 0:
        scale = np.max(np.abs(image)) if image.size else 0.0
    if not scale > 0:
        return np.full(image.shape, MID_GRAY, np.uint8)
    scaled = 0.5 + 0.5 * np.clip(image / scale, -1.0, 1.0)
    return np.round(scaled * 255.0).astype(np.uint8)


def grid_shape(count: int) -> tuple:
    """(rows, cols) of the most square grid that holds `count` tiles, wider than tall."""
    cols = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / cols))
    return rows, cols


def tile_grid(tiles: np.ndarray, gap: int = 1, fill=255) -> np.ndarray:
    """Tiles (n, h, w, c) uint8 -> one image of a near-square grid with `gap` pixels between,
    filled with `fill` (a value, or one per channel)."""
    tiles = np.asarray(tiles)
    n, h, w, c = tiles.shape
    rows, cols = grid_shape(n)
    out = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, c), fill, tiles.dtype)
    for i in range(n):
        r, col = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, col * (w + gap) : col * (w + gap) + w] = tiles[i]
    return out


def encode_png(image: np.ndarray) -> bytes:
    """uint8 (h, w) or (h, w, 1|3|4) -> PNG bytes: 8-bit gray, gray+alpha, RGB or RGBA; each row
    stored as it is, as the difference to the pixel on its left or to the row above, whichever
    is smallest; zlib level 6. The same bytes on every backend, with or without TensorFlow."""
    image = np.asarray(image)
    if image.dtype != np.uint8:  # a cast would wrap 300 to 44 and turn 0.7 into 0 without a word
        raise ValueError(f"encode_png takes uint8 images, got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    height, width, depth = image.shape
    if depth not in _PNG_COLOUR_TYPE or not height or not width:
        raise ValueError(f"a PNG holds 1 to 4 channels and at least one pixel, got shape {image.shape}")
    rows = image.reshape(height, width * depth)
    sub, up = rows.copy(), rows.copy()
    sub[:, depth:] = rows[:, depth:] - rows[:, :-depth]  # uint8 arithmetic wraps, as PNG's does
    up[1:] = rows[1:] - rows[:-1]
    candidates = np.stack([rows, sub, up])  # filter types 0 (None), 1 (Sub), 2 (Up)
    # Per row the filter whose bytes, read as signed, sum smallest: libpng's heuristic.
    choice = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2).argmin(axis=0)
    filtered = candidates[choice, np.arange(height)]
    scanlines = np.concatenate([choice[:, None].astype(np.uint8), filtered], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOUR_TYPE[depth], 0, 0, 0)
    return b"".join([
        b"\x89PNG\r\n\x1a\n", _png_chunk(b"IHDR", header),
        _png_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6)), _png_chunk(b"IEND", b""),
    ])


_PNG_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> gray, gray+alpha, RGB, RGBA


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> uint8 (h, w, c): the 8-bit, non-interlaced PNGs records hold (this module's,
    and TensorFlow's in older logs), every row filter; without TensorFlow."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    position, chunks, header = 8, [], None
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("a PNG without its IHDR chunk")
    width, height, bits, colour, _, _, interlace = header
    depth = {value: key for key, value in _PNG_COLOUR_TYPE.items()}.get(colour)
    if bits != 8 or interlace or depth is None:
        raise ValueError(f"only 8-bit, non-interlaced gray/RGB(A) PNGs are read here (bits {bits}, colour {colour})")
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), np.uint8).reshape(height, 1 + width * depth)
    rows = np.zeros((height, width * depth), np.int32)
    previous = np.zeros(width * depth, np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 2:  # Up
            line = (line + previous) & 255
        elif kind == 1:  # Sub: a running sum along the row, per channel (what this module writes most)
            line = (np.cumsum(line.reshape(width, depth), axis=0) & 255).reshape(-1)
        elif kind in (3, 4):  # Average, Paeth: each byte depends on the one `depth` to its left
            line = _unfilter(kind, line, previous, depth)
        elif kind != 0:
            raise ValueError(f"unknown PNG row filter {kind}")
        rows[y] = previous = line
    return rows.astype(np.uint8).reshape(height, width, depth)


def _unfilter(kind: int, line: np.ndarray, above: np.ndarray, depth: int) -> np.ndarray:
    out = line.copy()
    for x in range(len(out)):
        left = out[x - depth] if x >= depth else 0
        up = above[x]
        if kind == 3:
            predicted = (left + up) >> 1
        else:
            upper_left = above[x - depth] if x >= depth else 0
            estimate = left + up - upper_left
            distances = abs(estimate - left), abs(estimate - up), abs(estimate - upper_left)
            predicted = (left, up, upper_left)[distances.index(min(distances))]
        out[x] = (out[x] + predicted) & 255
    return out


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


# -- heat maps: a score per pixel as a colour over the (gray) image ----------------------------

# Viridis at 0, 1/8, ... 1 (its published anchor colours): dark = low, yellow = high.
HEATMAP = (
    (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
    (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
)
# ColorBrewer's RdBu (9 classes), blue for the lowest, white at the middle, red for the highest:
# signed maps, whose zero is the middle (negative evidence blue, positive red).
DIVERGING = (
    (33, 102, 172), (67, 147, 195), (146, 197, 222), (209, 229, 240), (247, 247, 247),
    (253, 219, 199), (244, 165, 130), (214, 96, 77), (178, 24, 43),
)
OVERLAY_ALPHA = 0.65  # colour over the (gray) image: the picture stays recognizable


def heatmap_colours(unit: np.ndarray, anchors=HEATMAP) -> np.ndarray:
    """Values in [0, 1] -> RGB floats (..., 3) along the colour scale `anchors` (NaN: its low end)."""
    anchors = np.array(anchors, np.float64)
    position = np.clip(np.nan_to_num(unit, nan=0.0), 0.0, 1.0) * (len(anchors) - 1)
    low = np.minimum(np.floor(position).astype(int), len(anchors) - 2)
    fraction = (position - low)[..., None]
    return anchors[low] * (1 - fraction) + anchors[low + 1] * fraction


def overlay(image: np.ndarray, colours: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """Colours (h, w, 3) over an image (h, w, c) in [0, 1], drawn gray: uint8 (h, w, 3)."""
    gray = np.mean(np.asarray(image, np.float64), axis=-1, keepdims=True) * 255.0
    blended = alpha * colours + (1 - alpha) * gray
    return np.round(np.clip(blended, 0, 255)).astype(np.uint8)
