"""`tb-featviz`: feature visualizations of a saved Keras model, without training anything.

    tb-featviz layers MODEL.keras
    tb-featviz render MODEL.keras --layer conv2 [--channels 0-31] [--method NAME]
                      [--probe-images DIR_OR_NPY] [--labels y.npy] (--out grid.png | --logdir DIR)
    tb-featviz follow LOG_DIR [--preset quality] [--layers conv1,conv2] [--forever]
    tb-featviz replay CKPT... --model MODEL.keras --logdir DIR --layers conv1,conv2

`--out` writes one labelled PNG grid (channel index and activation, or filter norm, under each
tile; for occlusion one tile per probe image); `--logdir` writes the records FeatVizCallback
writes, at step 0, for the TensorBoard dashboard. Each method adds the flags it reads
(`Method.cli_flags`); a flag of another method is refused. Every user error ends with one line
on stderr and exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import warnings
from typing import Optional, Sequence

from tb_featviz.cli import inputs, offline, output
from tb_featviz.cli.errors import UserError, one_line

# The engine's messages name its Python arguments; on the command line they are flags (each
# method's flags add their own words).
_GENERAL_WORDS = (("probe_images", "--probe-images"), ("probe_labels", "--labels"), ("class_names", "--class-names"),
                  ("input_range", "--input-range"))


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line too, pointing at --help instead of a usage dump."""

    def error(self, message: str):
        self.exit(2, f"tb-featviz: error: {message} (see: {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    argv = _joined_negative_values(sys.argv[1:] if argv is None else list(argv))
    try:
        from tb_featviz.quiet_import import import_tensorflow_quietly

        import_tensorflow_quietly()  # the methods' flags come from the registry, which imports Keras
        args = _parser().parse_args(argv)
        if args.command is None:
            print("tb-featviz: error: give a command: layers, render, follow or replay (see: tb-featviz --help)",
                  file=sys.stderr)
            return 2
        if sys.stdout is None:  # started with it closed (`>&-`): print() would drop every line silently
            print("tb-featviz: error: standard output is closed: nothing could be shown", file=sys.stderr)
            return 2
        with warnings.catch_warnings(), _numpy_quiet():  # numpy's and Keras's warnings are not for users
            warnings.simplefilter("ignore")
            return args.run(args)
    except UserError as error:
        print(f"tb-featviz: error: {one_line(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tb-featviz: interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # standard output closed or full: the result could not be said
        print(f"tb-featviz: error: cannot write to standard output: {error.strerror or error}", file=sys.stderr)
        return 2


def _numpy_quiet():
    import numpy as np

    return np.errstate(all="ignore")


def _joined_negative_values(argv: list) -> list:
    """`--input-range -1,1` as `--input-range=-1,1`: argparse takes "-1,1" for an option."""
    joined, i = [], 0
    while i < len(argv):
        if argv[i] == "--input-range" and i + 1 < len(argv) and re.fullmatch(r"-(inf|[\d.]+(e[-+]?\d+)?),.*", argv[i + 1]):
            joined.append(f"--input-range={argv[i + 1]}")
            i += 2
        else:
            joined.append(argv[i])
            i += 1
    return joined


def _parser() -> argparse.ArgumentParser:
    from tb_featviz import __version__, methods

    parser = _Parser(prog="tb-featviz", description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"tb-featviz {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    add_command = commands.add_parser
    commands.add_parser = lambda *a, **k: add_command(*a, allow_abbrev=False, **k)  # --chan is not --channels

    layers = commands.add_parser("layers", help="list layers, output shapes and applicable methods")
    layers.add_argument("model", help="a saved Keras model (.keras or .h5)")
    layers.set_defaults(run=_layers)

    render = commands.add_parser("render", help="render one layer's channels to a PNG or a logdir")
    render.add_argument("model", help="a saved Keras model (.keras or .h5)")
    render.add_argument("--layer", help="layer name (nested: outer/inner); occlusion: default the output layer")
    render.add_argument("--channels", default="all", help="e.g. 0-31, 0,4,9 or all (default)")
    render.add_argument("--method", choices=methods.names(), default=methods.names()[0])
    render.add_argument("--probe-images", help="a .npy array (n,h,w[,c]) or a folder of images: the images "
                        "deconv and occlusion work on; am: the dead test and the colours of Fourier images")
    render.add_argument("--labels", help=f"{_owners(lambda m: m.reads_labels)}: a .npy array of the probe images' "
                        "true classes")
    render.add_argument("--input-range", help="LOW,HIGH the model expects, e.g. 0,255 (default: "
                        "inferred from .npy probes, else 0,1)")
    for flag in _method_flags().values():
        flag.add_to(render)
    render.add_argument("--class-names", help="names of the model's output units, comma-separated "
                        "(or @FILE, one per line); label the class layer's AM tiles and occlusion's classes")
    render.add_argument("--contrast", choices=("absolute", "stretch"), default="absolute",
                        help="absolute (default): images as the model sees them, the input range as "
                        "black..white; stretch: each tile stretched on its own (labelled on the grid)")
    target = render.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="write a labelled PNG grid here")
    target.add_argument("--logdir", help="write featviz records (step 0) for TensorBoard here")
    render.set_defaults(run=_render)
    offline.add_commands(commands, _method_flags())
    return parser


def _method_flags() -> dict:
    """{flag: CliFlag} of every registered method, each flag once (methods may share one)."""
    from tb_featviz import methods

    flags = {}
    for method in methods.REGISTRY.values():
        for flag in method.cli_flags:
            flags.setdefault(flag.flag, flag)
    return flags


def _owners(has) -> str:
    """The methods for which `has(method)` holds, as "occlusion" or "am, deconv"."""
    from tb_featviz import methods

    return ", ".join(name for name, method in methods.REGISTRY.items() if has(method))


# ---- commands ---------------------------------------------------------------------------------

def _layers(args) -> int:
    from tb_featviz import methods
    from tb_featviz.settings import Settings

    rows = [("layer", "type", "output shape", "methods")] + layer_rows(inputs.load_model(args.model))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3] for row in rows]
    needs = [f"{name} needs {_in_flags(re.sub(r' [(][^)]*[)]', '', missing))}"
             for name, method in methods.REGISTRY.items() for missing in [method.needs(Settings())] if missing]
    lines.append("; ".join(needs) + "; \"gradient only\": a nonlinearity on the way (gelu, swish, ...) has no "
                 "deconvnet/guided rule.")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    return 0


