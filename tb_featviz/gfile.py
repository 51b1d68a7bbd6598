"""The file system behind a log directory: TensorFlow's `tf.io.gfile` where TensorFlow is what
Keras runs on or a path names a remote file system (gs://, ram://, ...), else TensorBoard's own
pure-Python gfile, so JAX and PyTorch users write and read local logs without TensorFlow."""

from __future__ import annotations

import importlib.util
import os
import sys


def for_path(path: str):
    """The gfile module to open `path` with (`GFile`, `exists`, `makedirs`, `glob`)."""
    import keras

    remote = "://" in str(path)
    if (remote or keras.backend.backend() == "tensorflow") and _tensorflow_installed():
        import tensorflow as tf

        return tf.io.gfile
    from tensorboard.compat.tensorflow_stub.io import gfile

    return gfile


def check_reachable(path: str) -> None:
    """A remote log directory needs TensorFlow's file systems: without TensorFlow (JAX, PyTorch
    users) say so before training, not by losing every record."""
    from tb_featviz.errors import ConfigurationError

    if "://" in str(path) and not _tensorflow_installed():
        scheme = str(path).split("://", 1)[0]
        raise ConfigurationError(
            f"log_dir {path!r} is on a {scheme}:// file system, which tb-featviz reaches through TensorFlow's "
            "file systems; TensorFlow is not installed (pip install tensorflow-cpu), or use a local log_dir")


def check_log_dir(path: str) -> None:
    """Refuse, when it is given, a log directory that can never hold event files (a file, a
    path under a file, a scheme no file system answers to), without creating anything: Keras
    makes log directories when training begins. What only writing can tell (a read-only place,
    a bucket out of reach) is found when the writer is opened, in `on_train_begin`."""
    from tb_featviz.errors import ConfigurationError

    check_reachable(path)
    if "://" in path:
        scheme = path.split("://", 1)[0]
        if not _tensorflow_installed():
            return
        import tensorflow as tf

        known = [s for s in tf.io.gfile.get_registered_schemes() if s]
        if scheme not in known:
            raise ConfigurationError(f"log_dir {path!r}: no file system for '{scheme}://' (known: "
                                     f"{', '.join(s + '://' for s in sorted(known))}, or a local folder; a "
                                     "package such as tensorflow-io adds others once imported)")
        return
    folder = os.path.abspath(path)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ConfigurationError(f"log_dir {path!r} is a file, not a folder; give a folder for the event files")
    parent = os.path.dirname(folder)
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise ConfigurationError(f"log_dir {path!r}: {parent!r} is a file, so no folder can be made in it")


def _tensorflow_installed() -> bool:
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"] is not None  # None: imports of it are blocked
    return importlib.util.find_spec("tensorflow") is not None
