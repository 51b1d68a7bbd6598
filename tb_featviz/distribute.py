"""Which process writes under tf.distribute: the chief only, like Keras's own TensorBoard callback.

Under JAX and PyTorch the writer is process 0 (`jax.process_index()`, `torch.distributed`'s
rank), as Keras's distribution API counts processes.

Visualizations read the model's variables locally and run no collective ops, so workers that are
not the chief can skip them without any worker waiting for another at epoch end.
"""

from __future__ import annotations

import sys

import keras


def is_chief(model=None) -> bool:
    """True in a single process, under MirroredStrategy, on a multi-worker cluster's chief
    (task "chief", or worker 0 when the cluster has no chief) and on a parameter-server
    coordinator (where `fit` and its callbacks run)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.process_index() == 0
    if backend == "torch":
        distributed = sys.modules.get("torch.distributed")
        ready = distributed is not None and distributed.is_available() and distributed.is_initialized()
        return not ready or distributed.get_rank() == 0
    import tensorflow as tf

    strategy = getattr(model, "distribute_strategy", None) or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return True
    task_type = getattr(resolver, "task_type", None)
    if not task_type:
        return True
    try:
        cluster = resolver.cluster_spec().as_dict()
    except Exception:  # an unusual resolver: behave as Keras does for a single worker
        return True
    if "chief" in cluster:
        return task_type == "chief"
    if task_type == "worker":
        return int(getattr(resolver, "task_id", 0) or 0) == 0
    return task_type not in ("ps", "evaluator")
