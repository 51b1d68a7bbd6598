"""The summary format: the one contract between the engine and the TensorBoard plugin.

The writer (`tb_featviz.summary`, TensorFlow side) and the reader (`tb_featviz.plugin`, TensorFlow
free) both import this module and nothing of each other. docs/FORMAT.md describes the same format
for people.

One record = one summary value with
  * tag ``"<layer>/<method>"`` and step = the global training step (the optimizer's iteration
    count; version 1: the epoch);
  * ``SummaryMetadata.plugin_data``: plugin name ``featviz`` and a small JSON ``content``
    ``{"version": 3, "layer": ..., "method": ..., "format": {...}}`` (the method's `MethodFormat`:
    how a reader names its records; a method this reader does not know is read by it);
    data class BLOB_SEQUENCE;
  * a rank-1 string tensor: element 0 is the JSON *header* (channels, per-channel numbers,
    settings, and the record's `position` in training: epoch with its fraction), elements 1..
    are PNG images, ``len(roles)`` per channel, channel-major.

This module depends only on the standard library and TensorBoard's protobuf definitions.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any, Mapping, Optional, Sequence

PLUGIN_NAME = "featviz"

# Bump when a reader written for the old version would misread new records. Readers accept
# records up to their own version and report newer ones as unsupported instead of guessing.
# Version 2: step = global step (was: epochs completed), the epoch is in the header's position.
# Version 3: the plugin content carries the method's format, so methods a reader does not know
# (added with `tb_featviz.methods.register`) are read and shown by it.
# Version 4: a method's elements may be arrays instead of PNG images (`MethodFormat.elements`).
# Each record is written with the oldest version that reads it right (`MethodFormat.version`):
# records of PNGs stay version 3, so a version 3 reader still shows them, and refuses (as newer)
# only the records of arrays, which it would otherwise take for broken images.
FORMAT_VERSION = 4

# What the elements after the header are (a method's `MethodFormat.elements`).
PNG = "png"  # PNG images (every version)
# Version 4: the bytes of a NumPy .npy file (format 1.0: its magic, then a header stating dtype
# and shape) holding a C-ordered little-endian float32 array ("<f4"); never objects or pickles.
ARRAY = "array"
ELEMENTS = (PNG, ARRAY)
ARRAY_MAGIC = b"\x93NUMPY"
ARRAY_DTYPE = "<f4"
# An array role of this name holds a centred Gram matrix of the probe images' activations (the
# layout says how it is stored, `GRAM_FORMS`): records holding one are compared by linear CKA
# (the plugin's /cka route). "upper": the upper triangle with the diagonal, row by row, a 1-D
# array of n (n + 1) / 2 values; "factor": an (n, r) array F with K = F F^T (the centred
# features themselves, stored when a layer has fewer features than half the probes).
GRAM_ROLE = "gram"
GRAM_FORMS = ("upper", "factor")

METHOD_AM = "am"
METHOD_DECONV = "deconv"
METHOD_WEIGHTS = "weights"
METHOD_OCCLUSION = "occlusion"
METHOD_SALIENCY = "saliency"
METHOD_GRADCAM = "gradcam"
METHOD_INTEGRATED_GRADIENTS = "integrated_gradients"
METHOD_SIMILARITY = "similarity"


@dataclasses.dataclass(frozen=True)
class MethodFormat:
    """What a method's records hold and how a reader names them: the method's part of the contract.

    Every record carries its method's format in its plugin content (version 3); the plugin and the
    dashboard read every field from there (sent in `/runs`), or, for records of older versions,
    from `FORMATS` below. A method of one's own declares its format (`Method.format`).
    """

    name: str
    label: str  # the method's name in the dashboard, e.g. "Deconvnet"
    roles: tuple  # the images a record may hold per item, in blob order
    headline: str  # the number shown on each tile
    meaning: str  # what that number is, in words (legends and tooltips)
    missing: str  # why a layer may have no records of this method (a hint on its button)
    item: str = "channel"  # what one entry of the header's `channels` is
    role_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)  # words per role
    # Roles drawn in the input's value range, which a viewer may stretch per tile (AM images,
    # image patches); signed pictures and colour maps are drawn on their own scale already.
    stretchable: tuple = ()
    elements: str = PNG  # what each role's element is: PNG images, or (version 4) ARRAY

    def __post_init__(self) -> None:
        if self.elements not in ELEMENTS:
            raise FormatError(f"a format's elements are one of {list(ELEMENTS)}, got {self.elements!r}")
        if self.elements != PNG and self.stretchable:
            raise FormatError("only PNG images can be stretched")

    @property
    def version(self) -> int:
        """The format version of this method's records: the oldest whose readers read them right."""
        return 3 if self.elements == PNG else 4

    def describe(self) -> dict:
        return {
            "name": self.name, "label": self.label, "roles": list(self.roles), "headline": self.headline,
            "meaning": self.meaning, "missing": self.missing, "item": self.item,
            "role_labels": {role: self.role_labels.get(role, role) for role in self.roles},
            "stretchable": list(self.stretchable), "elements": self.elements,
        }

    @classmethod
    def from_description(cls, name: str, described: Any, version: int = FORMAT_VERSION) -> "MethodFormat":
        """A format as `describe` gives it, read from a record of `version`: every field checked
        (names are plain identifiers, words bounded), FormatError otherwise."""
        if not isinstance(described, dict):
            raise FormatError("the record's format is not a JSON object")
        elements = described.get("elements", PNG)
        if elements not in ELEMENTS:
            raise FormatError(f"the record's elements are one of {list(ELEMENTS)}, not {str(elements)[:40]!r}")
        if elements != PNG and version < 4:
            raise FormatError(f"a version {version} record cannot hold {elements}s (they came with version 4)")
        roles = described.get("roles")
        if (not isinstance(roles, list) or not 1 <= len(roles) <= _MAX_ROLES
                or not all(isinstance(r, str) and _IDENTIFIER.fullmatch(r) for r in roles) or len(set(roles)) != len(roles)):
            raise FormatError(f"the record's format has no valid roles (1 to {_MAX_ROLES} names): {roles!r}"[:200])
        words = {key: described.get(key) for key in ("label", "headline", "meaning", "missing", "item")}
        if not all(isinstance(v, str) and 0 < len(v) <= _MAX_WORDS for v in words.values()):
            raise FormatError("the record's format lacks label, headline, meaning, missing or item (strings)")
        labels = described.get("role_labels", {})
        stretchable = described.get("stretchable", [])
        if (not isinstance(labels, dict) or not all(r in roles and isinstance(v, str) and len(v) <= _MAX_WORDS
                                                    for r, v in labels.items())
                or not isinstance(stretchable, list) or not all(r in roles for r in stretchable)):
            raise FormatError("the record's format has role labels or stretchable roles that are not its roles")
        if elements != PNG and stretchable:
            raise FormatError("the record's format stretches arrays")
        return cls(name, words["label"], tuple(roles), words["headline"], words["meaning"], words["missing"],
                   words["item"], dict(labels), tuple(r for r in roles if r in stretchable), elements)


