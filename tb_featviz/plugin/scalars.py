"""Keras's own training curves beside a featviz run, on the run's epoch axis (`/scalars`)."""

from __future__ import annotations

import math
import numbers

from tensorboard.data import provider

from tb_featviz.plugin.provider_calls import ALL_STEPS, all_or_each, guarded

_SCALARS_PLUGIN = "scalars"


class KerasScalars:
    """Reads `keras.callbacks.TensorBoard`'s epoch curves through the data provider."""

    def __init__(self, data_provider: provider.DataProvider):
        self._provider = data_provider

    def scalars(self, ctx, experiment_id: str, run: str) -> dict:
        """Keras's epoch scalars (loss, accuracy, ...) written beside this run, on its epoch axis.

        `keras.callbacks.TensorBoard(log_dir=D)` writes `D/train` and `D/validation` with
        `epoch_<metric>` at step = epoch index (0 = the first epoch, logged when it ends). On
        featviz's epoch axis (epochs completed, with their fraction: the run's `axis`) that
        moment is epoch = Keras step + 1, and each point carries both.
        """
        places = _keras_places(run)
        candidates = [name for place in places for name in place]
        listing = guarded(
            "list the scalars",
            lambda: self._provider.list_scalars(
                ctx,
                experiment_id=experiment_id,
                plugin_name=_SCALARS_PLUGIN,
                run_tag_filter=provider.RunTagFilter(runs=candidates),
            ),
        )
        # Only the nearest place that has curves: `<run>/train` before a sibling `train`, so a
        # run never shows another run's curves beside its own.
        curves = {name: [t for t in listing.get(name, {}) if t.startswith("epoch_")] for name in candidates}
        nearest = next(([n for n in place if curves[n]] for place in places if any(curves[n] for n in place)), [])
        wanted = {(name, tag) for name in nearest for tag in curves[name]}
        series, problems = [], []
        data = self._read_scalars(ctx, experiment_id, wanted, problems)
        for name, tag in sorted(wanted, key=lambda pair: (candidates.index(pair[0]), pair[1])):
            if (name, tag) not in data:
                continue
            try:
                points = [
                    {"epoch": d.step + 1, "keras_step": d.step, "value": _finite_or_none(d.value)}
                    for d in data[(name, tag)]
                ]
            except ValueError as error:  # one curve of junk (a string tensor) loses only itself
                problems.append(f"{name}: {tag}: {error}")
                continue
            series.append(
                {"run": name, "split": name.rsplit("/", 1)[-1], "tag": tag,
                 "metric": tag[len("epoch_"):], "points": points}
            )
        return {"run": run, "searched": candidates, "series": series, "problems": problems,
                "alignment": "epoch = Keras's epoch index + 1 (epochs completed, featviz's epoch axis)"}

    def _read_scalars(self, ctx, experiment_id: str, wanted: set, problems: list) -> dict:
        """{(run, tag): points}; one unreadable curve (a malformed point) loses only itself."""
        if not wanted:
            return {}

        def read(pairs):
            data = guarded(
                "read the scalars",
                lambda: self._provider.read_scalars(
                    ctx,
                    experiment_id=experiment_id,
                    plugin_name=_SCALARS_PLUGIN,
                    downsample=ALL_STEPS,
                    run_tag_filter=provider.RunTagFilter(
                        runs={name for name, _ in pairs}, tags={tag for _, tag in pairs}
                    ),
                ),
            )
            return {(n, t): data[n][t] for n, t in pairs if t in data.get(n, {})}

        return all_or_each(read, sorted(wanted), problems, lambda pair: f"{pair[0]}: {pair[1]}")


def _keras_places(run: str) -> list:
    """Where Keras's TensorBoard callback puts a run's curves, nearest first: `<run>/train` and
    `<run>/validation`, then beside the run (featviz wrote into a subdirectory of Keras's
    log_dir). Each place is its [train, validation] run names."""
    parents = [run] if run == "." else [run] + ([run.rsplit("/", 1)[0]] if "/" in run else ["."])
    places = []
    for parent in parents:
        names = [split if parent == "." else f"{parent}/{split}" for split in ("train", "validation")]
        names = [name for name in names if name != run]
        if names:
            places.append(names)
    return places


def _finite_or_none(value) -> float | None:
    """A curve's value: NaN and infinities as None; a value that is no number (the Python loader
    hands out a string tensor's bytes, which float() would even parse) raises ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"holds {type(value).__name__} values, not numbers")
    value = float(value)
    return value if math.isfinite(value) else None
