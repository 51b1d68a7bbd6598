"""The /cka route: linear CKA between records that hold centred Gram matrices.

A record whose format has an array role `metadata.GRAM_ROLE` holds one layer's centred Gram
matrix K of the probe images at one step (docs/FORMAT.md). Linear CKA between two such records
of the same probe images is ⟨K_a, K_b⟩ / (‖K_a‖ ‖K_b‖): here each record becomes, once, the
unit vector of its upper triangle (off-diagonal entries weighted by √2, so that dot products
are Frobenius products), and CKA is a dot product of two of them, in float64.

Answers (JSON):
  * `?run&method[&layer][&step]`: every layer of the run with such records, in model order,
    with its CKA at each recorded step with its own record at `step` (the reference; default
    the run's latest), when it first reached `THRESHOLD` and from which step on it stayed
    there; with `layer`, that layer's step × step matrix as well. Of a run of more than
    `_MAX_STEPS` recorded steps, as many evenly spaced ones (the reference among them).
  * `?run&method&layer&compare=other`: the layer's CKA between the two runs at each epoch both
    recorded (the same step where epochs are unknown), when both used the same probe images.
"""

from __future__ import annotations

import concurrent.futures
import math

import numpy as np
from tensorboard import errors

from tb_featviz import metadata
from tb_featviz.plugin.cache import LRU
from tb_featviz.plugin.provider_calls import describe_ints, message
from tb_featviz.records import decode_array

THRESHOLD = 0.9  # "settled": CKA with the reference at least this (the dashboard's marks)
# A run's page reads at most this many steps per layer: of a longer series, evenly spaced ones
# (the reference among them). More would not be told apart on a screen.
_MAX_STEPS = 250
# Unit vectors of n(n+1)/2 float32 each (128.5 KiB for 256 probes): 1024 hold 135 MB at most, and
# four layers of _MAX_STEPS steps fit, so a page's next answer reads only the new records.
_VECTOR_CACHE_ENTRIES = 1024
_ANSWER_CACHE_ENTRIES = 64
_MAX_PROBES = 1024  # a record of more is not read (a crafted one would be hundreds of MB)
_READERS = 8  # threads reading records at once
_SAME_EPOCH = 1e-9