FORMATS = {
    f.name: f
    for f in (
        MethodFormat(
            METHOD_AM, "Activation max.", ("image",), "activation", "the activation the AM image reached",
            "no activation-maximization records for this layer", role_labels={"image": "AM image"},
            stretchable=("image",),
        ),
        MethodFormat(
            METHOD_DECONV, "Deconvnet", ("projections", "patches"), "activation",
            "the strongest activation on the probe images",
            "no deconvnet records: pass probe_images=... to FeatVizCallback",
            role_labels={"projections": "projection", "patches": "image patch"}, stretchable=("patches",),
        ),
        MethodFormat(
            METHOD_WEIGHTS, "Weights", ("filter",), "norm", "the filter's L2 norm",
            "this layer has no filter weights to show", role_labels={"filter": "filter weights"},
        ),
        MethodFormat(
            METHOD_OCCLUSION, "Occlusion", ("heatmap", "classes"), "score",
            "the unoccluded image's score: the probability of its true class (output layer), "
            "or the strongest feature map's total activation",
            "no occlusion records: pass probe_labels=... (with probe_images) to FeatVizCallback",
            item="image", role_labels={"heatmap": "score", "classes": "class"},
        ),
        *(MethodFormat(
            name, label, ("overlay", "map"), "score",
            "the score of the class the map explains: its logit (before the softmax)",
            f"no {label} records for this layer: it runs {where}, when FeatVizCallback has probe_labels=... "
            "(with probe_images)",
            item="image", role_labels={"overlay": "over the image", "map": "map"},
        ) for name, label, where in (
            (METHOD_SALIENCY, "Saliency", "on the model's output layer"),
            (METHOD_GRADCAM, "Grad-CAM", "on conv layers"),
            (METHOD_INTEGRATED_GRADIENTS, "Integrated gradients", "on the model's output layer"),
        )),
        MethodFormat(
            METHOD_SIMILARITY, "Similarity", (GRAM_ROLE,), "variance",
            "the layer's total variance over the probe images (the trace of its centred Gram matrix / n)",
            "no similarity records: pass probe_images=... to FeatVizCallback",
            item="layer", role_labels={GRAM_ROLE: "centred Gram matrix"}, elements=ARRAY,
        ),
    )
}
# The built-in methods, in the order they run. Records of other methods carry their own format.
METHODS = tuple(FORMATS)

