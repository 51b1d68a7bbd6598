"""A job: everything a renderer needs to draw a fit's snapshots as the callback would, written
once per fit as plain files (JSON and .npy, never pickles: a follower may read a log it does not
trust) under `log_dir/.featviz/jobs/<id>/`.

What cannot be written down is refused before the first epoch with a message naming
`render="inline"`: a `preprocess` function, a custom AM objective, a layer class defined in the
script being run (`__main__`), a model Keras cannot rebuild from its config.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import os
import secrets
import time
from typing import Optional

import numpy as np

from tb_featviz import __version__, gfile, methods
from tb_featviz.errors import ConfigurationError
from tb_featviz.settings import Settings

FEATVIZ_DIR = ".featviz"
JOB_VERSION = 1
_INLINE = 'use render="inline" (the default), or'


def jobs_dir(log_dir: str) -> str:
    return _join(log_dir, FEATVIZ_DIR, "jobs")


@dataclasses.dataclass
class Job:
    """What to render, as read back from its files (`write_job`, `read_job`)."""

    id: str
    log_dir: str
    config: dict  # job.json
    model_json: str

    @property
    def directory(self) -> str:
        return _join(jobs_dir(self.log_dir), self.id)

    def build_model(self):
        """The model, rebuilt from its architecture (weights come from each snapshot)."""
        import keras

        for name, module in self.config.get("custom_methods", {}).items():
            if name not in methods.REGISTRY:
                importlib.import_module(module)  # a method of one's own registers itself on import
        return keras.models.model_from_json(self.model_json)

    def settings(self, overrides: Optional[dict] = None) -> Settings:
        """The fit's settings (`overrides`: {method: options} a follower changes, e.g. a preset)."""
        config = self.config
        probes = self._array("probes") if config.get("probes") else None
        labels = self._array("labels") if config.get("labels") else None
        options = {name: methods.get(name).options_from_config(value) for name, value in config["options"].items()}
        options.update(overrides or {})
        settings = Settings.checked(
            probe_images=probes, probe_labels=labels,
            input_range=config.get("input_range"), image_size=config.get("image_size"),
            class_names=config.get("class_names"), options=options,
        )
        return dataclasses.replace(settings, label_width=config.get("label_width"))

    def layers(self) -> dict:
        return {name: _channels_from_json(spec) for name, spec in self.config["layers"].items()}

    def methods(self):
        return self.config.get("methods")

    def ended(self) -> Optional[dict]:
        """The fit's last step and position once it has ended (`mark_ended`), else None."""
        files = gfile.for_path(self.directory)
        path = _join(self.directory, "ended.json")
        if not files.exists(path):
            return None
        with files.GFile(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))

    def mark_ended(self, step: int, dropped=()) -> None:
        """The fit's end (a follower exits once it is drawn), with the steps a full backlog
        dropped (never drawn: said here for whoever reads the log later)."""
        ended = {"step": int(step), "time": time.time(), "dropped_steps": [int(s) for s in dropped]}
        gfile.write_atomically(_join(self.directory, "ended.json"), json.dumps(ended).encode())

    def _array(self, name: str) -> np.ndarray:
        path = _join(self.directory, self.config[name])
        with gfile.for_path(path).GFile(path, "rb") as f:
            return np.load(io.BytesIO(f.read()), allow_pickle=False)


def write_job(log_dir: str, model, layers: dict, method_names, max_channels: int, settings: Settings) -> Job:
    """Writes the job of a fit and returns it; ConfigurationError for what a renderer could not
    rebuild (checked by rebuilding the model here, once)."""
    config = {
        "version": JOB_VERSION, "tb_featviz": __version__, "backend": _backend(),
        "layers": {name: _channels_to_json(spec, name) for name, spec in layers.items()},
        "methods": list(method_names) if method_names is not None else None,
        "max_channels": int(max_channels),
        "input_range": list(settings.input_range) if settings.input_range is not None else None,
        "image_size": list(settings.image_size) if settings.image_size is not None else None,
        "class_names": list(settings.class_names) if settings.class_names is not None else None,
        "label_width": settings.label_width,
        "options": _options_config(settings),
        "custom_methods": _custom_methods(method_names),
        "weights": [{"path": getattr(v, "path", v.name), "shape": list(v.shape)} for v in model.weights],
        "probes": "probes.npy" if settings.probe_images is not None else None,
        "labels": "labels.npy" if settings.probe_labels is not None else None,
    }
    if settings.preprocess is not None:
        raise ConfigurationError(f"preprocess is a Python function, which a render process cannot rebuild: {_INLINE} "
                                 "put the preprocessing into the model")
    model_json = _model_json(model)
    job = Job(f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}", log_dir, config, model_json)
    files = gfile.for_path(job.directory)
    files.makedirs(job.directory)
    if settings.probe_images is not None:
        gfile.write_atomically(_join(job.directory, "probes.npy"), _npy(settings.probe_images))
    if settings.probe_labels is not None:
        gfile.write_atomically(_join(job.directory, "labels.npy"), _npy(settings.probe_labels))
    gfile.write_atomically(_join(job.directory, "model.json"), model_json.encode("utf-8"))
    gfile.write_atomically(_join(job.directory, "job.json"), json.dumps(config, indent=1).encode("utf-8"))  # last: complete
    return job