def layer_rows(model) -> list:
    """(name, type, output shape, methods) of every layer a user may name."""
    import keras

    from tb_featviz import backward, methods
    from tb_featviz.errors import ConfigurationError
    from tb_featviz.model_access import SPATIAL, UNITS, iter_layers, operations_before
    from tb_featviz.settings import Settings

    settings = Settings()  # default options: a layer that needs deconv's "gradient" rule says so
    rows = []
    for ref in iter_layers(model):
        shape = _output_shape(ref.layer)
        if isinstance(ref.layer, keras.layers.InputLayer):
            rows.append((ref.name, "InputLayer", shape, "none: the model's input"))
            continue
        try:
            path = backward.steps_on_path(operations_before(ref))
            rank = len(ref.layer.output.shape)
            output = methods.LayerOutput({4: SPATIAL, 2: UNITS}.get(rank, "other"), tuple(ref.layer.output.shape[1:]))
            status = {name: method.applies(ref, path, settings, output) for name, method in methods.REGISTRY.items()}
            notes = [method.listing_note(ref, path, settings, output) for name, method in methods.REGISTRY.items()
                     if status[name] is not None]
        except ConfigurationError as error:  # e.g. a layer used twice
            rows.append((ref.name, type(ref.layer).__name__, shape, f"none: {error}"))
            continue
        applicable = [m for m, why in status.items() if why is None] + [note for note in notes if note]
        rows.append((ref.name, type(ref.layer).__name__, shape, ", ".join(applicable)))
    return rows


