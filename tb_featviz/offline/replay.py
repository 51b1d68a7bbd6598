"""Records from checkpoints a finished training saved: any old run gets its evolution.

Keras's `ModelCheckpoint` names each file by a pattern (`ckpt-{epoch:02d}.weights.h5`); the
epoch comes from the name, the global step from `steps_per_epoch` (or is given per file). Each
checkpoint's weights are loaded into the model and drawn by the same prepared runners the
callback uses, at that step.
"""

from __future__ import annotations

import re
import time
import zipfile
from typing import Iterator, Optional

from tb_featviz import metadata
from tb_featviz.errors import ConfigurationError
from tb_featviz.event_writer import EventFileWriter
from tb_featviz.prepare import prepare
from tb_featviz.settings import Settings

_NUMBER = re.compile(r"\d+")


def checkpoint_epoch(name: str, pattern: Optional[str] = None) -> Optional[int]:
    """The epoch in a checkpoint's file name: by `pattern` (ModelCheckpoint's filepath, e.g.
    'ckpt-{epoch:02d}.weights.h5'; other fields such as {val_loss:.2f} match any number), else
    the first number in the name; None when there is none."""
    if pattern is None:
        found = _NUMBER.search(name)
        return int(found.group()) if found else None
    parts = re.split(r"(\{[^{}]*\})", pattern)
    regex = "".join(
        (r"(?P<epoch>\d+)" if part.startswith("{epoch") else r"[-+0-9.eE]+?") if part.startswith("{") else re.escape(part)
        for part in parts
    )
    found = re.fullmatch(regex, name)
    return int(found.group("epoch")) if found and "epoch" in found.groupdict() else None


def replay(model, checkpoints: list, log_dir: str, *, layers, methods=None, probe_images=None, probe_labels=None,
           input_range=None, class_names=None, options=None, steps=None,
           steps_per_epoch: Optional[int] = None) -> Iterator[str]:
    """Draws each (path, epoch) of `checkpoints` into `log_dir`, oldest first; yields a line each.

    Global step: `steps[i]` when given, else epoch x `steps_per_epoch`, else the epoch itself (the
    dashboard then places records by epoch). Weights that do not fit the model are a
    ConfigurationError naming the file."""
    if not layers:
        raise ConfigurationError("give the layers to draw (--layers)")
    settings = Settings.checked(probe_images=probe_images, probe_labels=probe_labels, input_range=input_range,
                                class_names=class_names, options=options)
    prepared = prepare(model, list(layers), settings, methods, recorded=True)
    order = sorted(range(len(checkpoints)),
                   key=lambda i: (steps[i] if steps is not None else checkpoints[i][1], checkpoints[i][0]))
    writer = EventFileWriter(log_dir)
    failures = []
    try:
        for index in order:
            path, epoch = checkpoints[index]
            began = time.perf_counter()
            _load(model, path)
            step = steps[index] if steps is not None else epoch * (steps_per_epoch or 1)
            position = metadata.make_position(
                step, epoch=None if epoch is None else float(epoch), epochs_completed=epoch,
                batch=0 if epoch is not None else None, steps_per_epoch=steps_per_epoch,
                moment="start" if epoch == 0 else "epoch_end")
            written = 0
            for _, _, record, _ in prepared.records(lambda *failure: failures.append(failure), step=step):
                if record is not None:
                    writer.write(record.at(position).event(step))
                    written += 1
            where = f"epoch {epoch}, step {step}" if epoch is not None else f"step {step}"
            yield f"{path}: {written} records at {where} in {time.perf_counter() - began:.1f} s"
    finally:
        writer.close()
    for layer, method, error in failures[:5]:
        yield f"note: {method} of {layer} failed and was skipped: {type(error).__name__}: {str(error)[:200]}"


def _load(model, path: str) -> None:
    try:
        model.load_weights(path)
    except Exception as error:  # noqa: BLE001 - Keras raises many kinds for weights that do not fit
        # Keras's reason often follows a header line ("A total of 3 objects could not be loaded.
        # Example error message for object <Conv2D ...>:"): the whole text, on one line.
        text = " ".join(str(error).split()) or type(error).__name__
        if isinstance(error, (OSError, zipfile.BadZipFile)) or "not a zip file" in text:
            raise ConfigurationError(f"{path} cannot be read as a Keras checkpoint (damaged or not one): "
                                     f"{text[:300]}") from None
        raise ConfigurationError(f"the weights in {path} do not fit the model: {text[:600]}") from None