# Which images each built-in method may store per item, in blob order (a record lists the ones it
# holds in its header's `roles`: an occlusion record of a feature layer has no class map).
ROLES = {name: f.roles for name, f in FORMATS.items()}

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,63}")
_MAX_ROLES = 8
_MAX_WORDS = 500  # characters of a format's label, meaning, ...

HEADER_INDEX = 0
# Channel indices are below this (the plugin's routes take up to 12 digits).
MAX_CHANNEL_INDEX = 10**12
# A record's step (a global step) is in 0..MAX_STEP: a JavaScript number (the page's) holds it
# exactly. Readers leave records at other steps out.
MAX_STEP = 2**53
# No record has more elements than this (a header and 2 images for each of 100,000 channels).
MAX_RECORD_LENGTH = 1 + 2 * 100_000
# No header or plugin content nests deeper than this (an occlusion header's scores, the deepest,
# are 5 levels: header, numbers, scores, image, row). Checked once, when JSON is decoded, so
# nothing that reads a decoded record ever recurses into a crafted one.
MAX_NESTING = 32


class FormatError(ValueError):
    """A record that does not follow this format (or follows a newer one)."""


def make_tag(layer: str, method: str) -> str:
    """The tag of a (layer, method) series. Readers use the content, not the tag, as truth."""
    return f"{layer}/{method}"


def check_method_name(name: Any) -> str:
    """A method's name: lower-case letters, digits and _, starting with a letter (it is a tag's
    last part and a URL parameter)."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise FormatError(f"a method's name is lower-case letters, digits and _, starting with a letter: {name!r}")
    return name


def format_of(method: str, format: Optional[MethodFormat] = None) -> MethodFormat:
    """`format`, else the built-in method's; a method of one's own must give its format."""
    if format is not None:
        if not isinstance(format, MethodFormat) or format.name != method:
            raise FormatError(f"the format given for method {method!r} is not a MethodFormat named {method!r}")
        return format
    if method not in FORMATS:
        raise FormatError(f"method {method!r} is not built in: give its MethodFormat; built in: {list(METHODS)}")
    return FORMATS[method]


def create_summary_metadata(layer: str, method: str, format: Optional[MethodFormat] = None):
    """A `SummaryMetadata` proto marking a record of this plugin as a blob sequence; its content
    carries the method's format (`format`, else the built-in method's)."""
    from tensorboard.compat.proto import summary_pb2

    format = format_of(check_method_name(method), format)
    content = json.dumps(
        {"version": format.version, "layer": layer, "method": method, "format": format.describe()}, sort_keys=True
    ).encode("utf-8")
    return summary_pb2.SummaryMetadata(
        display_name=f"{layer} · {method}",
        summary_description=f"tb-featviz {method} of layer {layer}",
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=content
        ),
        data_class=summary_pb2.DATA_CLASS_BLOB_SEQUENCE,
    )


def parse_plugin_content(content: bytes) -> dict:
    """Layer, method, version and the method's `format` (a MethodFormat) from
    `plugin_data.content`; raises FormatError if unreadable. The format is the record's own
    (version 3), else the built-in method's."""
    info = _loads(content, "plugin content")
    version = info.get("version")
    if not isinstance(version, int) or version < 1:
        raise FormatError(f"plugin content has no valid version: {version!r}")
    if version > FORMAT_VERSION:
        raise FormatError(
            f"records of format version {version} are newer than this reader ({FORMAT_VERSION}); "
            "upgrade tb-featviz"
        )
    layer, method = info.get("layer"), info.get("method")
    if not isinstance(layer, str) or not isinstance(method, str) or not _IDENTIFIER.fullmatch(method):
        raise FormatError(f"plugin content names no valid layer/method: {info!r}"[:300])
    if "format" in info:
        format = MethodFormat.from_description(method, info["format"], version)
    elif method in FORMATS:
        format = FORMATS[method]
    else:
        raise FormatError(f"plugin content names method {method!r} without its format")
    return {"version": version, "layer": layer, "method": method, "format": format}