@dataclasses.dataclass
class _Inputs:
    """What render read besides the model: probe images and labels, as many as it keeps."""

    probes: Optional[object] = None
    probe_count: int = 0  # images given (more than `probes` holds when cut at inputs.MAX_PROBES)
    labels: Optional[object] = None
    input_range: Optional[tuple] = None
    folder_default: bool = False  # a folder's images, scaled to [0, 1] without --input-range


def _read_inputs(args, model) -> _Inputs:
    read = _Inputs(input_range=inputs.parse_range(args.input_range) if args.input_range else None)
    if args.probe_images:
        read.probes, read.probe_count = inputs.load_probes(args.probe_images, model, read.input_range)
        if read.input_range is None and os.path.isdir(args.probe_images):
            read.input_range, read.folder_default = (0.0, 1.0), True  # the folder's images were scaled to it
    if args.labels:
        labels, label_count = inputs.load_labels(args.labels)
        if read.probes is not None and read.probe_count > len(read.probes):
            if label_count != read.probe_count:  # compared with every image given, not only those kept
                raise UserError(f"--labels has {label_count} labels for the {read.probe_count} images of --probe-images")
            labels = labels[: len(read.probes)]  # as many as the probe images kept
        read.labels = labels
    return read


def _render(args) -> int:
    from tb_featviz import methods
    from tb_featviz.errors import ConfigurationError
    from tb_featviz.prepare import prepare
    from tb_featviz.settings import Settings

    _check_output(args)
    model = inputs.load_model(args.model)
    method = methods.get(args.method)
    _check_method_flags(args, method)
    channels = inputs.parse_channels(args.channels)
    read = _read_inputs(args, model)
    try:
        values = {flag.dest: getattr(args, flag.dest) for flag in method.cli_flags}
        kept = len(read.probes) if read.probes is not None else 0
        settings = Settings.checked(
            probe_images=read.probes, probe_labels=read.labels, input_range=read.input_range,
            class_names=inputs.parse_class_names(args.class_names),
            options={method.name: method.options_from_cli(values, kept)},
        )
        missing = method.needs(settings)
        if missing:
            raise UserError(f"--method {args.method} needs {_in_flags(missing)}")
        problem = method.check_recordable(settings.options_of(method.name)) if args.logdir else None
        if problem:
            raise UserError(f"--logdir: {problem}; write them with --out")
        layer = args.layer or _default_layer(method, model, settings)
        prepared = prepare(model, {layer: channels}, settings, methods=[method.name])
        runner = prepared.runners[(prepared.named(model, layer).name, method.name)]
        writer = output.open_writer(args.logdir) if args.logdir else None  # every check passed: now the target
        _notes(args, method, read, prepared.spec, layer)
        result = runner(output.progress_bar(f"{method.format.label} of {layer}"))
    except ConfigurationError as error:
        raise UserError(_in_flags(str(error))) from None
    output.write_result(args, method, layer, result, writer)
    if args.out:
        count, copies = len(method.items(result)), getattr(result, "copies", 1)
        if copies > 1:
            count //= copies
        item = method.format.item
        what = f"{count} {item}{'s' if count != 1 else ''}" + (f" x {copies} images" if copies > 1 else "")
        print(f"wrote {args.out} ({what} of {layer})")
    else:
        print(f"wrote {args.method} records of {layer} to {args.logdir} (step 0); "
              f"view them with: tensorboard --logdir {args.logdir}")
    return 0


def _notes(args, method, read: _Inputs, spec, layer: str) -> None:
    """What render is about to do, on stderr, once every check passed."""
    if read.probes is not None and read.probe_count > len(read.probes):
        print(f"tb-featviz: note: using the first {len(read.probes)} of the {read.probe_count} images in "
              f"{args.probe_images}", file=sys.stderr)
    if method.reads_inputs:
        note = spec.describe_range()
        if read.folder_default:
            note = "input range [0, 1] (default; the folder's images are scaled to it)"
        print(f"tb-featviz: {note}", file=sys.stderr)
    if read.probes is not None:
        print(f"{args.method} of {layer} over {len(read.probes)} probe images...", file=sys.stderr)


