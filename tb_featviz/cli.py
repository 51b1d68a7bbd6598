"""`tb-featviz`: feature visualizations of a saved Keras model, without training anything.

    tb-featviz layers MODEL.keras
    tb-featviz render MODEL.keras --layer conv2 [--channels 0-31] [--method am|deconv|weights|occlusion]
                      [--probe-images DIR_OR_NPY] [--labels y.npy] (--out grid.png | --logdir DIR)

`--out` writes one labelled PNG grid (channel index and activation, or filter norm, under each
tile; for occlusion one tile per probe image); `--logdir` writes the records FeatVizCallback
writes, at step 0, for the TensorBoard dashboard. Every user error ends with one line on stderr and exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
import warnings
from typing import Sequence

_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_MAX_PROBES = 1024
_MAX_IMAGE_PIXELS = 40_000_000  # per probe image file, read from its header before it is decoded
_MAX_NAMES_BYTES = 1_000_000  # --class-names @FILE
_MAX_CONFIG_BYTES = 64 * 2**20  # a .keras archive's config.json, unpacked
_MAX_MODEL_BYTES = 8 * 2**30  # a .keras archive, unpacked
_MAX_EXPANSION = 100  # Keras stores members (1:1); DEFLATE reaches about 1000:1 on a run of zeros
_EXPANSION_FLOOR = 64 * 2**20  # smaller members unpack in moments, however compressed
_MAX_PROBE_BYTES = 2 * 2**30  # the probe images kept, as float32
_MAX_CHANNELS = 1_000_000
_LEGEND_WIDTH = 360  # px: a colour scale with its words at both ends


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line too, pointing at --help instead of a usage dump."""

    def error(self, message: str):
        self.exit(2, f"tb-featviz: error: {message} (see: {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(_joined_negative_values(sys.argv[1:] if argv is None else list(argv)))
    if args.command is None:
        print("tb-featviz: error: give a command: layers or render (see: tb-featviz --help)", file=sys.stderr)
        return 2
    if sys.stdout is None:  # started with it closed (`>&-`): print() would drop every line silently
        print("tb-featviz: error: standard output is closed: nothing could be shown", file=sys.stderr)
        return 2
    try:
        from tb_featviz.quiet_import import import_tensorflow_quietly

        import_tensorflow_quietly()
        with warnings.catch_warnings(), np_quiet():  # numpy's and Keras's warnings are not for users
            warnings.simplefilter("ignore")
            return args.run(args)
    except UserError as error:
        print(f"tb-featviz: error: {_one_line(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tb-featviz: interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # standard output closed or full: the result could not be said
        print(f"tb-featviz: error: cannot write to standard output: {error.strerror or error}", file=sys.stderr)
        return 2


def np_quiet():
    import numpy as np

    return np.errstate(all="ignore")


def _one_line(text: str) -> str:
    """Control characters (a newline in a path) shown escaped: an error is one line."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group(0))[1:-1], text)


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
    from tb_featviz import __version__

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
    render.add_argument("--method", choices=_method_names(), default="am")
    render.add_argument("--probe-images", help="a .npy array (n,h,w[,c]) or a folder of images, for deconv "
                        "and occlusion; am: the dead test and the colours of Fourier images")
    render.add_argument("--labels", help="occlusion: a .npy array of the probe images' true classes")
    render.add_argument("--size", type=int, default=None, help="occlusion: the gray square's side in pixels "
                        "(default a quarter of the image)")
    render.add_argument("--stride", type=int, default=None, help="occlusion: pixels between positions "
                        "(default: about 12 positions per axis)")
    render.add_argument("--input-range", help="LOW,HIGH the model expects, e.g. 0,255 (default: "
                        "inferred from .npy probes, else 0,1)")
    render.add_argument("--steps", type=int, default=None, help="AM gradient steps (default: the preset's)")
    render.add_argument("--preset", choices=("quality", "fast"), default="quality",
                        help="am: quality (default; Lucid's recipe, 512 Fourier steps) or fast (the callback's)")
    render.add_argument("--objective", default="channel",
                        help="am: channel (default), negative (minimize the channel), neuron:ROW,COL (one unit), "
                        "diversity:N[,WEIGHT] (N different images per channel), interpolate:CHANNEL,N (N images "
                        "from each channel to CHANNEL), direction:FILE.npy (a direction in channel space)")
    render.add_argument("--top-k", type=int, default=None, help="deconv: activations per channel (default 9)")
    render.add_argument("--rule", choices=("deconvnet", "guided", "gradient"), default=None,
                        help="deconv: backward rule at ReLUs (gradient: the plain gradient, the only one "
                        "defined through gelu, swish and other nonlinearities)")
    render.add_argument("--class-names", help="names of the model's output units, comma-separated "
                        "(or @FILE, one per line); label the class layer's AM tiles and occlusion's classes")
    render.add_argument("--contrast", choices=("absolute", "stretch"), default="absolute",
                        help="absolute (default): images as the model sees them, the input range as "
                        "black..white; stretch: each tile stretched on its own (labelled on the grid)")
    target = render.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="write a labelled PNG grid here")
    target.add_argument("--logdir", help="write featviz records (step 0) for TensorBoard here")
    render.set_defaults(run=_render)
    return parser


# ---- commands ---------------------------------------------------------------------------------

def _layers(args) -> int:
    rows = [("layer", "type", "output shape", "methods")] + layer_rows(_load_model(args.model))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    print("deconv needs --probe-images, occlusion --probe-images and --labels; weights applies to convolution "
          "layers; \"gradient only\": a nonlinearity on the way (gelu, swish, ...) has no deconvnet/guided rule.")
    return 0


def layer_rows(model) -> list:
    """(name, type, output shape, methods) of every layer a user may name."""
    import keras

    from tb_featviz import backward
    from tb_featviz.errors import ConfigurationError
    from tb_featviz.methods import REGISTRY, Settings
    from tb_featviz.model_access import iter_layers, operations_before

    settings = Settings()  # the default rule: a layer that needs "gradient" says so
    rows = []
    for ref in iter_layers(model):
        if isinstance(ref.layer, keras.layers.InputLayer):
            rows.append((ref.name, "InputLayer", _output_shape(ref.layer), "none: the model's input"))
            continue
        try:
            path = backward.steps_on_path(operations_before(ref))
            status = {name: method.applies(ref, path, settings) for name, method in REGISTRY.items()}
        except ConfigurationError as error:  # e.g. a layer used twice
            rows.append((ref.name, type(ref.layer).__name__, _output_shape(ref.layer), f"none: {error}"))
            continue
        methods = [m for m, why in status.items() if why is None]
        if status["deconv"] is not None:
            methods.append("deconv (--rule gradient only)")
        rows.append((ref.name, type(ref.layer).__name__, _output_shape(ref.layer), ", ".join(methods)))
    return rows


def _render(args) -> int:
    _check_output(args)
    model = _load_model(args.model)
    from tb_featviz import metadata
    from tb_featviz.errors import ConfigurationError
    from tb_featviz.methods import REGISTRY, Settings
    from tb_featviz.occlude import OcclusionOptions
    from tb_featviz.visualize import prepare_method

    method = REGISTRY[args.method]
    _check_method_flags(args)
    channels = _parse_channels(args.channels)
    input_range = _parse_range(args.input_range) if args.input_range else None
    probes, probe_count = _load_probes(args.probe_images, model, input_range) if args.probe_images else (None, 0)
    folder_default = probes is not None and input_range is None and os.path.isdir(args.probe_images)
    if folder_default:
        input_range = (0.0, 1.0)  # the folder's images were scaled to it: nothing to infer
    labels, label_count = _load_labels(args.labels) if args.labels else (None, 0)
    if labels is not None and probes is not None and probe_count > len(probes):
        if label_count != probe_count:  # compared with every image given, not only those kept
            raise UserError(f"--labels has {label_count} labels for the {probe_count} images of --probe-images")
        labels = labels[: len(probes)]  # as many as the probe images kept
    try:
        settings = Settings.checked(
            probe_images=probes, probe_labels=labels, input_range=input_range,
            top_k=9 if args.top_k is None else args.top_k, deconv_rule=args.rule or "deconvnet",
            class_names=_parse_class_names(args.class_names),
            am=_am_options(args.preset, args.steps, args.objective), occlusion=OcclusionOptions(
                images=len(probes) if probes is not None else 1, size=args.size, stride=args.stride),
        )
        missing = method.needs(settings)
        if missing:
            flags = missing.replace("probe_images", "--probe-images").replace("probe_labels", "--labels")
            raise UserError(f"--method {args.method} needs {flags}")
        if args.logdir and settings.am.images_per_channel > 1:
            raise UserError("--logdir records hold one image per channel; write several (--objective "
                            "diversity/interpolate) with --out")
        layer = args.layer or _default_layer(method, model, settings)
        runner = prepare_method(model, layer, channels, args.method, settings)
        writer = _open_writer(args.logdir) if args.logdir else None  # every check passed: now the target
        if probes is not None and probe_count > len(probes):  # notes only once every check passed
            print(f"tb-featviz: note: using the first {len(probes)} of the {probe_count} images in "
                  f"{args.probe_images}", file=sys.stderr)
        if args.method != "weights":  # filters read no images
            note = settings.input_spec(model).describe_range()
            if folder_default:
                note = "input range [0, 1] (default; the folder's images are scaled to it)"
            print(f"tb-featviz: {note}", file=sys.stderr)
        if probes is not None:
            print(f"{args.method} of {layer} over {len(probes)} probe images...", file=sys.stderr)
        result = runner(_progress_bar(f"{metadata.FORMATS[args.method].label} of {layer}"))
    except ConfigurationError as error:
        raise UserError(_in_flags(str(error))) from None
    import tensorflow as tf

    try:
        if args.out:
            _write_grid(args.out, method, result, args.contrast)
        else:
            _write_records(writer, layer, method, result)
    except OSError as error:
        raise UserError(f"cannot write {args.out or args.logdir}: {error.strerror or error}") from None
    except (tf.errors.OpError, ValueError) as error:  # TensorFlow's errors are not OSErrors
        raise UserError(f"cannot write {args.out or args.logdir}: {_tf_message(error)}") from None
    if args.out:
        count, copies = len(method.items(result)), getattr(result, "copies", 1)
        item = metadata.FORMATS[args.method].item
        if copies > 1:
            count //= copies
        what = f"{count} {item}{'s' if count != 1 else ''}" + (f" x {copies} images" if copies > 1 else "")
        print(f"wrote {args.out} ({what} of {layer})")
    else:
        print(f"wrote {args.method} records of {layer} to {args.logdir} (step 0); "
              f"view them with: tensorboard --logdir {args.logdir}")
    return 0


def _check_method_flags(args) -> None:
    """Flags that belong to another method are an error, not silently ignored."""
    occlusion_only = [flag for flag, value in (("--labels", args.labels), ("--size", args.size),
                                               ("--stride", args.stride)) if value is not None]
    if occlusion_only and args.method != "occlusion":
        raise UserError(f"{', '.join(occlusion_only)}: only for --method occlusion")
    if args.labels and not args.probe_images:
        raise UserError("--labels needs --probe-images (the images they label)")
    am_only = [flag for flag, given in (("--steps", args.steps is not None), ("--preset", args.preset != "quality"),
                                        ("--objective", args.objective != "channel")) if given]
    if am_only and args.method != "am":
        raise UserError(f"{', '.join(am_only)}: only for --method am")
    if args.method == "occlusion" and args.channels.strip().lower() != "all":
        raise UserError("--channels does not apply to occlusion: it shows every probe image given "
                        "(pass fewer --probe-images)")
    deconv_only = [flag for flag, value in (("--top-k", args.top_k), ("--rule", args.rule)) if value is not None]
    if deconv_only and args.method != "deconv":
        raise UserError(f"{', '.join(deconv_only)}: only for --method deconv")
    if args.method == "weights":
        unused = [flag for flag, value in (("--probe-images", args.probe_images), ("--class-names", args.class_names),
                                           ("--input-range", args.input_range)) if value is not None]
        if unused:
            raise UserError(f"{', '.join(unused)}: --method weights draws the layer's filters and reads none of these")
    if args.contrast == "stretch" and args.method in ("weights", "occlusion"):
        raise UserError(f"--contrast stretch: --method {args.method} draws on its own scale already "
                        "(only am and deconv images can be stretched)")


# The engine's messages name its Python arguments; on the command line they are flags.
_FLAGS = (("probe_images", "--probe-images"), ("probe_labels", "--labels"), ("class_names", "--class-names"),
          ("top_k", "--top-k"), ("input_range", "--input-range"), ("occlusion size", "--size"),
          ("occlusion stride", "--stride"), ("AMOptions.steps", "--steps"))


def _in_flags(message: str) -> str:
    """An engine message in the command line's words: flags for arguments, no Python hints."""
    message = re.sub(r" \(images are \(n, height, width, channels\): one image is images\[None\]\)", "", message)
    for word, flag in _FLAGS:
        message = re.sub(rf"\b{word}\b", flag, message)
    return message


def _method_names() -> tuple:
    from tb_featviz.metadata import METHODS

    return METHODS


def _default_layer(method, model, settings) -> str:
    """The layer a method covers by itself (occlusion: the output), else --layer is needed."""
    implied = method.implied_layers(model, settings)
    if not implied:
        raise UserError(f"--method {method.name} needs --layer (see: tb-featviz layers MODEL)")
    return implied[0]


def _am_options(preset: str, steps, objective: str):
    """The AM settings of the preset, with --steps and the --objective parsed."""
    from tb_featviz.am.maximize import AMOptions

    overrides = _parse_objective(objective)
    if steps is not None:
        if steps < 1:
            raise UserError(f"--steps {steps}: give at least 1")
        overrides["steps"] = steps
    return AMOptions.preset(preset, **overrides)


def _parse_objective(text: str) -> dict:
    """--objective TEXT -> AMOptions overrides (objective, images_per_channel)."""
    import numpy as np

    from tb_featviz.am import objectives

    kind, _, rest = text.strip().partition(":")
    numbers = rest.split(",") if rest else []
    try:
        if kind == "channel" and not rest:
            return {}
        if kind == "negative" and not rest:
            return {"objective": -objectives.channel()}
        if kind == "neuron" and len(numbers) == 2:
            return {"objective": objectives.neuron(int(numbers[0]), int(numbers[1]))}
        if kind == "diversity" and len(numbers) in (1, 2):
            weight = float(numbers[1]) if len(numbers) == 2 else 100.0
            return {"objective": objectives.channel() + weight * objectives.diversity(),
                    "images_per_channel": int(numbers[0])}
        if kind == "interpolate" and len(numbers) == 2:
            return {"objective": objectives.interpolate(objectives.channel(), objectives.fixed_channel(int(numbers[0]))),
                    "images_per_channel": int(numbers[1])}
        if kind == "direction" and rest:
            if not os.path.isfile(rest):
                raise UserError(f"--objective direction:{rest}: no such file")
            return {"objective": objectives.direction(np.load(rest, allow_pickle=False))}
    except UserError:
        raise
    except Exception as error:  # a number that is not one, a weight out of range, an unreadable file
        raise UserError(f"--objective {text!r}: {str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__}") from None
    raise UserError(f"--objective {text!r}: use channel, negative, neuron:ROW,COL, diversity:N[,WEIGHT], "
                    "interpolate:CHANNEL,N or direction:FILE.npy")


# ---- inputs ---------------------------------------------------------------------------------

def _regular_file(path: str, what: str) -> None:
    """A plain file: a pipe would block the read forever, a device (/dev/zero) never end."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise UserError(f"{what} {path}: {error.strerror or error}") from None
    if stat.S_ISDIR(mode):
        raise UserError(f"{what} {path} is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise UserError(f"{what} {path} is not a regular file (a pipe or a device?)")


def _load_model(path: str):
    if not os.path.lexists(path):
        raise UserError(f"no such file: {path}")
    if os.path.isdir(path) or not path.endswith((".keras", ".h5", ".hdf5")):
        raise UserError(f"{path} is not a saved Keras model file (.keras or .h5)")
    _regular_file(path, "model")
    problem = _not_a_model_file(path)
    if problem:
        raise UserError(f"could not load {path}: {problem}")
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds for unreadable files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"could not load {path}: {first_line[:300]}") from None


def _not_a_model_file(path: str) -> str | None:
    """Why `path` cannot be a saved model, from its bytes (Keras says "File not found" for a
    file that is there but damaged), or None."""
    import zipfile

    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as error:
        return f"cannot read it ({error.strerror or error})"
    if path.endswith(".keras"):
        if not zipfile.is_zipfile(path):
            return ("it is not a .keras archive (a zip file): cut short, or not saved by model.save" if head[:2] == b"PK"
                    else "it is not a .keras archive (a zip file): not saved by model.save(..., '.keras')")
        try:  # only config.json is read here (every member decompressed could be a bomb)
            with zipfile.ZipFile(path) as archive:
                if "config.json" not in archive.namelist():
                    return "the zip file holds no config.json: it is not a saved Keras model"
                size = archive.getinfo("config.json").file_size
                if size > _MAX_CONFIG_BYTES:
                    return f"its config.json unpacks to {size:,} bytes: no model's configuration is that large"
                bomb = _zip_bomb(archive)
                if bomb:
                    return bomb
                with archive.open("config.json") as config:
                    config.read()
        except Exception as error:  # noqa: BLE001 - zipfile raises many kinds for damaged archives
            return f"the .keras archive is damaged or uses an unsupported zip feature ({_one_line(str(error))[:200]})"
    elif head != b"\x89HDF\r\n\x1a\n":
        return "it is not an HDF5 file (.h5 models start with the HDF5 signature)"
    return None


def _zip_bomb(archive) -> str | None:
    """Why the archive must not be unpacked, from the sizes its central directory declares (no
    member is decompressed), or None: a member that unpacks to far more than it stores (Keras
    stores them 1:1), or more than any model this command loads."""
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if info.file_size > _EXPANSION_FLOOR and info.file_size > _MAX_EXPANSION * info.compress_size:
            return (f"{_one_line(info.filename)[:100]} unpacks to {info.file_size:,} bytes from {info.compress_size:,} "
                    f"({info.file_size // max(1, info.compress_size):,}:1; saved models store their weights "
                    "uncompressed): a zip bomb?")
    if total > _MAX_MODEL_BYTES:
        return f"it unpacks to {total:,} bytes, more than {_MAX_MODEL_BYTES:,} (8 GiB)"
    return None


def _parse_channels(text: str):
    """"all", "0-31", "0,4,9" or "0-7,12" -> "all", a range (one part: checked against the layer
    before anything is expanded, however long) or a sorted list of ints."""
    text = text.strip().lower()
    if text == "all":
        return "all"
    if re.search(r"\d{13}", text, re.ASCII):
        raise UserError(f"--channels {text[:40]!r}: channel numbers have at most 12 digits")
    single = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text, re.ASCII)
    if single and int(single.group(1)) <= int(single.group(2)):
        return range(int(single.group(1)), int(single.group(2)) + 1)
    channels, listed = set(), 0
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part, re.ASCII)
        if not match:
            raise UserError(f"--channels {text[:80]!r}: use e.g. 0-31, 0,4,9 or all")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if high < low:
            raise UserError(f"--channels: range {low}-{high} is empty")
        listed += high - low + 1
        if listed > _MAX_CHANNELS:
            raise UserError(f"--channels lists more than any layer has ({_MAX_CHANNELS:,} channels at most); "
                            "use 'all' for every channel")
        channels.update(range(low, high + 1))
    return sorted(channels)


def _load_labels(path: str):
    import numpy as np

    if not os.path.exists(path):
        raise UserError(f"no such file: {path}")
    if os.path.isdir(path):
        raise UserError(f"--labels {path} is a folder; give a .npy array of class indices")
    _regular_file(path, "--labels")
    _npy_or_zip(path, "--labels", "a .npy array of class indices")
    try:
        labels = np.load(path, allow_pickle=False, mmap_mode="r")
    except Exception as error:
        raise UserError(f"could not read {path} as a .npy array: {str(error)[:200]}") from None
    if not isinstance(labels, np.ndarray):
        labels.close()
        raise UserError(f"{path} is a zip archive, not a .npy array; save the labels with numpy.save")
    return np.array(labels[: _MAX_PROBES + 1]), len(labels)  # the rest is never read


def _parse_class_names(text: str | None):
    if text is None:
        return None
    if text.startswith("@"):
        _regular_file(text[1:], "--class-names")
        if os.path.getsize(text[1:]) > _MAX_NAMES_BYTES:
            raise UserError(f"--class-names: {text[1:]} is larger than {_MAX_NAMES_BYTES:,} bytes; give one name per line")
        try:
            with open(text[1:], encoding="utf-8") as f:
                names = [line.strip() for line in f if line.strip()]
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"--class-names: cannot read {text[1:]}: {error}") from None
    else:
        names = [name.strip() for name in text.split(",")]
    if not names or not all(names):
        raise UserError("--class-names: give names separated by commas (no empty names), or @FILE")
    return names


def _parse_range(text: str) -> tuple:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--input-range {text!r}: use LOW,HIGH, e.g. 0,255") from None
    if not all(-1e30 <= v <= 1e30 for v in (low, high)):
        raise UserError(f"--input-range {text!r}: LOW and HIGH must be finite numbers of magnitude at most 1e30")
    if not low < high:
        raise UserError(f"--input-range {text!r}: LOW must be below HIGH")
    return low, high


def _load_probes(path: str, model, input_range):
    import numpy as np

    if not os.path.exists(path):
        raise UserError(f"no such file or folder: {path}")
    if os.path.isdir(path):
        return _images_from_folder(path, model, input_range)  # (images, count of images in the folder)
    _regular_file(path, "--probe-images")
    _npy_or_zip(path, "--probe-images", "a .npy array or a folder of images")
    _check_declared_probes(path, model)
    try:  # mapped: only the images kept are read
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except Exception as error:
        raise UserError(f"could not read {path} as a .npy array: {_one_line(str(error))[:200]}") from None
    if not isinstance(array, np.ndarray):  # np.load opens any zip (.npz, .keras) as an archive
        array.close()
        raise UserError(f"{path} is a zip archive, not a .npy array; save the probe images with numpy.save")
    if array.ndim not in (3, 4) or array.shape[0] < 1:
        raise UserError(f"{path}: expected images of shape (n, height, width[, channels]), got {array.shape}")
    if array.dtype.kind in "iu" and input_range is None:
        kept = array[:_MAX_PROBES]
        raise UserError(
            f"{path} holds {array.dtype} images ({kept.min()}..{kept.max()}); integers do not say which "
            "range the model was trained on. Pass --input-range 0,255 if it takes raw pixels, or save "
            "the probes as floats scaled like its training data (e.g. x / 255)"
        )
    return np.array(array[:_MAX_PROBES]), len(array)  # as the model takes them; the engine checks them


def _npy_or_zip(path: str, flag: str, wanted: str) -> None:
    """A .npy file (or a zip archive, which np.load opens and the caller refuses by name); any
    other file would get numpy's advice to unpickle it."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as error:  # /proc/self/mem: there, but not readable
        raise UserError(f"{flag}: cannot read {path}: {error.strerror or error}") from None
    if magic != b"\x93NUMPY" and magic[:2] != b"PK":
        raise UserError(f"{flag} {path} is not a .npy array; give {wanted}")


def _check_declared_probes(path: str, model) -> None:
    """The shape a .npy file declares in its header, checked against the model and for size
    before any image is read: a (64, 8192, 8192, 3) file is refused, not copied to find out."""
    import math

    import numpy as np

    from tb_featviz.model_access import declared_input_shape

    try:
        with open(path, "rb") as f:
            if f.read(6) != b"\x93NUMPY":
                return  # a zip archive: refused by name once opened
            f.seek(0)
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                return  # version 3 (structured names in UTF-8): np.load says what it makes of it
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = read_header(f)
    except OSError as error:
        raise UserError(f"--probe-images: cannot read {path}: {error.strerror or error}") from None
    except Exception as error:  # noqa: BLE001 - a damaged header
        raise UserError(f"could not read {path} as a .npy array: {_one_line(str(error))[:200]}") from None
    if len(shape) not in (3, 4) or shape[0] < 1:
        raise UserError(f"{path}: expected images of shape (n, height, width[, channels]), got {shape}")
    image = tuple(shape[1:]) + ((1,) if len(shape) == 3 else ())
    declared = declared_input_shape(model)
    if declared is not None and len(declared) == 3 and any(d is not None and d != n for d, n in zip(declared, image)):
        raise UserError(f"--probe-images have shape {image}, the model takes {declared}")
    kept = min(shape[0], _MAX_PROBES)
    size = kept * math.prod(image) * 4
    if size > _MAX_PROBE_BYTES:
        raise UserError(f"--probe-images {path}: the {'first ' if kept < shape[0] else ''}{kept} images of shape "
                        f"{image} are {size / 1e9:.1f} GB as float32, more than {_MAX_PROBE_BYTES / 1e9:.1f} GB; "
                        "give fewer or smaller images")


def _images_from_folder(folder: str, model, input_range):
    """Every image in `folder`, resized to the model's input, scaled to its input range."""
    import numpy as np
    import tensorflow as tf

    from tb_featviz import inputs

    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(_EXTENSIONS))
    count = len(names)
    if not names:
        raise UserError(f"{folder} holds no images ({', '.join(_EXTENSIONS)})")
    names = names[:_MAX_PROBES]
    try:
        spec = inputs.for_model(model, value_range=input_range)
    except Exception:
        spec = None
    if spec is None or spec.channels_first or None in (model.inputs[0].shape[1:]):
        raise UserError("the model has no fixed channels-last input size; give probe images as a .npy array")
    height, width, channels = spec.shape
    low, high = input_range or (0.0, 1.0)
    images = []
    for name in names:
        path = os.path.join(folder, name)
        _regular_file(path, "probe image")
        try:
            data = tf.io.read_file(path)
        except Exception:
            raise UserError(f"could not read {path}") from None
        pixels = _declared_pixels(data)
        if pixels is not None and pixels > _MAX_IMAGE_PIXELS:
            raise UserError(f"{path} declares {pixels:,} pixels, more than {_MAX_IMAGE_PIXELS:,}; make it smaller")
        try:
            image = tf.io.decode_image(data, expand_animations=False)
        except Exception:
            raise UserError(f"could not decode {path}") from None
        if image.shape[-1] in (2, 4):  # gray or RGB with alpha: the alpha goes
            image = image[..., :-1]
        if channels == 1 and image.shape[-1] == 3:
            image = tf.image.rgb_to_grayscale(image)
        elif channels == 3 and image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, (height, width), antialias=True)
        images.append(low + (high - low) * tf.clip_by_value(image, 0.0, 1.0).numpy())
    return np.stack(images).astype("float32"), count  # laid out as the model takes them (checked above)


