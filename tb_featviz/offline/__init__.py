"""Rendering off the training path: training writes weight snapshots, someone else draws them.

`FeatVizCallback(render="process" | "sidecar")` writes, once per fit, a *job* (what to render:
the model's architecture, layers, methods, settings, probe images) and then, at each scheduled
step, only a *snapshot* of the weights (`snapshots.py`) under `log_dir/.featviz/`. A renderer
(`renderer.py`) rebuilds the model once per job and turns each snapshot into the same records,
at the same step and position, as the callback would have written inline. It runs in a child
process at the lowest CPU priority (`process.py`), in `tb-featviz follow` on any machine that
sees the log (`follower.py`), or over checkpoints a finished run saved (`replay.py`).
"""
