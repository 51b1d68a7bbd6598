"""Reads featviz records through TensorBoard's data provider and shapes them for the routes.

Only the data provider API is used (list/read blob sequences, read_blob), so this works with
both of TensorBoard's loading modes and any logdir TensorBoard itself can read. Images are never
decoded here: the grid and evolution answers carry blob keys, and image bytes go out as stored.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field

from tensorboard import errors
from tensorboard.data import provider

from tb_featviz import metadata
from tb_featviz.plugin.cache import LRU
from tb_featviz.plugin.provider_calls import ALL_STEPS, all_or_each, describe_ints, guarded, message

# Enough to hold every header of a 200-epoch evolution plus the grids around it; headers are
# small JSON (a few numbers per channel), images are never cached here.
_HEADER_CACHE_ENTRIES = 1024
# Listing a series' blobs costs ~1 ms per 1000 blobs in either loading mode; it is redone only
# when the listing's signature of that series changes (a new or rewritten step).
_SERIES_CACHE_ENTRIES = 4096
# Positions (where in training a record is; a few numbers each), keyed like headers: one per
# step of every run shown, so that a run's axis is read once however long its headers stay cached.
_POSITION_CACHE_ENTRIES = 262144
# Parsed plugin contents, keyed by their bytes: one per distinct (layer, method) in the logdir.
_CONTENT_CACHE_ENTRIES = 65536
# How long a /runs answer stands while TensorBoard's run list is unchanged (seconds).
_LISTING_TTL = 10.0
_LISTING_CACHE_ENTRIES = 16
_UNREADABLE = {"unreadable": True}  # a cached position of a record whose header cannot be read
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
    # What the method's records hold and are called (from the plugin content, metadata).
    format: metadata.MethodFormat = field(compare=False, hash=False, default=None)


@dataclass(frozen=True)
class Record:
    """One step of a series: its blob keys (header first), never the bytes."""

    step: int
    wall_time: float
    keys: tuple


class RecordReader:
    """The plugin's view of the logdir: runs → layers → methods → steps, grids, evolutions."""

    def __init__(self, data_provider: provider.DataProvider):
        self._provider = data_provider
        self._headers = LRU(_HEADER_CACHE_ENTRIES)
        self._positions = LRU(_POSITION_CACHE_ENTRIES)
        self._records = LRU(_SERIES_CACHE_ENTRIES)
        self._contents = LRU(_CONTENT_CACHE_ENTRIES)
        self._listings = LRU(_LISTING_CACHE_ENTRIES)  # experiment → (TensorBoard's run list, when, the /runs JSON)

    # ---- listing -------------------------------------------------------------------------

    def runs(self, ctx, experiment_id: str) -> bytes:
        """Every run with featviz records and the tags it could not read, as the JSON the route
        sends: one listing call (`list_blob_sequences`, metadata only), no record read.

        Steps and layer order need the records themselves, so they are read per run (`run`) for
        the runs a page shows, never for all of them: a sweep of 10,000 runs lists as fast as
        TensorBoard lists its runs.
        """
        # A poll with no new run costs what TensorBoard's own /data/runs costs: the listing is
        # redone only when TensorBoard's run list changes, or after _LISTING_TTL seconds (a
        # run's first featviz record, or a new unreadable tag, shows within that time), and its
        # JSON is encoded once (10,000 runs: ~400 kB that TensorBoard would re-encode per poll).
        run_list = guarded(
            "list the runs", lambda: self._provider.list_runs(ctx, experiment_id=experiment_id)
        )
        # Two flat lists compare fastest (a NaN start time, unequal to itself, would never match).
        key = ([r.run_name for r in run_list],
               [r.start_time if r.start_time == r.start_time else None for r in run_list])
        cached = self._listings.get(experiment_id)
        if cached is not None and cached[0] == key and time.monotonic() - cached[1] < _LISTING_TTL:
            return cached[2]
        listing = self._list(ctx, experiment_id, None)
        runs = []
        formats = dict(metadata.FORMATS)  # the built-in methods, then every other one records carry
        for run in sorted(listing):
            tags = listing[run]
            readable = [self._readable(tag, tags[tag]) for tag in sorted(tags)]
            for content in readable:
                if not isinstance(content, str):
                    formats.setdefault(content["method"], content["format"])
            runs.append({"name": run, "problems": [line for line in readable if isinstance(line, str)]})
        answer = json.dumps({
            "runs": runs,
            "methods": list(formats),
            "roles": {name: list(f.roles) for name, f in formats.items()},
            "formats": {name: f.describe() for name, f in formats.items()},
        }).encode("ascii")
        # Timed from when the answer is ready: a listing that takes seconds still stands for
        # _LISTING_TTL (timed from the request, a slow listing was never reused).
        self._listings.put(experiment_id, (key, time.monotonic(), answer))
        return answer

    def run(self, ctx, experiment_id: str, run: str) -> dict:
        """One run's layers in model order (first written first), their methods and steps, and
        the run's `axis`: where in training each step is (epoch with its fraction)."""
        listing = self._list(ctx, experiment_id, provider.RunTagFilter(runs=[run]))
        if run not in listing:
            raise errors.NotFoundError(f"no featviz records in run {run!r}")
        series_list, problems = self._parse_run(run, listing[run])
        layers: dict[str, dict] = {}
        first_seen: dict[str, float] = {}
        series_records = self._records_of(ctx, experiment_id, series_list, problems, left_out=problems)
        for series, records in series_records:
            if not records:
                continue
            layers.setdefault(series.layer, {})[series.method] = {
                "steps": [r.step for r in records]
            }
            first = min(r.wall_time for r in records)
            first_seen[series.layer] = min(first_seen.get(series.layer, first), first)
        ordered = sorted(layers, key=lambda name: (first_seen[name], name))
        return {
            "name": run,
            "layers": [{"name": name, "methods": layers[name]} for name in ordered],
            "axis": self._axis(ctx, series_records),
            "problems": problems,
        }

    def _axis(self, ctx, series_records: list) -> list:
        """[{"step", "epoch", "epochs_completed", "batch", "steps_per_epoch", "moment"}] for every
        step of a run, oldest first, from one record per step (cached; a version 1 record's
        epoch is its step).

        The callback cannot know the length of a first epoch over a dataset of unknown length;
        its records then hold no epoch, and get the one given by the epoch length a later
        record states (`epoch_from` says so). What stays unknown is None: the page places such
        a step by its number only.
        """
        holders: dict = {}
        for series, records in series_records:
            for record in records:
                holders.setdefault(record.step, []).append((series, record))
        points = []
        for step in sorted(holders):
            # The first readable record of the step says where it is (one broken record does
            # not take the epoch off the whole run's axis).
            position = next((p for p in (self._position(ctx, record, series) for series, record in holders[step])
                             if p is not None), None)
            points.append({"step": step, **(position or metadata.read_position({}, step))})
        length = None
        for point in reversed(points):  # fill from the nearest later record stating a length
            length = point["steps_per_epoch"] or length
            if (point["epoch"] is None and length and point["epochs_completed"] is not None
                    and point["batch"] is not None and point["batch"] <= length):
                point["epoch"] = point["epochs_completed"] + point["batch"] / length
                point["epoch_from"] = "the epoch length of later records"
        return points

    # ---- one step of one layer ------------------------------------------------------------

    def grid(self, ctx, experiment_id: str, run: str, layer: str, method: str, step: int | None) -> dict:
        """Header numbers and image URLs of every channel at one step (the latest if None)."""
        series = self._series(ctx, experiment_id, run, layer, method)
        records = self._series_records(ctx, experiment_id, series)
        if step is None:
            record = records[-1]
        else:
            record = next((r for r in records if r.step == step), None)
            if record is None:
                raise errors.NotFoundError(
                    f"run {run!r} has no {method} record of layer {layer!r} at step {step}; "
                    f"steps: {describe_ints([r.step for r in records])}"
                )
        header = self._header(ctx, record, series)
        roles = header["roles"]
        images = {
            role: [
                _image_url(record, metadata.blob_index(position, role, roles))
                for position in range(len(header["channels"]))
            ]
            for role in (roles if series.format.elements == metadata.PNG else ())  # arrays: read by /cka
        }
        return {
            "run": run,
            "layer": layer,
            "method": method,
            "step": record.step,
            "wall_time": _finite_time(record.wall_time),
            "steps": [r.step for r in records],
            "roles": roles,
            "channels": header["channels"],
            "numbers": header["numbers"],
            "image_shape": header.get("image_shape"),
            "layout": header.get("layout", {}),
            "settings": header.get("settings", {}),
            "images": images,
        }

    # ---- one channel across training -------------------------------------------------------

    def evolution(
        self, ctx, experiment_id: str, run: str, layer: str, method: str, channel: int, role: str
    ) -> dict:
        """One channel's image and numbers at every recorded step, oldest first (`role`: one of
        the method's image roles, None: its first)."""
        series = self._series(ctx, experiment_id, run, layer, method)
        roles = series.format.roles
        role = roles[0] if role is None else role
        if role not in roles:
            raise errors.InvalidArgumentError(f"method {method!r} has no image role {role!r}; roles: {list(roles)}")
        frames, problems, known_channels, without_role, roles_held = [], [], set(), [], []
        for record in self._series_records(ctx, experiment_id, series):
            try:
                header = self._header(ctx, record, series)
            except errors.NotFoundError as error:
                problems.append(f"step {record.step}: {message(error)}")
                continue
            known_channels.update(header["channels"])
            if channel not in header["channels"]:
                continue
            position = header["channels"].index(channel)
            if role not in header["roles"]:
                without_role.append(record.step)
                roles_held = header["roles"]
                continue
            frames.append(
                {
                    "step": record.step,
                    "image": _image_url(record, metadata.blob_index(position, role, header["roles"]))
                    if series.format.elements == metadata.PNG else None,
                    "numbers": {name: values[position] for name, values in header["numbers"].items()},
                }
            )
        item = series.format.item  # "channel", or "image" for occlusion
        if without_role and not frames:
            raise errors.NotFoundError(
                f"layer {layer!r} of run {run!r} has no {role} images in its {method} records; roles: "
                f"{', '.join(roles_held)}"
            )
        if without_role:
            problems.append(f"steps {describe_ints(without_role)}: no {role} images in their records")
        if not frames and not problems:
            raise errors.NotFoundError(
                f"layer {layer!r} of run {run!r} has no {method} images of {item} {channel}; "
                f"{item}s: {describe_ints(sorted(known_channels))}"
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

    def _list(self, ctx, experiment_id: str, run_tag_filter) -> dict:
        return guarded(
            "list the featviz records",
            lambda: self._provider.list_blob_sequences(
                ctx,
                experiment_id=experiment_id,
                plugin_name=metadata.PLUGIN_NAME,
                run_tag_filter=run_tag_filter,
            ),
        )

    def _read(self, ctx, experiment_id: str, run_tag_filter) -> dict:
        return guarded(
            "read the featviz records",
            lambda: self._provider.read_blob_sequences(
                ctx,
                experiment_id=experiment_id,
                plugin_name=metadata.PLUGIN_NAME,
                downsample=ALL_STEPS,
                run_tag_filter=run_tag_filter,
            ),
        )

    def _parse_run(self, run: str, tags: dict) -> tuple[list, list]:
        """The readable series of one run's listing, and a message per unreadable tag."""
        series, problems = [], []
        for tag, time_series in sorted(tags.items()):
            content = self._readable(tag, time_series)
            if isinstance(content, str):
                problems.append(content)
                continue
            signature = (time_series.max_step, time_series.max_wall_time, time_series.max_length)
            series.append(Series(run, tag, content["layer"], content["method"], signature, content["format"]))
        return series, problems

    def _readable(self, tag: str, time_series) -> dict | str:
        """A listed series' plugin content, or the line saying why it cannot be read.

        Parsed plugin contents are remembered by their bytes: a poll over thousands of runs
        parses nothing new.
        """
        raw = time_series.plugin_content
        content = self._contents.get(raw)
        if content is None:
            try:
                content = metadata.parse_plugin_content(raw)
            except metadata.FormatError as error:
                content = error
            self._contents.put(raw, content)
        if isinstance(content, Exception):
            return f"{tag}: {content}"
        if time_series.max_length > metadata.MAX_RECORD_LENGTH:
            # Never read: TensorBoard's Python loader would build a key per declared element.
            return (f"{tag}: a record declares {time_series.max_length} elements, more than any "
                    f"featviz record has ({metadata.MAX_RECORD_LENGTH})")
        return content

    def _series(self, ctx, experiment_id: str, run: str, layer: str, method: str) -> Series:
        listing = self._list(ctx, experiment_id, provider.RunTagFilter(runs=[run]))
        if run not in listing:
            raise errors.NotFoundError(f"no featviz records in run {run!r}")
        available = {(s.layer, s.method): s for s in self._parse_run(run, listing[run])[0]}
        if (layer, method) not in available:
            choices = sorted(f"{name}/{kind}" for name, kind in available)
            raise errors.NotFoundError(
                f"run {run!r} has no {method} records of layer {layer!r}; available: {choices}"
            )
        return available[(layer, method)]

    def _series_records(self, ctx, experiment_id: str, series: Series) -> list:
        problems: list = []
        ((_, records),) = self._records_of(ctx, experiment_id, [series], problems)
        if problems:
            raise errors.NotFoundError(problems[0])
        if not records:
            raise errors.NotFoundError(f"no records of {series.layer}/{series.method} yet")
        return records

    def _records_of(self, ctx, experiment_id: str, series_list: list, problems: list,
                    left_out: list | None = None) -> list:
        """[(series, [Record sorted by step])], read from the provider only where stale.

        A series the provider cannot read (a record of the wrong shape) gets no records and a
        line in `problems`; the others are still served. Records at steps no route can ask for
        are left out, with a line per series in `left_out` when given.
        """
        found, refused, stale = {}, {}, []
        for series in series_list:
            key = (experiment_id, series.run, series.tag)
            cached = self._records.get(key)
            if cached is not None and cached[0] == series.signature:
                found[key], refused[key] = cached[1], cached[2]
            else:
                stale.append(series)
        if stale:
            def read(batch):
                data = self._read(
                    ctx,
                    experiment_id,
                    provider.RunTagFilter(runs={s.run for s in batch}, tags={s.tag for s in batch}),
                )
                return {s: data.get(s.run, {}).get(s.tag, []) for s in batch}

            read_now = all_or_each(read, stale, problems, lambda s: s.tag)
            for series in stale:
                key = (experiment_id, series.run, series.tag)
                if series not in read_now:  # unreadable: no records, and not cached
                    found[key] = []
                    continue
                found[key], refused[key] = _records_from(read_now[series])
                self._records.put(key, (series.signature, found[key], refused[key]))
        if left_out is not None:
            for series in series_list:
                steps = refused.get((experiment_id, series.run, series.tag))
                if steps:
                    left_out.append(f"{series.tag}: records at steps {describe_ints(steps)} left out "
                                    f"(steps are 0..2**53)")
        return [(s, found[(experiment_id, s.run, s.tag)]) for s in series_list]

    def _position(self, ctx, record, series: Series) -> dict | None:
        """A record's `metadata.read_position` (None if unreadable), remembered apart from its
        (larger) header. Read
        from the header's own version: TensorBoard keeps the plugin content of a series' first
        record, so a version 1 log continued by a newer tb-featviz has both in one series."""
        key = (record.keys[metadata.HEADER_INDEX] if record.keys else None, record.wall_time, record.step)
        position = self._positions.get(key)
        if position is None:
            try:
                position = metadata.read_position(self._header(ctx, record, series), record.step)
            except errors.NotFoundError:  # unreadable: the grid of this step says why
                position = _UNREADABLE
            self._positions.put(key, position)
        return None if position is _UNREADABLE else dict(position)

    def _header(self, ctx, record, series: Series) -> dict:
        """The decoded header of a record, checked against its series and its element count.

        Cached by (blob key, wall time): a rewritten step (a resumed run) is read afresh.
        """
        if not record.keys:
            raise errors.NotFoundError(f"record of step {record.step} is empty")
        header_key = record.keys[metadata.HEADER_INDEX]
        cache_key = (header_key, record.wall_time)
        header = self._headers.get(cache_key)
        if header is None:
            header = self._read_header(ctx, record, header_key, series)
            self._headers.put(cache_key, header)
        if header["method"] != series.method or header["layer"] != series.layer:
            raise errors.NotFoundError(
                f"record of step {record.step} is unreadable: its tag says "
                f"{series.layer}/{series.method} but its header says "
                f"{header['layer']}/{header['method']}"
            )
        expected = metadata.expected_length(len(header["channels"]), header["roles"])
        if len(record.keys) != expected:
            raise errors.NotFoundError(
                f"record of step {record.step} is incomplete: "
                f"{len(record.keys)} of {expected} elements"
            )
        return header

    def _read_header(self, ctx, record, header_key: str, series: Series) -> dict:
        try:
            raw = self._provider.read_blob(ctx, blob_key=header_key)
        except errors.NotFoundError:
            raise
        except Exception as error:  # noqa: BLE001 - the provider's own failure, told as such
            escaped = any(c in name for name in (series.run, series.tag) for c in "\"\\")
            raise errors.NotFoundError(
                f"TensorBoard could not read the record of step {record.step}: {error}"
                + (f". {_DATA_SERVER_HINT}" if escaped else "")
            ) from None
        try:
            header = metadata.decode_header(raw, series.format)
        except metadata.FormatError as error:
            raise errors.NotFoundError(f"record of step {record.step} is unreadable: {error}")
        if not isinstance(header.get("layer"), str):
            raise errors.NotFoundError(f"record of step {record.step} names no layer")
        return header

    # How plugin/similarity.py reads records: a series by name, its records, a record's checked header.
    series, series_records, header = _series, _series_records, _header


def _records_from(data) -> tuple[list, list]:
    """The records of a series, and the steps left out: a step below 0 or above
    `metadata.MAX_STEP` could be listed but never asked for (nor held exactly by the page)."""
    records, refused = [], []
    for d in data:
        if 0 <= d.step <= metadata.MAX_STEP:
            records.append(Record(d.step, d.wall_time, tuple(ref.blob_key for ref in d.values)))
        else:
            refused.append(d.step)
    return records, sorted(refused)


def _image_url(record, index: int) -> str:
    """Relative URL of one image; the wall time makes a rewritten step a new (uncached) URL."""
    return f"image?key={record.keys[index]}&v={_version(record.wall_time)}"


def _version(wall_time) -> str:
    """The image URL's version token: the wall time when it is a finite number, else "0"."""
    return repr(float(wall_time)) if math.isfinite(wall_time) else "0"


def _finite_time(wall_time) -> float | None:
    return float(wall_time) if math.isfinite(wall_time) else None