def _declared_pixels(data):
    """Width x height from an image file's header (PNG, GIF, BMP; JPEG's read by TensorFlow
    without decoding), before the image is decoded. None when the header does not say."""
    import struct

    import tensorflow as tf

    head = data.numpy()[:32]
    if head.startswith(b"\xff\xd8"):
        try:
            height, width, _ = (int(v) for v in tf.image.extract_jpeg_shape(data).numpy())
        except Exception:  # noqa: BLE001 - a broken JPEG: decoding it says so
            return None
        return width * height
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
    elif head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
    elif head.startswith(b"BM") and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
    else:
        return None
    return abs(width) * abs(height)


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


# ---- outputs ----------------------------------------------------------------------------------

def _write_grid(path: str, method, result, contrast: str = "absolute") -> None:
    import numpy as np

    from tb_featviz import imaging, labels

    tiles, names, captions = method.grid(result, contrast)
    if contrast == "stretch" and method.stretchable:
        captions.append("CONTRAST STRETCHED PER TILE")
    scale = max(1, 96 // tiles.shape[1])  # tiles at least 96 px high (two images side by side stay so)
    copies = int(getattr(result, "copies", 1))
    grid = labels.labelled_grid(tiles, names, scale=scale, columns=copies if copies > 1 else None)
    legend = method.legend(result, max(grid.shape[1], _LEGEND_WIDTH))
    if legend is not None:
        width = max(grid.shape[1], legend.shape[1])  # a grid of one or two images is narrower than its legend
        grid = np.concatenate([np.pad(part, ((0, 0), (0, width - part.shape[1]), (0, 0)), constant_values=255)
                               for part in (grid, legend)])
    for caption in reversed(captions):
        grid = labels.captioned(grid, caption)
    data = imaging.encode_png(grid)  # encoded first: a failure leaves an earlier file as it was
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path}.partial"
    with open(partial, "wb") as f:
        f.write(data)
    os.replace(partial, path)