def encode_header(
    *,
    layer: str,
    method: str,
    channels: Sequence[int],
    numbers: Mapping[str, Sequence[Any]],
    image_shape: Sequence[int],
    settings: Mapping[str, Any] | None = None,
    layout: Mapping[str, Any] | None = None,
    roles: Optional[Sequence[str]] = None,
    format: Optional[MethodFormat] = None,
) -> bytes:
    """The JSON header stored as element 0 of a record (`format`: a method's own; default the
    built-in method's).

    `numbers` maps a name (e.g. "activation", "dead") to one value per channel; NaN and
    infinities become null so that every JSON reader accepts the header. `layout` describes how
    a channel's image is composed (e.g. deconv's k tiles in a grid). `roles` are the images each
    channel has, in blob order: the method's roles (default) or some of them in that order.
    """
    format = format_of(check_method_name(method), format)
    roles = check_roles(format, format.roles if roles is None else roles)
    channels = [int(c) for c in channels]
    per_channel = {}
    for name, values in numbers.items():
        values = list(values)
        if len(values) != len(channels):
            raise FormatError(
                f"numbers[{name!r}] has {len(values)} values for {len(channels)} channels"
            )
        per_channel[name] = [_json_safe(v) for v in values]
    header = {
        "version": format.version,
        "layer": layer,
        "method": method,
        "roles": list(roles),
        "channels": channels,
        "numbers": per_channel,
        "image_shape": [int(s) for s in image_shape],
        "layout": _json_safe(dict(layout or {})),
        "settings": _json_safe(dict(settings or {})),
    }
    return json.dumps(header, sort_keys=True, allow_nan=False).encode("utf-8")


def decode_header(data: bytes, format: Optional[MethodFormat] = None) -> dict:
    """Inverse of `encode_header`; raises FormatError for malformed or newer headers. `format`:
    the record's (from its plugin content); default the built-in method's."""
    header = _loads(data, "record header")
    version = header.get("version")
    if not isinstance(version, int) or version < 1:
        raise FormatError("record header has no valid version")
    if version > FORMAT_VERSION:
        raise FormatError(f"record header version {version} is newer than {FORMAT_VERSION}")
    method = header.get("method")
    if format is not None and method != format.name:
        format = None  # a record that contradicts itself: its reader names the contradiction
    if format is None and method not in FORMATS:
        raise FormatError(f"record header names method {method!r}, which is not its record's")
    format = format or FORMATS[method]
    channels = header.get("channels")
    if not isinstance(channels, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c < MAX_CHANNEL_INDEX for c in channels
    ):
        raise FormatError(f"record header has no list of channel indices in [0, {MAX_CHANNEL_INDEX})")
    numbers = header.get("numbers")
    if not isinstance(numbers, dict) or any(
        not isinstance(v, list) or len(v) != len(channels) for v in numbers.values()
    ):
        raise FormatError("record header numbers do not match its channels")
    header["numbers"] = _json_safe(numbers)  # an infinity in a crafted header reads as null
    header["roles"] = list(check_roles(format, header.get("roles", format.roles)))
    return header


# When in training a record was made (header key "position", version 2).
MOMENTS = ("start", "batch", "epoch_end", "end")


