"""A minimal GIF decoder for checking the dashboard's exported animations independently."""

from __future__ import annotations

import numpy as np


def decode_gif(data: bytes) -> tuple[list[np.ndarray], list[int]]:
    """(frames as HxWx3 uint8, delays in 1/100 s) of a GIF using a global colour table."""
    assert data[:6] in (b"GIF89a", b"GIF87a"), data[:6]
    width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    packed = data[10]
    position = 13
    palette = None
    if packed & 0x80:
        size = 2 ** ((packed & 7) + 1)
        palette = np.frombuffer(data[position:position + 3 * size], np.uint8).reshape(size, 3)
        position += 3 * size
    frames, delays, delay = [], [], 0
    while True:
        block = data[position]
        if block == 0x3B:
            return frames, delays
        if block == 0x21:
            label = data[position + 1]
            position += 2
            if label == 0xF9:
                delay = int.from_bytes(data[position + 2:position + 4], "little")
            while data[position]:
                position += data[position] + 1
            position += 1
        elif block == 0x2C:
            w = int.from_bytes(data[position + 5:position + 7], "little")
            h = int.from_bytes(data[position + 7:position + 9], "little")
            assert (w, h) == (width, height) and not data[position + 9] & 0x80
            min_code_size = data[position + 10]
            position += 11
            chunks = []
            while data[position]:
                chunks.append(data[position + 1:position + 1 + data[position]])
                position += data[position] + 1
            position += 1
            indices = _lzw_decode(b"".join(chunks), min_code_size, w * h)
            frames.append(palette[np.array(indices, np.uint8)].reshape(h, w, 3))
            delays.append(delay)
        else:
            raise ValueError(f"unexpected block 0x{block:02x} at {position}")


def _lzw_decode(data: bytes, min_code_size: int, count: int) -> list[int]:
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    bits = int.from_bytes(data, "little")
    total_bits = 8 * len(data)
    offset, size = 0, min_code_size + 1
    table: list[list[int]] = []
    previous = None
    out: list[int] = []
    while offset + size <= total_bits:
        code = (bits >> offset) & ((1 << size) - 1)
        offset += size
        if code == clear:
            table = [[i] for i in range(clear)] + [[], []]
            size, previous = min_code_size + 1, None
            continue
        if code == end:
            break
        if previous is None:
            entry = table[code]
        elif code < len(table):
            entry = table[code]
            table.append(previous + entry[:1])
        else:
            entry = previous + previous[:1]
            table.append(entry)
        out.extend(entry)
        previous = entry
        if len(table) == (1 << size) and size < 12:
            size += 1
    assert len(out) == count, (len(out), count)
    return out