class SimilarityReader:
    """CKA between the Gram matrices of a run's records (`records`: the plugin's RecordReader,
    which lists series and checks headers)."""

    def __init__(self, data_provider, records):
        self._provider = data_provider
        self._records = records
        self._vectors_cache = LRU(_VECTOR_CACHE_ENTRIES)  # (element key, wall time, step) -> _Vector
        self._answers = LRU(_ANSWER_CACHE_ENTRIES)

    def similarity(self, ctx, experiment_id: str, run: str, method: str, layer: str | None,
                   step: int | None, compare: str | None) -> dict:
        if compare is not None:
            return self._between_runs(ctx, experiment_id, run, compare, method, layer)
        detail = self._records.run(ctx, experiment_id, run)
        layers = [entry["name"] for entry in detail["layers"] if method in entry["methods"]]
        if not layers:
            raise errors.NotFoundError(f"run {run!r} has no {method} records")
        if layer is not None and layer not in layers:
            raise errors.NotFoundError(f"run {run!r} has no {method} records of layer {layer!r}; layers: {layers}")
        every = [(name, *self._series(ctx, experiment_id, run, name, method)) for name in layers]
        key = (experiment_id, run, method, layer, step, tuple((name, s.signature) for name, s, _ in every))
        answer = self._answers.get(key)
        if answer is None:
            answer = self._within_run(ctx, run, method, layer, step, every)
            self._answers.put(key, answer)
        return answer

    # ---- one run: each layer against itself at the reference step ---------------------------

    def _within_run(self, ctx, run: str, method: str, layer: str | None, step: int | None, every: list) -> dict:
        problems: list = []
        recorded = sorted({r.step for _, _, records in every for r in records})
        if step is not None and step not in recorded:
            raise errors.NotFoundError(f"run {run!r} has no {method} record at step {step}; "
                                       f"steps: {describe_ints(recorded)}")
        reference = recorded[-1] if step is None else step
        shown = set(_evenly(recorded, _MAX_STEPS, reference))
        read = self._vectors(ctx, [(r, series) for _, series, records in every for r in records if r.step in shown],
                             problems)
        vectors = {name: [(r.step, read[(series.run, series.tag, r.step)]) for r in records if r.step in shown]
                   for name, series, records in every}
        steps = sorted(shown)
        epochs = {}
        for rows in vectors.values():
            for s, vector in rows:
                if vector.epoch is not None:
                    epochs.setdefault(s, vector.epoch)
        answer_layers = []
        for name, rows in vectors.items():
            by_step = dict(rows)
            anchor = by_step.get(reference)
            if anchor is None:
                problems.append(f"{name}: no record at the reference step {reference}")
            values = [_cka(by_step.get(s), anchor) for s in steps]
            reached, settled = _settling([(s, v) for s, v in zip(steps, values) if s <= reference])
            answer_layers.append({"name": name, "cka": values, "reached": reached, "settled": settled,
                                  "probes": _probes(rows)})
        answer = {"run": run, "method": method, "threshold": THRESHOLD, "reference": reference,
                  "steps": steps, "recorded": len(recorded), "epochs": [epochs.get(s) for s in steps],
                  "layers": answer_layers, "problems": problems}
        if layer is not None:
            rows = vectors[layer]
            answer["matrix"] = {"layer": layer, "steps": [s for s, _ in rows], "cka": _matrix([v for _, v in rows])}
        return answer

    # ---- two runs: one layer at the same epochs --------------------------------------------

    def _between_runs(self, ctx, experiment_id: str, run: str, other: str, method: str, layer: str | None) -> dict:
        if layer is None:
            raise errors.InvalidArgumentError("parameter 'compare' needs 'layer': runs are compared layer by layer")
        mine = self._series(ctx, experiment_id, run, layer, method)
        theirs = self._series(ctx, experiment_id, other, layer, method)
        key = (experiment_id, run, other, method, layer, mine[0].signature, theirs[0].signature)
        answer = self._answers.get(key)
        if answer is not None:
            return answer
        problems: list = []
        read = self._vectors(ctx, [(r, mine[0]) for r in mine[1]] + [(r, theirs[0]) for r in theirs[1]], problems)
        left = [(r.step, read[(run, mine[0].tag, r.step)]) for r in mine[1]]
        right = [(r.step, read[(other, theirs[0].tag, r.step)]) for r in theirs[1]]
        same_probes = _same_probes(left, right)
        if not same_probes:
            problems.append(f"{other!r} recorded {layer} on other probe images than {run!r}: CKA between "
                            "them would compare different images, so none is given")
        pairs = []
        for step, vector in left:
            match = _match(step, vector, right)
            if match is not None:
                other_step, other_vector = match
                pairs.append({"step": step, "other_step": other_step, "epoch": vector.epoch,
                              "cka": _cka(vector, other_vector) if same_probes else None})
        answer = {"run": run, "compare": other, "method": method, "layer": layer, "same_probes": same_probes,
                  "threshold": THRESHOLD, "pairs": pairs, "problems": problems}
        self._answers.put(key, answer)
        return answer

    # ---- reading ---------------------------------------------------------------------------

    def _series(self, ctx, experiment_id: str, run: str, layer: str, method: str) -> tuple:
        """(series, records) of a (run, layer, method) whose records hold Gram matrices."""
        series = self._records.series(ctx, experiment_id, run, layer, method)
        if metadata.GRAM_ROLE not in series.format.roles or series.format.elements != metadata.ARRAY:
            raise errors.InvalidArgumentError(
                f"{method} records hold no Gram matrices (an array role {metadata.GRAM_ROLE!r}): CKA compares "
                "similarity records"
            )
        return series, self._records.series_records(ctx, experiment_id, series)

    def _vectors(self, ctx, wanted: list, problems: list) -> dict:
        """{(run, tag, step): _Vector} of [(record, series)]: each record's Gram matrix as a unit vector
        (cached), or an empty one whose problem is added to `problems`. Uncached ones are read by
        `_READERS` threads: TensorBoard's fast data server answers each read in tens of ms, and
        most of that is waiting (one by one, 400 records took 19 s)."""
        found, missing = {}, []
        for record, series in wanted:
            key = (record.keys[-1] if record.keys else None, record.wall_time, record.step)
            vector = self._vectors_cache.get(key)
            if vector is None:
                missing.append((key, record, series))
            found[(series.run, series.tag, record.step)] = vector
        if missing:
            with concurrent.futures.ThreadPoolExecutor(min(_READERS, len(missing))) as pool:
                read = list(pool.map(lambda item: self._read_or_say(ctx, item[1], item[2]), missing))
            for (key, record, series), vector in zip(missing, read):
                self._vectors_cache.put(key, vector)
                found[(series.run, series.tag, record.step)] = vector
        problems.extend(v.problem for v in found.values() if v.problem)
        return found

    def _read_or_say(self, ctx, record, series) -> "_Vector":
        try:
            return self._read(ctx, record, series)
        except (errors.NotFoundError, ValueError) as error:
            text = message(error) if isinstance(error, errors.PublicError) else str(error)
            return _Vector(None, None, None, None, None, f"{series.layer} at step {record.step}: {text}")

    def _read(self, ctx, record, series) -> "_Vector":
        header = self._records.header(ctx, record, series)
        layout, settings = header.get("layout"), header.get("settings")
        stored = layout.get("gram") if isinstance(layout, dict) else None
        probes = stored.get("probes") if isinstance(stored, dict) else None
        form = stored.get("form") if isinstance(stored, dict) else None
        if not isinstance(probes, int) or isinstance(probes, bool) or not 2 <= probes <= _MAX_PROBES:
            raise ValueError(f"its layout gives no number of probe images in 2..{_MAX_PROBES}")
        if form not in metadata.GRAM_FORMS:
            raise ValueError(f"its Gram matrix is stored as {str(form)[:40]!r}, not one of {list(metadata.GRAM_FORMS)}")
        index = metadata.blob_index(0, metadata.GRAM_ROLE, header["roles"])
        try:
            data = self._provider.read_blob(ctx, blob_key=record.keys[index])
        except Exception as error:  # noqa: BLE001 - the provider's own failure, told as such
            raise ValueError(f"TensorBoard could not read its Gram matrix: {str(error)[:160]}") from None
        if form == "upper":
            upper = decode_array(data, (probes * (probes + 1) // 2,)).astype(np.float64)
        else:
            factor = decode_array(data).astype(np.float64)
            if factor.ndim != 2 or len(factor) != probes or factor.shape[1] > probes:
                raise ValueError(f"its Gram matrix's factor has shape {factor.shape}, not ({probes}, r <= {probes})")
            upper = np.einsum("ik,jk->ij", factor, factor)[np.triu_indices(probes)]  # not BLAS: see _norm
        if not np.all(np.isfinite(upper)):
            raise ValueError("its Gram matrix holds NaN or infinity")
        weighted = upper * _weights(probes)
        norm = _norm(weighted)
        unit = (weighted / norm).astype(np.float32) if norm > 0 else None  # a constant layer: CKA undefined
        # Held as float32, made a unit vector again in float64: a record's CKA with itself is 1.
        scale = 1.0 / _norm(unit.astype(np.float64)) if unit is not None else None
        probe_settings = settings.get("probes") if isinstance(settings, dict) else None
        digest = probe_settings.get("sha256") if isinstance(probe_settings, dict) else None
        epoch = metadata.read_position(header, record.step)["epoch"]
        return _Vector(unit, scale, probes, digest if isinstance(digest, str) else None, epoch, None)


class _Vector:
    """A record's Gram matrix as a unit vector (None: unreadable or zero), with what it is of."""

    __slots__ = ("unit", "scale", "probes", "digest", "epoch", "problem")

    def __init__(self, unit, scale, probes, digest, epoch, problem):
        self.unit, self.scale, self.probes, self.digest = unit, scale, probes, digest
        self.epoch, self.problem = epoch, problem

    def as_float64(self) -> np.ndarray:
        return self.unit.astype(np.float64) * self.scale


_WEIGHTS: dict = {}


def _weights(n: int) -> np.ndarray:
    """Per upper-triangle entry: 1 on the diagonal, √2 off it (each stands for two entries of K)."""
    if n not in _WEIGHTS:
        rows, cols = np.triu_indices(n)
        _WEIGHTS[n] = np.where(rows == cols, 1.0, math.sqrt(2.0))
    return _WEIGHTS[n]


def _same_images(a: _Vector, b: _Vector) -> bool:
    """Whether two records are of the same probe images: the same count and, where both say it,
    the same fingerprint."""
    return a.probes == b.probes and (a.digest is None or b.digest is None or a.digest == b.digest)


def _cka(a: _Vector | None, b: _Vector | None) -> float | None:
    if a is None or b is None or a.unit is None or b.unit is None or not _same_images(a, b):
        return None
    # ⟨K_a, K_b⟩ >= 0 for Gram matrices and <= 1 for unit vectors: only rounding leaves [0, 1].
    return float(np.clip(np.sum(a.as_float64() * b.as_float64()), 0.0, 1.0))


def _norm(values: np.ndarray) -> float:
    # Not np.linalg.norm or np.dot: a BLAS call per vector took 7 ms here (OpenBLAS waking its
    # threads on 2 busy cores), 600x the plain sum; 400 records made a first answer take 10 s.
    return float(np.sqrt(np.sum(values * values)))


def _matrix(vectors: list) -> list:
    """CKA of every pair, as nested lists (None where a record is unreadable or not comparable):
    one matrix product per probe count."""
    cells = [[None] * len(vectors) for _ in vectors]
    groups: dict = {}
    for index, vector in enumerate(vectors):
        if vector.unit is not None:
            groups.setdefault(vector.probes, []).append(index)
    for members in groups.values():
        stacked = np.stack([vectors[i].as_float64() for i in members])
        products = np.clip(stacked @ stacked.T, 0.0, 1.0)
        for a, i in enumerate(members):
            for b, j in enumerate(members):
                if _same_images(vectors[i], vectors[j]):
                    cells[i][j] = float(products[a, b])
    return cells


def _evenly(steps: list, limit: int, keep: int) -> list:
    """`steps` when there are at most `limit`; else `limit` evenly spaced ones, `keep` among them."""
    if len(steps) <= limit:
        return steps
    picked = [steps[i] for i in np.linspace(0, len(steps) - 1, limit).round().astype(int)]
    if keep not in picked:  # in place of the nearest inner one: the first and the last stay
        picked[min(range(1, limit - 1), key=lambda i: abs(picked[i] - keep))] = keep
    return sorted(picked)


def _settling(values: list) -> tuple:
    """(the first step with CKA >= THRESHOLD, the first from which it stays there), or None."""
    reached = next((s for s, v in values if v is not None and v >= THRESHOLD), None)
    settled = None
    for s, v in reversed(values):
        if v is None or v < THRESHOLD:
            break
        settled = s
    return reached, settled


def _probes(rows: list) -> int | None:
    return next((v.probes for _, v in reversed(rows) if v.probes is not None), None)


def _same_probes(left: list, right: list) -> bool:
    """Every readable record of one run is of the same probe images as every one of the other."""
    mine = {(v.probes, v.digest): v for _, v in left if v.probes is not None}.values()
    theirs = {(v.probes, v.digest): v for _, v in right if v.probes is not None}.values()
    return bool(mine and theirs) and all(_same_images(a, b) for a in mine for b in theirs)


def _match(step: int, vector: _Vector, others: list):
    """The other run's (step, vector) at the same epoch as this record, else at the same step when
    either says no epoch; None when it has no record there."""
    for other_step, other in others:
        if vector.epoch is not None and other.epoch is not None:
            if abs(vector.epoch - other.epoch) < _SAME_EPOCH:
                return other_step, other
        elif other_step == step:
            return other_step, other
    return None
