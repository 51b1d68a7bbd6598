"""Reads featviz records through TensorBoard's data provider and shapes them for the routes.

Only the data provider API is used (list/read blob sequences, read_blob), so this works with
both of TensorBoard's loading modes and any logdir TensorBoard itself can read. Images are never
decoded here: the grid and evolution answers carry blob keys, and image bytes go out as stored.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any

from tensorboard import errors
from tensorboard.data import provider

from tb_featviz import metadata

# Enough to hold every header of a 200-epoch evolution plus the grids around it; headers are
# small JSON (a few numbers per channel), images are never cached here.
_HEADER_CACHE_ENTRIES = 1024
_ALL_STEPS = 1_000_000_000
# tensorboard-data-server (--load_fast) hands out blob keys it cannot parse back when a run or
# tag name holds characters that JSON escapes (quotes, backslashes).
_DATA_SERVER_HINT = (
    "If the run or layer name contains quotes or backslashes, TensorBoard's fast data server "
    "cannot read it: restart TensorBoard with --load_fast=false, or rename the run/layer."
)


@dataclass(frozen=True)
class Series:
    """One (run, layer, method) time series as the data provider lists it."""

    run: str
    tag: str
    layer: str
    method: str


class RecordReader:
    """The plugin's view of the logdir: runs → layers → methods → epochs, grids, evolutions."""

    def __init__(self, data_provider: provider.DataProvider):
        self._provider = data_provider
        self._headers: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    # ---- listing -------------------------------------------------------------------------

    def runs(self, ctx, experiment_id: str) -> dict:
        """Every run with featviz records, its layers in model order, methods and epochs."""
        listing = self._provider.list_blob_sequences(
            ctx, experiment_id=experiment_id, plugin_name=metadata.PLUGIN_NAME
        )
        data = self._read(ctx, experiment_id, None) if listing else {}
        runs = []
        for run in sorted(listing):
            layers: dict[str, dict] = {}
            first_seen: dict[str, float] = {}
            problems = []
            for tag, series in listing[run].items():
                try:
                    content = metadata.parse_plugin_content(series.plugin_content)
                except metadata.FormatError as error:
                    problems.append(f"{tag}: {error}")
                    continue
                datums = data.get(run, {}).get(tag, [])
                if not datums:
                    continue
                layer, method = content["layer"], content["method"]
                layers.setdefault(layer, {})[method] = {"steps": [d.step for d in datums]}
                first = min(d.wall_time for d in datums)
                first_seen[layer] = min(first_seen.get(layer, first), first)
            ordered = sorted(layers, key=lambda name: (first_seen[name], name))
            runs.append(
                {
                    "name": run,
                    "layers": [{"name": name, "methods": layers[name]} for name in ordered],
                    "problems": problems,
                }
            )
        return {"runs": runs, "methods": list(metadata.METHODS), "roles": metadata.ROLES}

    # ---- one epoch of one layer -----------------------------------------------------------

    def grid(self, ctx, experiment_id: str, run: str, layer: str, method: str, step: int | None) -> dict:
        """Header numbers and image URLs of every channel at one epoch (the latest if None)."""
        series = self._series(ctx, experiment_id, run, layer, method)
        datums = self._datums(ctx, experiment_id, series)
        if step is None:
            datum = datums[-1]
        else:
            datum = next((d for d in datums if d.step == step), None)
            if datum is None:
                raise errors.NotFoundError(
                    f"run {run!r} has no {method} record of layer {layer!r} at epoch {step}; "
                    f"epochs: {_describe_steps([d.step for d in datums])}"
                )
        header = self._header(ctx, datum)
        roles = list(metadata.ROLES[method])
        images = {
            role: [
                _image_url(datum, metadata.blob_index(position, role, method))
                for position in range(len(header["channels"]))
            ]
            for role in roles
        }
        return {
            "run": run,
            "layer": layer,
            "method": method,
            "step": datum.step,
            "wall_time": datum.wall_time,
            "steps": [d.step for d in datums],
            "roles": roles,
            "channels": header["channels"],
            "numbers": header["numbers"],
            "image_shape": header.get("image_shape"),
            "layout": header.get("layout", {}),
            "settings": header.get("settings", {}),
            "images": images,
        }

    # ---- one channel across epochs --------------------------------------------------------

    def evolution(
        self, ctx, experiment_id: str, run: str, layer: str, method: str, channel: int, role: str
    ) -> dict:
        """One channel's image and numbers at every epoch, oldest first."""
        if role not in metadata.ROLES[method]:
            raise errors.InvalidArgumentError(
                f"method {method!r} has no image role {role!r}; roles: {list(metadata.ROLES[method])}"
            )
        series = self._series(ctx, experiment_id, run, layer, method)
        frames, problems, known_channels = [], [], set()
        for datum in self._datums(ctx, experiment_id, series):
            try:
                header = self._header(ctx, datum)
            except errors.NotFoundError as error:
                problems.append(f"epoch {datum.step}: {error}")
                continue
            known_channels.update(header["channels"])
            if channel not in header["channels"]:
                continue
            position = header["channels"].index(channel)
            frames.append(
                {
                    "step": datum.step,
                    "image": _image_url(datum, metadata.blob_index(position, role, method)),
                    "numbers": {name: values[position] for name, values in header["numbers"].items()},
                }
            )
        if not frames and not problems:
            raise errors.NotFoundError(
                f"layer {layer!r} of run {run!r} has no {method} images of channel {channel}; "
                f"channels: {_describe_steps(sorted(known_channels))}"
            )
        return {
            "run": run,
            "layer": layer,
            "method": method,
            "channel": channel,
            "role": role,
            "frames": frames,
            "problems": problems,
        }

    # ---- image bytes ----------------------------------------------------------------------

    def image(self, ctx, blob_key: str) -> bytes:
        """The stored PNG of a blob key handed out by `grid` or `evolution`."""
        try:
            data = self._provider.read_blob(ctx, blob_key=blob_key)
        except Exception:  # keys are opaque: whatever the provider disliked, there is no such image
            raise errors.NotFoundError(f"no image with key {blob_key!r}") from None
        if not isinstance(data, bytes) or not data.startswith(b"\x89PNG\r\n\x1a\n"):
            raise errors.NotFoundError(f"blob {blob_key!r} is not a featviz image")
        return data

    # ---- helpers --------------------------------------------------------------------------

    def _read(self, ctx, experiment_id: str, run_tag_filter) -> dict:
        return self._provider.read_blob_sequences(
            ctx,
            experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=_ALL_STEPS,
            run_tag_filter=run_tag_filter,
        )

    def _series(self, ctx, experiment_id: str, run: str, layer: str, method: str) -> Series:
        listing = self._provider.list_blob_sequences(
            ctx,
            experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=provider.RunTagFilter(runs=[run]),
        )
        if run not in listing:
            raise errors.NotFoundError(f"no featviz records in run {run!r}")
        available = {}
        for tag, series in listing[run].items():
            try:
                content = metadata.parse_plugin_content(series.plugin_content)
            except metadata.FormatError:
                continue
            available[(content["layer"], content["method"])] = tag
        if (layer, method) not in available:
            choices = sorted(f"{name}/{kind}" for name, kind in available)
            raise errors.NotFoundError(
                f"run {run!r} has no {method} records of layer {layer!r}; available: {choices}"
            )
        return Series(run=run, tag=available[(layer, method)], layer=layer, method=method)

    def _datums(self, ctx, experiment_id: str, series: Series) -> list:
        data = self._read(
            ctx, experiment_id, provider.RunTagFilter(runs=[series.run], tags=[series.tag])
        )
        datums = data.get(series.run, {}).get(series.tag, [])
        if not datums:
            raise errors.NotFoundError(f"no records of {series.layer}/{series.method} yet")
        return datums

    def _header(self, ctx, datum) -> dict:
        """The decoded header of a record, cached by (blob key, wall time): a rewritten step
        (a resumed run) has a new wall time and is read afresh."""
        header_ref = datum.values[metadata.HEADER_INDEX] if datum.values else None
        if header_ref is None:
            raise errors.NotFoundError(f"record of epoch {datum.step} is empty")
        cache_key = (header_ref.blob_key, datum.wall_time)
        with self._lock:
            if cache_key in self._headers:
                self._headers.move_to_end(cache_key)
                return self._headers[cache_key]
        try:
            raw = self._provider.read_blob(ctx, blob_key=header_ref.blob_key)
        except errors.NotFoundError:
            raise
        except errors.PublicError as error:
            raise errors.NotFoundError(
                f"TensorBoard could not read the record of epoch {datum.step}: {error}. "
                f"{_DATA_SERVER_HINT}"
            ) from None
        try:
            header = metadata.decode_header(raw)
        except metadata.FormatError as error:
            raise errors.NotFoundError(f"record of epoch {datum.step} is unreadable: {error}")
        expected = metadata.expected_length(len(header["channels"]), header["method"])
        if len(datum.values) != expected:
            raise errors.NotFoundError(
                f"record of epoch {datum.step} is incomplete: "
                f"{len(datum.values)} of {expected} elements"
            )
        with self._lock:
            self._headers[cache_key] = header
            while len(self._headers) > _HEADER_CACHE_ENTRIES:
                self._headers.popitem(last=False)
        return header


def _image_url(datum, index: int) -> str:
    """Relative URL of one image; the wall time makes a rewritten step a new (uncached) URL."""
    return f"image?key={datum.values[index].blob_key}&v={datum.wall_time!r}"


def _describe_steps(values: list[int]) -> str:
    if not values:
        return "none"
    if len(values) > 12:
        return f"{values[0]}..{values[-1]} ({len(values)} in all)"
    return ", ".join(str(v) for v in values)