def _open_writer(logdir: str):
    """The summary writer for `logdir`, opened before any work: a file system it cannot write (an
    unknown scheme, a bucket out of reach) is a one-line error, not a lost render. TensorFlow's
    under TensorFlow, else TensorBoard's own (the records are the same bytes)."""
    import keras

    from tb_featviz import gfile
    from tb_featviz.errors import ConfigurationError

    try:
        gfile.check_reachable(logdir)
    except ConfigurationError as error:
        raise UserError(str(error)) from None
    if keras.backend.backend() != "tensorflow":
        from tb_featviz.event_writer import WriteFailed
        from tb_featviz.summary import EventWriter

        writer = EventWriter(logdir)
        try:
            writer.open()
        except WriteFailed as error:
            raise UserError(f"cannot write to {logdir}: {error}") from None
        return writer
    import tensorflow as tf

    try:
        return tf.summary.create_file_writer(logdir)
    except (tf.errors.OpError, ValueError) as error:  # TensorFlow's errors are not OSErrors
        raise UserError(f"cannot write to {logdir}: {_tf_message(error)}") from None


def _write_records(writer, layer: str, method, result) -> None:
    from tb_featviz.summary import EventWriter

    if isinstance(writer, EventWriter):
        method.record(layer, result).write_to(writer, 0)
        writer.close()
        return
    with writer.as_default():
        method.record(layer, result).write(step=0)
    writer.close()


def _progress_bar(title: str, stream=None):
    """A progress callback on stderr, never stdout (which may be a pipe or a file of results):
    one line redrawn in place on a terminal, a line per quarter otherwise; no colours."""
    stream = stream or sys.stderr
    state = {"shown": -1}

    def update(done: int, total: int) -> None:
        total = max(1, total)
        if done == state.get("done"):
            return
        state["done"] = done
        if stream.isatty():
            end = "\n" if done >= total else ""
            stream.write(f"\r{title}: {done}/{total} steps{end}")
        else:
            quarter = 4 * done // total
            if quarter <= state["shown"]:
                return
            state["shown"] = quarter
            stream.write(f"{title}: {done}/{total} steps\n")
        stream.flush()

    return update


def _tf_message(error) -> str:
    """TensorFlow's error message without its op and function-node wrapping, one line."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(getattr(error, "message", error)))
    text = re.sub(r"\s*\[Op:[^\]]*\].*$", "", text.strip().splitlines()[0] if text.strip() else "")
    return text[:300] or type(error).__name__


def _output_shape(layer) -> str:
    try:
        return str(tuple(layer.output.shape))
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