def read_job(log_dir: str, job_id: str) -> Job:
    """A job as written by `write_job`; ValueError for one that is incomplete or not a job."""
    directory = _join(jobs_dir(log_dir), job_id)
    files = gfile.for_path(directory)
    with files.GFile(_join(directory, "job.json"), "rb") as f:
        config = json.loads(f.read().decode("utf-8"))
    if not isinstance(config, dict) or config.get("version") != JOB_VERSION:
        raise ValueError(f"{directory}/job.json is not a tb-featviz job of version {JOB_VERSION}")
    with files.GFile(_join(directory, "model.json"), "rb") as f:
        model_json = f.read().decode("utf-8")
    return Job(job_id, log_dir, config, model_json)


def list_jobs(log_dir: str) -> list:
    """Ids of the complete jobs in a log directory, oldest first."""
    root = jobs_dir(log_dir)
    files = gfile.for_path(root)
    if not files.exists(root):
        return []
    return sorted(name.rstrip("/") for name in files.listdir(root)
                  if files.exists(_join(root, name.rstrip("/"), "job.json")))


def _model_json(model) -> str:
    """The architecture as Keras writes it, checked to rebuild into the same weights."""
    import keras

    main_classes = sorted({type(layer).__name__ for layer in [model, *_all_layers(model)]
                           if type(layer).__module__ == "__main__"})
    if main_classes:
        raise ConfigurationError(
            f"{', '.join(main_classes)} {'is' if len(main_classes) == 1 else 'are'} defined in the script being run "
            f"(__main__), which a render process cannot import: {_INLINE} move the class into a module "
            "(registered with keras.saving.register_keras_serializable)")
    try:
        text = model.to_json()
        rebuilt = keras.models.model_from_json(text)
    except Exception as error:  # noqa: BLE001 - Keras raises many kinds for what it cannot rebuild
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigurationError(f"the model cannot be rebuilt from its config for a render process ({first[:300]}): "
                                 f"{_INLINE} give the model get_config/from_config as Keras needs to load it") from None
    ours = [tuple(v.shape) for v in model.weights]
    theirs = [tuple(v.shape) for v in rebuilt.weights]
    if ours != theirs:
        raise ConfigurationError(f"the model rebuilt from its config has other weights ({len(theirs)} vs {len(ours)}): "
                                 f"{_INLINE} build the model with keras.Input so its config holds its input shape")
    return text


def _all_layers(model) -> list:
    found, stack = [], list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        found.append(layer)
        stack.extend(getattr(layer, "layers", []))
    return found


def _options_config(settings: Settings) -> dict:
    config = {}
    for name, options in settings.options.items():
        try:
            config[name] = methods.get(name).options_to_config(options)
        except ConfigurationError as error:
            raise ConfigurationError(f"{error}: {_INLINE} use options a render process can rebuild") from None
    return config


def _custom_methods(method_names) -> dict:
    """{name: module} of methods not built in, imported by the renderer (which registers them)."""
    from tb_featviz import metadata

    custom = {}
    for name, method in methods.REGISTRY.items():
        if name in metadata.METHODS or (method_names is not None and name not in method_names):
            continue
        module = type(method).__module__
        if module == "__main__":
            raise ConfigurationError(f"method {name!r} is defined in the script being run (__main__), which a render "
                                     f"process cannot import: {_INLINE} move it into a module that registers it")
        custom[name] = module
    return custom


def _channels_to_json(spec, layer: str):
    if isinstance(spec, tuple) and len(spec) == 2 and spec[0] == "first":
        return {"first": int(spec[1])}
    if isinstance(spec, range):
        return {"range": [spec.start, spec.stop, spec.step]}
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, (int, np.integer)):
        return int(spec)
    try:
        return [int(c) for c in spec]
    except (TypeError, ValueError):
        raise ConfigurationError(f"channels of layer {layer!r} cannot be written down for a render process") from None


def _channels_from_json(spec):
    if isinstance(spec, dict) and "first" in spec:
        return ("first", int(spec["first"]))
    if isinstance(spec, dict) and "range" in spec:
        return range(*spec["range"])
    return spec


def _backend() -> str:
    import keras

    return keras.backend.backend()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def _join(*parts: str) -> str:
    """Paths on any file system gfile reaches (gs://... keeps its slashes)."""
    return "/".join(p.rstrip("/") for p in parts[:-1]) + "/" + parts[-1] if "://" in parts[0] else os.path.join(*parts)
