"""Rows through one traced step, in batches of the same shape: every image, noisy copy or path
point of a call goes through the model in as few calls as the batch size allows, and the last
batch is padded, so the step is traced once (JAX and TensorFlow trace per shape)."""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import numpy as np

from tb_featviz import backend


def batch_rows(count: int, batch_size: int) -> int:
    """Rows per call: at most `batch_size`, balanced so the last call is not mostly padding
    (8 rows at batch 7 go as 4 + 4, not 7 + 1 padded to 7)."""
    calls = math.ceil(count / max(1, min(batch_size, count)))
    return math.ceil(count / calls)


def in_batches(step: Callable, whole: Sequence[np.ndarray], rows: Sequence[np.ndarray], batch_size: int,
               progress: Optional[Callable] = None, dtype=np.float64) -> list:
    """`step(*whole, *batch_rows)` over `rows` (arrays whose first axis is the row), `whole`
    passed as they are to every call; the outputs (first axis: the row), concatenated, as
    NumPy arrays of `dtype`."""
    count = len(rows[0])
    size = batch_rows(count, batch_size)
    whole = [backend.tensor(array) for array in whole]
    parts, total = [], math.ceil(count / size)
    for call, start in enumerate(range(0, count, size)):
        index = np.arange(start, start + size)
        kept = int(np.sum(index < count))
        index = np.minimum(index, count - 1)  # padding repeats the last row, then is dropped
        outputs = step(*whole, *[backend.tensor(array[index]) for array in rows])
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        parts.append([backend.numpy(value).astype(dtype)[:kept] for value in outputs])
        if progress is not None:
            progress(call + 1, total)
    return [np.concatenate(values) for values in zip(*parts)]