def make_position(
    global_step: int,
    *,
    epoch: Optional[float] = None,
    epochs_completed: Optional[int] = None,
    batch: Optional[int] = None,
    steps_per_epoch: Optional[int] = None,
    moment: Optional[str] = None,
) -> dict:
    """A record's place in training: the global step (also the event's step), the epoch as a
    fraction (epochs completed + batch / steps_per_epoch; None while the epoch's length is
    unknown), the whole epochs completed, the batches run in the epoch in progress, and which
    moment it was (MOMENTS: before training, after a batch, at an epoch's end, at the end)."""
    if moment is not None and moment not in MOMENTS:
        raise FormatError(f"unknown moment {moment!r}; moments: {list(MOMENTS)}")
    return _json_safe({
        "global_step": int(global_step), "epoch": None if epoch is None else float(epoch),
        "epochs_completed": epochs_completed, "batch": batch, "steps_per_epoch": steps_per_epoch,
        "moment": moment,
    })


def placed(header: bytes, position: Mapping[str, Any]) -> bytes:
    """A header (bytes) with its `position` set: records are made before it is known when
    they will be written."""
    decoded = _loads(header, "record header")
    decoded["position"] = _json_safe(dict(position))
    return json.dumps(decoded, sort_keys=True, allow_nan=False).encode("utf-8")


def read_position(header: Mapping[str, Any], step: int) -> dict:
    """A record's position as a reader uses it: {"epoch", "epochs_completed", "batch",
    "steps_per_epoch", "moment"}; unknown or malformed fields are None. Version 1 records were
    written at step = epochs completed, so their epoch is the step."""
    if header.get("version") == 1:
        return {"epoch": float(step), "epochs_completed": int(step), "batch": 0, "steps_per_epoch": None,
                "moment": None}
    raw = header.get("position")
    raw = raw if isinstance(raw, dict) else {}

    def count(name):
        value = raw.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 else None

    epoch = raw.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, (int, float)) or not 0 <= epoch < 2**53:
        epoch = None  # NaN fails the comparison too; a 400-digit int never reaches float()
    else:
        epoch = float(epoch)
    moment = raw.get("moment") if raw.get("moment") in MOMENTS else None
    return {"epoch": epoch, "epochs_completed": count("epochs_completed"), "batch": count("batch"),
            "steps_per_epoch": count("steps_per_epoch") or None, "moment": moment}


def check_roles(format: MethodFormat, roles: Any) -> tuple:
    """A record's roles: a non-empty selection of the method's roles, in the method's order."""
    method, allowed = format.name, format.roles
    if (
        not isinstance(roles, (list, tuple))
        or not roles
        or not all(isinstance(r, str) and r in allowed for r in roles)
        or list(roles) != [r for r in allowed if r in roles]
    ):
        raise FormatError(f"record roles {roles!r} are not a selection of {method!r}'s roles {list(allowed)}")
    return tuple(roles)


def blob_index(channel_position: int, role: str, roles: Sequence[str]) -> int:
    """Index in the record's blob sequence of the image of `role` for the channel at `position`
    (`roles`: the record's header roles)."""
    if role not in roles:
        raise FormatError(f"this record has no image role {role!r}; roles: {list(roles)}")
    return 1 + channel_position * len(roles) + list(roles).index(role)


def expected_length(num_channels: int, roles: Sequence[str]) -> int:
    """Number of elements of a complete record: header plus every channel's images."""
    return 1 + num_channels * len(roles)


def _loads(data: bytes, what: str) -> dict:
    # Only bytes: bytes(n) of an integer (a numeric tensor read as a blob) would allocate n bytes.
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FormatError(f"{what} is not a string element but {type(data).__name__}")
    try:
        value = json.loads(bytes(data).decode("utf-8"))
    except RecursionError:  # the parser's own stack: deeper than MAX_NESTING anyway
        raise FormatError(f"{what} is nested deeper than {MAX_NESTING} levels") from None
    except (UnicodeDecodeError, ValueError, TypeError) as error:
        raise FormatError(f"{what} is not valid JSON: {str(error)[:120]}") from None
    if not isinstance(value, dict):
        raise FormatError(f"{what} is not a JSON object")
    _check_nesting(value, what)
    return value


def _check_nesting(value: dict, what: str) -> None:
    """Refuses JSON nested deeper than MAX_NESTING, level by level (no recursion)."""
    level = [value]
    for _ in range(MAX_NESTING):
        level = [child for container in level
                 for child in (container.values() if isinstance(container, dict) else container)
                 if isinstance(child, (dict, list))]
        if not level:
            return
    raise FormatError(f"{what} is nested deeper than {MAX_NESTING} levels")


def _json_safe(value: Any) -> Any:
    """Plain JSON types only: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)
