"""What `tb-featviz` reads: the model file, probe images (a .npy array or a folder), labels,
class names, channel lists and ranges. Every check happens before the data is read in full: a
pipe, a device, a zip bomb or an image bomb is refused from its header, in one line."""

from __future__ import annotations

import os
import re
import stat

from tb_featviz.cli.errors import UserError, one_line

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
MAX_PROBES = 1024
_MAX_IMAGE_PIXELS = 40_000_000  # per probe image file, read from its header before it is decoded
_MAX_NAMES_BYTES = 1_000_000  # --class-names @FILE
_MAX_CONFIG_BYTES = 64 * 2**20  # a .keras archive's config.json, unpacked
_MAX_MODEL_BYTES = 8 * 2**30  # a .keras archive, unpacked
_MAX_EXPANSION = 100  # Keras stores members (1:1); DEFLATE reaches about 1000:1 on a run of zeros
_EXPANSION_FLOOR = 64 * 2**20  # smaller members unpack in moments, however compressed
_MAX_PROBE_BYTES = 2 * 2**30  # the probe images kept, as float32
_MAX_CHANNELS = 1_000_000


def regular_file(path: str, what: str) -> None:
    """A plain file: a pipe would block the read forever, a device (/dev/zero) never end."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise UserError(f"{what} {path}: {error.strerror or error}") from None
    if stat.S_ISDIR(mode):
        raise UserError(f"{what} {path} is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise UserError(f"{what} {path} is not a regular file (a pipe or a device?)")


def load_model(path: str):
    if not os.path.lexists(path):
        raise UserError(f"no such file: {path}")
    if os.path.isdir(path) or not path.endswith((".keras", ".h5", ".hdf5")):
        raise UserError(f"{path} is not a saved Keras model file (.keras or .h5)")
    regular_file(path, "model")
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
            return f"the .keras archive is damaged or uses an unsupported zip feature ({one_line(str(error))[:200]})"
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
            return (f"{one_line(info.filename)[:100]} unpacks to {info.file_size:,} bytes from {info.compress_size:,} "
                    f"({info.file_size // max(1, info.compress_size):,}:1; saved models store their weights "
                    "uncompressed): a zip bomb?")
    if total > _MAX_MODEL_BYTES:
        return f"it unpacks to {total:,} bytes, more than {_MAX_MODEL_BYTES:,} (8 GiB)"
    return None


def parse_channels(text: str):
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


def load_labels(path: str):
    import numpy as np

    if not os.path.exists(path):
        raise UserError(f"no such file: {path}")
    if os.path.isdir(path):
        raise UserError(f"--labels {path} is a folder; give a .npy array of class indices")
    regular_file(path, "--labels")
    _npy_or_zip(path, "--labels", "a .npy array of class indices")
    try:
        labels = np.load(path, allow_pickle=False, mmap_mode="r")
    except Exception as error:
        raise UserError(f"could not read {path} as a .npy array: {str(error)[:200]}") from None
    if not isinstance(labels, np.ndarray):
        labels.close()
        raise UserError(f"{path} is a zip archive, not a .npy array; save the labels with numpy.save")
    return np.array(labels[: MAX_PROBES + 1]), len(labels)  # the rest is never read


def parse_class_names(text: str | None):
    if text is None:
        return None
    if text.startswith("@"):
        regular_file(text[1:], "--class-names")
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


def parse_range(text: str) -> tuple:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--input-range {text!r}: use LOW,HIGH, e.g. 0,255") from None
    if not all(-1e30 <= v <= 1e30 for v in (low, high)):
        raise UserError(f"--input-range {text!r}: LOW and HIGH must be finite numbers of magnitude at most 1e30")
    if not low < high:
        raise UserError(f"--input-range {text!r}: LOW must be below HIGH")
    return low, high


def load_probes(path: str, model, input_range):
    import numpy as np

    if not os.path.exists(path):
        raise UserError(f"no such file or folder: {path}")
    if os.path.isdir(path):
        return _images_from_folder(path, model, input_range)  # (images, count of images in the folder)
    regular_file(path, "--probe-images")
    _npy_or_zip(path, "--probe-images", "a .npy array or a folder of images")
    _check_declared_probes(path, model)
    try:  # mapped: only the images kept are read
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except Exception as error:
        raise UserError(f"could not read {path} as a .npy array: {one_line(str(error))[:200]}") from None
    if not isinstance(array, np.ndarray):  # np.load opens any zip (.npz, .keras) as an archive
        array.close()
        raise UserError(f"{path} is a zip archive, not a .npy array; save the probe images with numpy.save")
    if array.ndim not in (3, 4) or array.shape[0] < 1:
        raise UserError(f"{path}: expected images of shape (n, height, width[, channels]), got {array.shape}")
    if array.dtype.kind in "iu" and input_range is None:
        kept = array[:MAX_PROBES]
        raise UserError(
            f"{path} holds {array.dtype} images ({kept.min()}..{kept.max()}); integers do not say which "
            "range the model was trained on. Pass --input-range 0,255 if it takes raw pixels, or save "
            "the probes as floats scaled like its training data (e.g. x / 255)"
        )
    return np.array(array[:MAX_PROBES]), len(array)  # as the model takes them; the engine checks them


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
        raise UserError(f"could not read {path} as a .npy array: {one_line(str(error))[:200]}") from None
    if len(shape) not in (3, 4) or shape[0] < 1:
        raise UserError(f"{path}: expected images of shape (n, height, width[, channels]), got {shape}")
    image = tuple(shape[1:]) + ((1,) if len(shape) == 3 else ())
    declared = declared_input_shape(model)
    if declared is not None and len(declared) == 3 and any(d is not None and d != n for d, n in zip(declared, image)):
        raise UserError(f"--probe-images have shape {image}, the model takes {declared}")
    kept = min(shape[0], MAX_PROBES)
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

    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(EXTENSIONS))
    count = len(names)
    if not names:
        raise UserError(f"{folder} holds no images ({', '.join(EXTENSIONS)})")
    names = names[:MAX_PROBES]
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
        regular_file(path, "probe image")
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
