"""Import TensorFlow without its C++ start-up chatter on stderr (for the CLI and the demo).

TensorFlow 2.21 logs oneDNN/CUDA notices (at import and device discovery) before its log
level applies, so TF_CPP_MIN_LOG_LEVEL
cannot hide them; stderr's file descriptor is pointed at /dev/null for the import only. Python
errors raised by the import still reach the user.
"""

from __future__ import annotations

import os
import sys


def import_tensorflow_quietly() -> None:
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # device discovery logs its CUDA notices here, too
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
