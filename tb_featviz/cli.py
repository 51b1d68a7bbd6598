"""`tb-featviz`: feature visualizations of a saved Keras model, without training anything.

    tb-featviz layers MODEL.keras
    tb-featviz render MODEL.keras --layer conv2 [--channels 0-31] [--method am|deconv|weights]
                      [--probe-images DIR_OR_NPY] (--out grid.png | --logdir DIR)

`--out` writes one labelled PNG grid (channel index and activation, or filter norm, under each
tile); `--logdir` writes the records FeatVizCallback writes, at step 0, for the TensorBoard
dashboard. Every user error ends with one line on stderr and exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Sequence

_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_MAX_PROBES = 1024
_MAX_CHANNELS = 1_000_000


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from tb_featviz.quiet_import import import_tensorflow_quietly

    import_tensorflow_quietly()
    try:
        return args.run(args)
    except UserError as error:
        print(f"tb-featviz: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tb-featviz: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tb-featviz", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")

    layers = commands.add_parser("layers", help="list layers, output shapes and applicable methods")
    layers.add_argument("model", help="a saved Keras model (.keras or .h5)")
    layers.set_defaults(run=_layers)

    render = commands.add_parser("render", help="render one layer's channels to a PNG or a logdir")
    render.add_argument("model", help="a saved Keras model (.keras or .h5)")
    render.add_argument("--layer", required=True, help="layer name (nested: outer/inner)")
    render.add_argument("--channels", default="all", help="e.g. 0-31, 0,4,9 or all (default)")
    render.add_argument("--method", choices=("am", "deconv", "weights"), default="am")
    render.add_argument("--probe-images", help="a .npy array (n,h,w[,c]) or a folder of images, for deconv")
    render.add_argument("--input-range", help="LOW,HIGH the model expects, e.g. 0,255 (default: "
                        "inferred from .npy probes, else 0,1)")
    render.add_argument("--steps", type=int, default=None, help="AM gradient steps (default 48)")
    render.add_argument("--top-k", type=int, default=9, help="deconv: activations per channel")
    render.add_argument("--rule", choices=("deconvnet", "guided", "gradient"), default="deconvnet",
                        help="deconv: backward rule at ReLUs (gradient: the plain gradient, the only one "
                        "defined through gelu, swish and other nonlinearities)")
    render.add_argument("--class-names", help="am: names of the model's output units, comma-separated "
                        "(or @FILE, one per line); label the class layer's tiles")
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
    print("deconv needs --probe-images; weights applies to convolution layers; \"gradient only\": a "
          "nonlinearity on the way (gelu, swish, ...) has no deconvnet/guided rule.")
    return 0


def layer_rows(model) -> list:
    """(name, type, output shape, methods) of every layer a user may name."""
    from tb_featviz import backward
    from tb_featviz.model_access import iter_layers, operations_before
    from tb_featviz.plan import method_status

    import keras

    from tb_featviz.errors import ConfigurationError

    rows = []
    for ref in iter_layers(model):
        if isinstance(ref.layer, keras.layers.InputLayer):
            rows.append((ref.name, "InputLayer", _output_shape(ref.layer), "none: the model's input"))
            continue
        try:
            status = method_status(ref, backward.steps_on_path(operations_before(ref)), True, backward.DECONVNET)
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
    import tb_featviz
    from tb_featviz.errors import ConfigurationError

    channels = _parse_channels(args.channels)
    input_range = _parse_range(args.input_range) if args.input_range else None
    probes = _load_probes(args.probe_images, model, input_range) if args.probe_images else None
    try:
        if args.method == "am":
            bar = _progress_bar(f"activation maximization of {args.layer}")
            options = {"steps": args.steps} if args.steps else {}
            result = tb_featviz.maximize_activation(
                model, args.layer, channels, input_range=input_range, progress=bar,
                class_names=_parse_class_names(args.class_names), **options
            )
        elif args.method == "deconv":
            if probes is None:
                raise UserError("--method deconv needs --probe-images (a .npy array or a folder of images)")
            print(f"deconvnet of {args.layer} over {len(probes)} probe images...", file=sys.stderr)
            result = tb_featviz.deconvnet(model, args.layer, probes, channels, top_k=args.top_k, rule=args.rule,
                                          input_range=input_range)
        else:
            result = tb_featviz.filter_weights(model, args.layer, channels)
    except ConfigurationError as error:
        raise UserError(str(error)) from None
    try:
        if args.out:
            _write_grid(args.out, args.method, result, args.contrast)
        else:
            _write_records(args.logdir, args.layer, args.method, result)
    except OSError as error:
        raise UserError(f"cannot write {args.out or args.logdir}: {error.strerror or error}") from None
    if args.out:
        count = len(result.channels)
        print(f"wrote {args.out} ({count} channel{'s' if count != 1 else ''} of {args.layer})")
    else:
        print(f"wrote {args.method} records of {args.layer} to {args.logdir} (step 0); "
              f"view them with: tensorboard --logdir {args.logdir}")
    return 0


# ---- inputs ---------------------------------------------------------------------------------

def _load_model(path: str):
    if not os.path.exists(path):
        raise UserError(f"no such file: {path}")
    if os.path.isdir(path) or not path.endswith((".keras", ".h5", ".hdf5")):
        raise UserError(f"{path} is not a saved Keras model file (.keras or .h5)")
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds for unreadable files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"could not load {path}: {first_line[:300]}") from None


def _parse_channels(text: str):
    """"all", "0-31", "0,4,9" or "0-7,12" -> "all" or a sorted list of ints."""
    text = text.strip().lower()
    if text == "all":
        return "all"
    channels = set()
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise UserError(f"--channels {text!r}: use e.g. 0-31, 0,4,9 or all")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if high < low:
            raise UserError(f"--channels: range {low}-{high} is empty")
        if high - low >= _MAX_CHANNELS:
            raise UserError(f"--channels: range {low}-{high} is longer than any layer ({_MAX_CHANNELS:,} "
                            "channels at most); use 'all' for every channel")
        channels.update(range(low, high + 1))
    return sorted(channels)


def _parse_class_names(text: str | None):
    if text is None:
        return None
    if text.startswith("@"):
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
    if not low < high:
        raise UserError(f"--input-range {text!r}: LOW must be below HIGH")
    return low, high


def _load_probes(path: str, model, input_range):
    import numpy as np

    if not os.path.exists(path):
        raise UserError(f"no such file or folder: {path}")
    if os.path.isdir(path):
        return _images_from_folder(path, model, input_range)
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as error:
        raise UserError(f"could not read {path} as a .npy array: {error}") from None
    if array.ndim not in (3, 4) or array.shape[0] < 1:
        raise UserError(f"{path}: expected images of shape (n, height, width[, channels]), got {array.shape}")
    if array.dtype.kind in "iu" and input_range is None:
        raise UserError(
            f"{path} holds {array.dtype} images ({array.min()}..{array.max()}); integers do not say which "
            "range the model was trained on. Pass --input-range 0,255 if it takes raw pixels, or save "
            "the probes as floats scaled like its training data (e.g. x / 255)"
        )
    return array[:_MAX_PROBES]  # as the model takes them; the engine checks and converts


def _images_from_folder(folder: str, model, input_range):
    """Every image in `folder`, resized to the model's input, scaled to its input range."""
    import numpy as np
    import tensorflow as tf

    from tb_featviz import inputs

    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(_EXTENSIONS))[:_MAX_PROBES]
    if not names:
        raise UserError(f"{folder} holds no images ({', '.join(_EXTENSIONS)})")
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
        try:
            image = tf.io.decode_image(tf.io.read_file(os.path.join(folder, name)), expand_animations=False)
        except Exception:
            raise UserError(f"could not decode {os.path.join(folder, name)}") from None
        if image.shape[-1] == 4:
            image = image[..., :3]
        if channels == 1 and image.shape[-1] == 3:
            image = tf.image.rgb_to_grayscale(image)
        elif channels == 3 and image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, (height, width), antialias=True)
        images.append(low + (high - low) * tf.clip_by_value(image, 0.0, 1.0).numpy())
    return np.stack(images).astype("float32")  # laid out as the model takes them (checked above)