def _check_method_flags(args, method) -> None:
    """Flags that belong to another method are an error, not silently ignored."""
    from tb_featviz import methods

    own = {flag.flag for flag in method.cli_flags}
    foreign = [flag for flag in _method_flags().values()
               if flag.flag not in own and getattr(args, flag.dest) != flag.default]
    if args.labels is not None and not method.reads_labels:
        foreign.insert(0, "--labels")
    if foreign:
        names = [flag if isinstance(flag, str) else flag.flag for flag in foreign]
        owners = sorted({name for name, m in methods.REGISTRY.items()
                         for flag in names if flag in {f.flag for f in m.cli_flags} or (flag == "--labels" and m.reads_labels)})
        raise UserError(f"{', '.join(names)}: only for --method {' or '.join(owners)}")
    if args.labels and not args.probe_images:
        raise UserError("--labels needs --probe-images (the images they label)")
    if not method.has_channels and args.channels.strip().lower() != "all":
        why = ("it shows every probe image given (pass fewer --probe-images)" if method.format.item == "image"
               else f"its records are of the whole {method.format.item}")
        raise UserError(f"--channels does not apply to {method.name}: {why}")
    if not method.reads_inputs:
        unused = [flag for flag, value in (("--probe-images", args.probe_images), ("--class-names", args.class_names),
                                           ("--input-range", args.input_range)) if value is not None]
        if unused:
            raise UserError(f"{', '.join(unused)}: --method {method.name} draws the layer's filters and reads none "
                            "of these")
    if args.contrast == "stretch" and not method.stretchable:
        stretchable = _owners(lambda m: m.stretchable).replace(", ", " and ")
        raise UserError(f"--contrast stretch: --method {method.name} draws on its own scale already "
                        f"(only {stretchable} images can be stretched)")


def _in_flags(message: str) -> str:
    """An engine message in the command line's words: flags for arguments, no Python hints."""
    message = re.sub(r" \(images are \(n, height, width, channels\): one image is images\[None\]\)", "", message)
    words = list(_GENERAL_WORDS) + [(word, flag.flag) for flag in _method_flags().values() for word in flag.words]
    for word, flag in words:
        message = re.sub(rf"\b{re.escape(word)}\b", flag, message)
    return message


def _default_layer(method, model, settings) -> str:
    """The layer a method covers by itself (occlusion: the output), else --layer is needed."""
    implied = method.implied_layers(model, settings)
    if not implied:
        raise UserError(f"--method {method.name} needs --layer (see: tb-featviz layers MODEL)")
    return implied[0]


def _check_output(args) -> None:
    if (args.out if args.out is not None else args.logdir).strip() == "":
        raise UserError(f"{'--out' if args.out is not None else '--logdir'} is empty; give a path")
    target = args.out or args.logdir
    parent = os.path.dirname(os.path.abspath(target)) if args.out else os.path.abspath(target)
    probe = parent
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK):
        raise UserError(f"cannot write to {target}: {probe} is not a writable folder")
    if args.out and not args.out.lower().endswith(".png"):
        raise UserError(f"--out {args.out}: the grid is a PNG; name it *.png")
    if args.out and "://" in args.out:
        raise UserError(f"--out {args.out}: writes a local PNG; for a remote location use --logdir")
    if args.out and os.path.isdir(args.out):
        raise UserError(f"--out {args.out} is a folder; give a file name ending in .png")
    if args.logdir and args.logdir.startswith("ram://"):
        raise UserError(f"--logdir {args.logdir}: ram:// lives in this process's memory and is gone when "
                        "tb-featviz exits; give a folder")


def _output_shape(layer) -> str:
    try:
        return str(tuple(layer.output.shape))
    except Exception:
        return "?"
