"""`tb-featviz follow` and `tb-featviz replay`: records drawn off the training path.

    tb-featviz follow LOG_DIR [--preset quality] [--layers conv1,conv2] [--forever]
    tb-featviz replay CKPT... --model MODEL.keras --logdir DIR --layers conv1,conv2
                      [--probe-images ...] [--labels ...] [--steps-per-epoch N | --global-steps S,S,...]
"""

from __future__ import annotations

import argparse
import os

from tb_featviz import gfile
from tb_featviz.cli import inputs
from tb_featviz.cli.errors import UserError
from tb_featviz.metadata import MAX_STEP


def add_commands(commands, method_flags: dict) -> None:
    follow = commands.add_parser("follow", help="draw the snapshots FeatVizCallback(render='sidecar') writes, "
                                 "as they arrive, until the run's end is drawn")
    follow.add_argument("log_dir", help="the run's log directory (local, or any file system TensorFlow reads)")
    follow.add_argument("--layers", help="only these of the run's layers, comma-separated")
    follow.add_argument("--forever", action="store_true", help="keep following (new fits in the log) until Ctrl+C")
    for flag in method_flags.values():  # a method's flags change its options (e.g. --preset quality)
        flag.add_to(follow, default=argparse.SUPPRESS)
    follow.set_defaults(run=_follow)

    replay = commands.add_parser("replay", help="records from checkpoints a finished training saved "
                                 "(ModelCheckpoint's .keras / .weights.h5 files)")
    replay.add_argument("checkpoints", nargs="+", help="checkpoint files, in any order")
    replay.add_argument("--model", required=True, help="the model (.keras or .h5) the checkpoints are weights of")
    replay.add_argument("--logdir", required=True, help="where to write the records")
    replay.add_argument("--layers", required=True, help="layers to draw, comma-separated")
    replay.add_argument("--methods", help="methods, comma-separated (default: every one that applies)")
    replay.add_argument("--probe-images", help="a .npy array or a folder of images (deconv, occlusion, ...)")
    replay.add_argument("--labels", help="a .npy array of the probe images' true classes")
    replay.add_argument("--input-range", help="LOW,HIGH the model expects (default: inferred from .npy probes)")
    replay.add_argument("--class-names", help="names of the model's output units, comma-separated (or @FILE)")
    replay.add_argument("--name-pattern", default=None, help="how the file names hold the epoch, as "
                        "ModelCheckpoint's filepath: e.g. 'ckpt-{epoch:02d}.weights.h5' (default: the first "
                        "number in the name is the epoch)")
    replay.add_argument("--steps-per-epoch", type=int, help="batches per epoch: records at global step = epoch x N "
                        "(default: at step = epoch)")
    replay.add_argument("--global-steps", help="the global step of each checkpoint, comma-separated, in the order "
                        "given (instead of epoch x --steps-per-epoch)")
    for flag in method_flags.values():
        flag.add_to(replay, default=argparse.SUPPRESS)
    replay.set_defaults(run=_replay)


def _method_options(args, method_flags: dict, probe_count: int) -> dict:
    """{method: options} for each method whose flags were given (the others keep theirs)."""
    from tb_featviz import methods

    chosen = {}
    for method in methods.REGISTRY.values():
        given = {flag.dest for flag in method.cli_flags if hasattr(args, flag.dest)}
        if given:
            values = {flag.dest: getattr(args, flag.dest, flag.default) for flag in method.cli_flags}
            chosen[method.name] = method.options_from_cli(values, probe_count)
    return chosen


def _names(text):
    return [name.strip() for name in text.split(",") if name.strip()] if text else None


def _follow(args) -> int:
    from tb_featviz.cli import _method_flags
    from tb_featviz.errors import ConfigurationError
    from tb_featviz.offline.follower import follow

    if "://" not in args.log_dir and not os.path.isdir(args.log_dir):
        raise UserError(f"no such log directory: {args.log_dir}")
    try:
        options = _method_options(args, _method_flags(), 0)
        follow(args.log_dir, options=options, layers=_names(args.layers), forever=args.forever,
               say=lambda text: print(text, flush=True))
    except ConfigurationError as error:
        raise UserError(str(error)) from None
    return 0


def _replay(args) -> int:
    from tb_featviz.cli import _in_flags, _method_flags
    from tb_featviz.errors import ConfigurationError
    from tb_featviz.offline.replay import checkpoint_epoch, replay

    model = inputs.load_model(args.model)
    for path in args.checkpoints:
        inputs.regular_file(path, "checkpoint")
        if not path.endswith((".keras", ".weights.h5", ".h5")):
            raise UserError(f"checkpoint {path}: ModelCheckpoint writes .keras or .weights.h5 files")
    if len({os.path.realpath(path) for path in args.checkpoints}) != len(args.checkpoints):
        raise UserError("a checkpoint is given twice: give each once")
    try:
        gfile.check_log_dir(args.logdir)
    except ConfigurationError as error:
        raise UserError(f"--logdir: {error}") from None
    steps = _steps(args)
    epochs = [checkpoint_epoch(os.path.basename(path), args.name_pattern) for path in args.checkpoints]
    if steps is None and any(epoch is None for epoch in epochs):
        missing = next(path for path, epoch in zip(args.checkpoints, epochs) if epoch is None)
        raise UserError(f"no epoch in the name of {missing}: give --name-pattern or --global-steps")
    if steps is None and len(set(epochs)) != len(epochs):
        raise UserError(f"two checkpoints name the same epoch ({sorted(epochs)}): their records would be at one step")
    input_range = inputs.parse_range(args.input_range) if args.input_range else None
    probes = inputs.load_probes(args.probe_images, model, input_range)[0] if args.probe_images else None
    labels = inputs.load_labels(args.labels)[0] if args.labels else None
    try:
        options = _method_options(args, _method_flags(), len(probes) if probes is not None else 0)
        for line in replay(model, list(zip(args.checkpoints, epochs)), args.logdir, layers=_names(args.layers),
                           methods=_names(args.methods), probe_images=probes, probe_labels=labels,
                           input_range=input_range, class_names=inputs.parse_class_names(args.class_names),
                           options=options, steps=steps, steps_per_epoch=args.steps_per_epoch):
            print(line, flush=True)
    except ConfigurationError as error:
        raise UserError(_in_flags(str(error))) from None
    return 0


def _steps(args):
    if args.steps_per_epoch is not None and args.steps_per_epoch < 1:
        raise UserError(f"--steps-per-epoch {args.steps_per_epoch}: give the batches per epoch, 1 or more")
    if args.global_steps is None:
        return None
    if args.steps_per_epoch is not None:
        raise UserError("give --global-steps or --steps-per-epoch, not both")
    try:
        steps = [int(s) for s in args.global_steps.split(",")]
    except ValueError:
        raise UserError(f"--global-steps {args.global_steps!r}: give one whole number per checkpoint, e.g. 0,469,938") from None
    if len(steps) != len(args.checkpoints) or any(not 0 <= s <= MAX_STEP for s in steps):
        raise UserError(f"--global-steps gives {len(steps)} steps for {len(args.checkpoints)} checkpoints "
                        f"(each in 0..{MAX_STEP})")
    if any(later <= earlier for earlier, later in zip(steps, steps[1:])):
        raise UserError(f"--global-steps {args.global_steps}: the checkpoints' steps in the order given, each "
                        "later than the one before")
    return steps
