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
# Listing a series' blobs costs ~1 ms per 1000 blobs in either loading mode; it is redone only
# when the listing's signature of that series changes (a new or rewritten step).
_SERIES_CACHE_ENTRIES = 256
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
    # (max_step, max_wall_time, max_length) from the listing: changes whenever a record is
    # added or a step rewritten, so it keys the cache of the series' records.
    signature: tuple


@dataclass(frozen=True)
class Record:
    """One step of a series: its blob keys (header first), never the bytes."""

    step: int
    wall_time: float
    keys: tuple


class RecordReader:
    """The plugin's view of the logdir: runs → layers → methods → epochs, grids, evolutions."""

    def __init__(self, data_provider: provider.DataProvider):
        self._provider = data_provider
        self._headers: collections.OrderedDict = collections.OrderedDict()
        self._records: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    # ---- listing -------------------------------------------------------------------------

    def runs(self, ctx, experiment_id: str) -> dict:
        """Every run with featviz records, its layers in model order, methods and epochs."""
        listing = self._provider.list_blob_sequences(
            ctx, experiment_id=experiment_id, plugin_name=metadata.PLUGIN_NAME
        )
        runs = []
        for run in sorted(listing):
            layers: dict[str, dict] = {}
            first_seen: dict[str, float] = {}
            series_list, problems = _parse_run(run, listing[run])
            for series, records in self._records_of(ctx, experiment_id, series_list):
                if not records:
                    continue
                layers.setdefault(series.layer, {})[series.method] = {
                    "steps": [r.step for r in records]
                }
                first = min(r.wall_time for r in records)
                first_seen[series.layer] = min(first_seen.get(series.layer, first), first)
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
        records = self._series_records(ctx, experiment_id, series)
        if step is None:
            record = records[-1]
        else:
            record = next((r for r in records if r.step == step), None)
            if record is None:
                raise errors.NotFoundError(
                    f"run {run!r} has no {method} record of layer {layer!r} at epoch {step}; "
                    f"epochs: {_describe_ints([r.step for r in records])}"
                )
        header = self._header(ctx, record)
        roles = list(metadata.ROLES[method])
        images = {
            role: [
                _image_url(record, metadata.blob_index(position, role, method))
                for position in range(len(header["channels"]))
            ]
            for role in roles
        }
        return {
            "run": run,
            "layer": layer,
            "method": method,
            "step": record.step,
            "wall_time": record.wall_time,
            "steps": [r.step for r in records],
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
        for record in self._series_records(ctx, experiment_id, series):
            try:
                header = self._header(ctx, record)
            except errors.NotFoundError as error:
                problems.append(f"epoch {record.step}: {error}")
                continue
            known_channels.update(header["channels"])
            if channel not in header["channels"]:
                continue
            position = header["channels"].index(channel)
            frames.append(
                {
                    "step": record.step,
                    "image": _image_url(record, metadata.blob_index(position, role, method)),
                    "numbers": {name: values[position] for name, values in header["numbers"].items()},
                }
            )
        if not frames and not problems:
            raise errors.NotFoundError(
                f"layer {layer!r} of run {run!r} has no {method} images of channel {channel}; "
                f"channels: {_describe_ints(sorted(known_channels))}"
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
        available = {(s.layer, s.method): s for s in _parse_run(run, listing[run])[0]}
        if (layer, method) not in available:
            choices = sorted(f"{name}/{kind}" for name, kind in available)
            raise errors.NotFoundError(
                f"run {run!r} has no {method} records of layer {layer!r}; available: {choices}"
            )
        return available[(layer, method)]

    def _series_records(self, ctx, experiment_id: str, series: Series) -> list:
        ((_, records),) = self._records_of(ctx, experiment_id, [series])
        if not records:
            raise errors.NotFoundError(f"no records of {series.layer}/{series.method} yet")
        return records

    def _records_of(self, ctx, experiment_id: str, series_list: list) -> list:
        """[(series, [Record sorted by step])], read from the provider only where stale."""
        found, stale = {}, []
        with self._lock:
            for series in series_list:
                key = (experiment_id, series.run, series.tag)
                cached = self._records.get(key)
                if cached is not None and cached[0] == series.signature:
                    self._records.move_to_end(key)
                    found[key] = cached[1]
                else:
                    stale.append(series)
        if stale:
            data = self._read(
                ctx,
                experiment_id,
                provider.RunTagFilter(
                    runs={s.run for s in stale}, tags={s.tag for s in stale}
                ),
            )
            with self._lock:
                for series in stale:
                    key = (experiment_id, series.run, series.tag)
                    records = [
                        Record(d.step, d.wall_time, tuple(ref.blob_key for ref in d.values))
                        for d in data.get(series.run, {}).get(series.tag, [])
                    ]
                    found[key] = records
                    self._records[key] = (series.signature, records)
                    while len(self._records) > _SERIES_CACHE_ENTRIES:
                        self._records.popitem(last=False)
        return [(s, found[(experiment_id, s.run, s.tag)]) for s in series_list]

    def _header(self, ctx, record) -> dict:
        """The decoded header of a record, cached by (blob key, wall time): a rewritten step
        (a resumed run) has a new wall time and is read afresh."""
        if not record.keys:
            raise errors.NotFoundError(f"record of epoch {record.step} is empty")
        header_key = record.keys[metadata.HEADER_INDEX]
        cache_key = (header_key, record.wall_time)
        with self._lock:
            if cache_key in self._headers:
                self._headers.move_to_end(cache_key)
                return self._headers[cache_key]
        try:
            raw = self._provider.read_blob(ctx, blob_key=header_key)
        except errors.NotFoundError:
            raise
        except errors.PublicError as error:
            raise errors.NotFoundError(
                f"TensorBoard could not read the record of epoch {record.step}: {error}. "
                f"{_DATA_SERVER_HINT}"
            ) from None
        try:
            header = metadata.decode_header(raw)
        except metadata.FormatError as error:
            raise errors.NotFoundError(f"record of epoch {record.step} is unreadable: {error}")
        expected = metadata.expected_length(len(header["channels"]), header["method"])
        if len(record.keys) != expected:
            raise errors.NotFoundError(
                f"record of epoch {record.step} is incomplete: "
                f"{len(record.keys)} of {expected} elements"
            )
        with self._lock:
            self._headers[cache_key] = header
            while len(self._headers) > _HEADER_CACHE_ENTRIES:
                self._headers.popitem(last=False)
        return header


def _image_url(record, index: int) -> str:
    """Relative URL of one image; the wall time makes a rewritten step a new (uncached) URL."""
    return f"image?key={record.keys[index]}&v={record.wall_time!r}"


def _parse_run(run: str, tags: dict) -> tuple[list, list]:
    """The readable series of one run's listing, and a message per unreadable tag."""
    series, problems = [], []
    for tag, time_series in tags.items():
        try:
            content = metadata.parse_plugin_content(time_series.plugin_content)
        except metadata.FormatError as error:
            problems.append(f"{tag}: {error}")
            continue
        signature = (time_series.max_step, time_series.max_wall_time, time_series.max_length)
        series.append(Series(run, tag, content["layer"], content["method"], signature))
    return series, problems


def _describe_ints(values: list[int]) -> str:
    if not values:
        return "none"
    if len(values) > 12:
        return f"{values[0]}..{values[-1]} ({len(values)} in all)"
    return ", ".join(str(v) for v in values)
