"""The README's pictures, made from the demo's own records (what the dashboard shows, as PNGs).

    python -m demo.pictures runs/demo/featviz docs/demo

Writes: the first layer's AM grid at epoch 0 and at the last epoch, one channel's evolution
strip across all epochs, and a deconv row (top-k projections beside their image patches).
"""

from __future__ import annotations

import os
import sys

import numpy as np

from tb_featviz import imaging, labels
from tb_featviz.records import decode_images, read_records


def am_grid(records: dict, layer: str, step: int) -> np.ndarray:
    header, pngs = records[(layer, "am")][step]
    tiles = decode_images(pngs)
    numbers = header["numbers"]
    names = labels.channel_labels(header["channels"], numbers["activation"], numbers["dead"])
    return labels.labelled_grid(tiles, names, columns=8, scale=3)


def most_changed_channel(records: dict, layer: str) -> int:
    """The channel whose activation grew most from step 0 to the last step: a lively strip."""
    steps = sorted(records[(layer, "am")])
    first, last = records[(layer, "am")][steps[0]][0], records[(layer, "am")][steps[-1]][0]
    growth = np.array(last["numbers"]["activation"], float) - np.array(first["numbers"]["activation"], float)
    return int(first["channels"][int(np.nanargmax(growth))])


def evolution_strip(records: dict, layer: str, channel: int) -> np.ndarray:
    series = records[(layer, "am")]
    steps = sorted(series)
    tiles, names = [], []
    for step in steps:
        header, pngs = series[step]
        position = header["channels"].index(channel)
        tiles.append(decode_images([pngs[position]])[0])
        names.append(f"EPOCH {step}")
    return labels.labelled_grid(np.stack(tiles), names, columns=len(tiles), scale=3)


def deconv_row(records: dict, layer: str, count: int = 4) -> np.ndarray:
    """The `count` strongest channels: projections grid then patches grid, side by side."""
    series = records[(layer, "deconv")]
    header, pngs = series[max(series)]
    activation = np.nan_to_num(np.array(header["numbers"]["activation"], float), nan=-np.inf)
    order = np.argsort(-activation)[:count]
    tiles, names = [], []
    for position in order:
        projections, patches = decode_images(pngs[2 * position : 2 * position + 2])
        tiles.append(labels.side_by_side(projections, patches))
        names.append(f"#{header['channels'][position]}")
    return labels.labelled_grid(np.stack(tiles), names, columns=count, scale=2, gap=10)


def write_pictures(run_dir: str, out_dir: str) -> list:
    """Writes the README pictures of the run in `run_dir`; returns their paths."""
    records = read_records(run_dir)
    steps = sorted(records[("conv1", "am")])
    strip_layer = "conv2"
    pictures = {
        "conv1_am_first_epoch.png": am_grid(records, "conv1", steps[0]),
        "conv1_am_last_epoch.png": am_grid(records, "conv1", steps[-1]),
        "conv2_evolution.png": evolution_strip(records, strip_layer, most_changed_channel(records, strip_layer)),
    }
    if ("conv3", "deconv") in records:
        pictures["conv3_deconv.png"] = deconv_row(records, "conv3")
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, image in pictures.items():
        path = os.path.join(out_dir, name)
        with open(path, "wb") as f:
            f.write(imaging.encode_png(image))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_pictures(sys.argv[1], sys.argv[2]):
        print("wrote", written)
