"""The README's pictures, made from the demo's own records (what the dashboard shows, as PNGs).

    python -m demo.pictures runs/demo/featviz docs/demo

Writes: the first layer's AM grid at epoch 0 and at the last epoch, one channel's evolution
strip across every recorded step, two channels forming inside the first epoch (the log
schedule's steps), a deconv row (top-k projections beside their image patches) and the
occlusion maps of the probe images after the first and the last epoch.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from tb_featviz import imaging, labels, metadata
from tb_featviz.methods.occlusion.method import legend_band
from tb_featviz.records import decode_images, read_records
from tb_featviz.schedule import format_epoch


def record_grid(records: dict, layer: str, method: str, step: int, positions=None, *, columns: int = 8,
                scale: int = 3, gap: int = 4) -> np.ndarray:
    """A record's tiles as the dashboard shows them: per item its images side by side (the roles
    the record holds), labelled with its index and headline number (`metadata.FORMATS`)."""
    header, pngs = records[(layer, method)][step]
    roles, numbers = header["roles"], header["numbers"]
    headline = numbers[metadata.FORMATS[method].headline]
    positions = range(len(header["channels"])) if positions is None else positions
    tiles, names = [], []
    for position in positions:
        images = decode_images(pngs[position * len(roles) : (position + 1) * len(roles)])
        tile = images[0]
        for image in images[1:]:
            tile = labels.side_by_side(tile, image)
        tiles.append(tile)
        names += labels.channel_labels([header["channels"][position]], [headline[position]],
                                       [numbers.get("dead", [False] * len(headline))[position]])
    return labels.labelled_grid(np.stack(tiles), names, columns=min(columns, len(tiles)), scale=scale, gap=gap)


def am_grid(records: dict, layer: str, step: int) -> np.ndarray:
    return record_grid(records, layer, "am", step)


def most_changed_channel(records: dict, layer: str) -> int:
    """The channel whose activation grew most from step 0 to the last step: a lively strip."""
    steps = sorted(records[(layer, "am")])
    first, last = records[(layer, "am")][steps[0]][0], records[(layer, "am")][steps[-1]][0]
    growth = np.array(last["numbers"]["activation"], float) - np.array(first["numbers"]["activation"], float)
    return int(first["channels"][int(np.nanargmax(growth))])


def epoch_of(series: dict, step: int) -> float:
    """The epoch (with its fraction) a record was written at."""
    epoch = metadata.read_position(series[step][0], step)["epoch"]
    return float(step) if epoch is None else epoch


def evolution_strip(records: dict, layer: str, channel: int, steps=None) -> np.ndarray:
    """One channel's AM image at each of `steps` (default every recorded one), labelled by epoch."""
    series = records[(layer, "am")]
    tiles, names = [], []
    for step in sorted(series) if steps is None else steps:
        header, pngs = series[step]
        position = header["channels"].index(channel)
        tiles.append(decode_images([pngs[position]])[0])
        names.append(format_epoch(epoch_of(series, step)))
    return labels.labelled_grid(np.stack(tiles), names, columns=len(tiles), scale=3)


def first_epoch_strips(records: dict, layer: str, count: int = 2) -> np.ndarray:
    """The `count` channels whose AM image went furthest from flat to a pattern during the first
    epoch (growth of its pixels' spread), each at every step recorded from step 0 to the end of
    epoch 1: features forming."""
    series = records[(layer, "am")]
    steps = [step for step in sorted(series) if epoch_of(series, step) <= 1]
    spread = [decode_images(series[step][1]).astype(float).std(axis=(1, 2, 3)) for step in (steps[0], steps[-1])]
    order = np.argsort(-(spread[1] - spread[0]), kind="stable")[:count]
    channels = [int(series[steps[0]][0]["channels"][i]) for i in order]
    rows = [labels.captioned(evolution_strip(records, layer, channel, steps), f"{layer.upper()} CHANNEL {channel}")
            for channel in channels]
    width = max(row.shape[1] for row in rows)
    picture = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    return labels.captioned(picture, "EPOCH 0 TO 1: EACH RECORDED STEP, LABELLED BY EPOCH")


def deconv_row(records: dict, layer: str, count: int = 4) -> np.ndarray:
    """The `count` strongest channels: projections grid then patches grid, side by side."""
    series = records[(layer, "deconv")]
    header = series[max(series)][0]
    activation = np.nan_to_num(np.array(header["numbers"]["activation"], float), nan=-np.inf)
    return record_grid(records, layer, "deconv", max(series), np.argsort(-activation)[:count], columns=count,
                       scale=2, gap=10)


def occlusion_rows(records: dict, layer: str) -> np.ndarray:
    """Each probe image's occlusion heatmap and class map after the first and the last epoch,
    with the colour scale and the classes' colours drawn under them."""
    series = records[(layer, "occlusion")]
    steps = sorted(series)
    after_first = [step for step in steps if epoch_of(series, step) >= 1] or steps
    shown = [after_first[0], steps[-1]]
    parts = []
    for step in shown:
        grid = record_grid(records, layer, "occlusion", step, columns=4, scale=3)
        parts.append(labels.captioned(grid, f"AFTER EPOCH {format_epoch(epoch_of(series, step))}"))
    header = records[(layer, "occlusion")][shown[-1]][0]
    parts.append(_occlusion_legend(header, parts[-1].shape[1]))
    width = max(part.shape[1] for part in parts)
    picture = np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0)), constant_values=255)
                              for p in parts])
    return labels.captioned(picture, "LEFT: P(TRUE CLASS) WITH THE SQUARE THERE  RIGHT: CLASS PREDICTED THERE")


def _occlusion_legend(header: dict, width: int) -> np.ndarray:
    """The colour scale and each class's colour with its name, as the CLI draws them."""
    layout = header["layout"]
    present = sorted({c for image in header["numbers"]["classes"] for row in image for c in row}
                     | set(header["numbers"]["label"]))
    colours = {int(c): tuple(rgb) for c, rgb in layout["class_colours"].items()}
    return legend_band(layout["colormap"], colours, header["settings"].get("class_names") or [], present, width,
                       probability=True)


def write_pictures(run_dir: str, out_dir: str) -> list:
    """Writes the README pictures of the run in `run_dir`; returns their paths."""
    records = read_records(run_dir)
    steps = sorted(records[("conv1", "am")])
    strip_layer = "conv2"
    pictures = {
        "conv1_am_first_epoch.png": am_grid(records, "conv1", steps[0]),
        "conv1_am_last_epoch.png": am_grid(records, "conv1", steps[-1]),
        "conv2_evolution.png": evolution_strip(records, strip_layer, most_changed_channel(records, strip_layer)),
        "conv2_first_epoch.png": first_epoch_strips(records, strip_layer),
    }
    if ("conv3", "deconv") in records:
        pictures["conv3_deconv.png"] = deconv_row(records, "conv3")
    if ("logits", "occlusion") in records:
        pictures["logits_occlusion.png"] = occlusion_rows(records, "logits")
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