def _check_output(args) -> None:
    target = args.out or args.logdir
    parent = os.path.dirname(os.path.abspath(target)) if args.out else os.path.abspath(target)
    probe = parent
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK):
        raise UserError(f"cannot write to {target}: {probe} is not a writable folder")
    if args.out and not args.out.lower().endswith(".png"):
        raise UserError(f"--out {args.out}: the grid is a PNG; name it *.png")


# ---- outputs ----------------------------------------------------------------------------------

def _write_grid(path: str, method: str, result, contrast: str = "absolute") -> None:
    import numpy as np

    from tb_featviz import imaging, labels

    channels = list(result.channels)
    if method == "am":
        tiles = result.tiles(contrast)
        names = labels.channel_labels(channels, result.activation, result.dead)
        class_names = result.settings.get("channel_names")
        if class_names:
            names = [f"{label} {name}" for label, name in zip(names, class_names)]
    elif method == "deconv":
        pairs = zip(result.projection_tiles(), result.patch_tiles(contrast=contrast))
        tiles = np.stack([labels.side_by_side(p, q) for p, q in pairs])
        names = labels.channel_labels(channels, result.values[:, 0], result.dead)
    else:
        tiles = result.tiles()
        names = labels.channel_labels(channels, result.norm)
    size = max(tiles.shape[1:3])
    scale = max(1, 96 // size)
    grid = labels.labelled_grid(tiles, names, scale=scale)
    for caption in reversed(_captions(method, result, contrast)):
        grid = labels.captioned(grid, caption)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(imaging.encode_png(grid))


def _captions(method: str, result, contrast: str) -> list:
    """What the grid shows, written above it: how a picture was made is part of the picture."""
    captions = []
    if method == "am":
        captions.append(f"MAXIMIZED: {result.target.split(':')[0].split(',')[0]}".upper())
    elif method == "deconv":
        captions.append(f"RULE: {result.rule}  LEFT: PROJECTIONS (GRAY = 0)  RIGHT: IMAGE PATCHES".upper())
    else:
        captions.append("STAMPS (WHAT ONE INPUT UNIT ADDS)" if result.orientation == "stamp" else "FILTERS (GRAY = 0)")
    if contrast == "stretch" and method != "weights":
        captions.append("CONTRAST STRETCHED PER TILE")
    return captions


def _write_records(logdir: str, layer: str, method: str, result) -> None:
    import tensorflow as tf

    from tb_featviz import summary

    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        {"am": summary.activation_maximization, "deconv": summary.deconvnet,
         "weights": summary.filter_weights}[method](layer, result, step=0)
    writer.close()


def _progress_bar(title: str):
    """A progress callback drawing a Keras progress bar on stderr once rendering starts."""
    state = {}

    def update(done: int, total: int) -> None:
        import keras

        if "bar" not in state:
            print(title, file=sys.stderr)
            state["bar"] = keras.utils.Progbar(total, unit_name="step")
        state["bar"].update(done)

    return update


def _output_shape(layer) -> str:
    try:
        return str(tuple(layer.output.shape))
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
