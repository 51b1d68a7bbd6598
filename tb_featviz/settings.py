"""Everything a user chose that methods read, checked once where it is given.

What every method may read (probe images and labels, the input range, class names) are fields;
what only one method reads is its options object in `options[method name]` (each method's
package defines its options type: `AMOptions`, `DeconvOptions`, ...). A method without options
given gets its defaults.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Iterable
from typing import Any, Callable, Mapping, Optional

import numpy as np

from tb_featviz import inputs, methods
from tb_featviz.errors import ConfigurationError

MAX_CLASSES = 10**7  # no classifier has more; larger "labels" are not class indices


@dataclasses.dataclass(frozen=True)
class Settings:
    """The user's settings; make them with `Settings.checked`, which checks every field."""

    probe_images: Optional[np.ndarray] = None  # as the model takes them
    probe_labels: Optional[np.ndarray] = None  # (n,) int, one per probe image
    label_width: Optional[int] = None  # the classes one-hot labels were given for (None: indices)
    input_range: Optional[tuple] = None
    preprocess: Optional[Callable] = None
    image_size: Optional[tuple] = None
    class_names: Optional[tuple] = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=lambda: types.MappingProxyType({}))

    @classmethod
    def checked(
        cls,
        *,
        probe_images=None,
        probe_labels=None,
        input_range=None,
        preprocess=None,
        image_size=None,
        class_names=None,
        options: Optional[Mapping[str, Any]] = None,
    ) -> "Settings":
        value_range = inputs.check_value_range(input_range)
        images = None if probe_images is None else inputs.check_probe_images(probe_images, value_range)
        return cls(
            probe_images=images,
            probe_labels=check_labels(probe_labels, images),
            label_width=int(np.shape(probe_labels)[1]) if np.ndim(probe_labels) == 2 and np.shape(probe_labels)[1] > 1
            else None,
            input_range=value_range,
            preprocess=inputs.check_preprocess(preprocess),
            image_size=inputs.check_image_size(image_size),
            class_names=check_class_names(class_names),
            options=check_options(options),
        )

    def options_of(self, method: str):
        """The options of `method`: as given, else its defaults."""
        given = self.options.get(method)
        return given if given is not None else methods.get(method).default_options()

    def replace_options(self, method: str, options) -> "Settings":
        """These settings with other options for one method (checked)."""
        return dataclasses.replace(self, options=check_options({**self.options, method: options}))

    def input_spec(self, model):
        """The model's input as every method sees it (`inputs.for_model`, the one place)."""
        return inputs.for_model(model, image_size=self.image_size, value_range=self.input_range,
                                preprocess=self.preprocess, probe_images=self.probe_images)


def check_options(options: Optional[Mapping[str, Any]]) -> Mapping[str, Any]:
    """{method name: its options}: known methods, each value of its method's options type."""
    if options is None:
        return types.MappingProxyType({})
    if not isinstance(options, Mapping):
        raise ConfigurationError(f"options must be a dict {{method name: its options}}, got {type(options).__name__}")
    for name, value in options.items():
        if value is not None:
            methods.get(name).check_options(value)
    return types.MappingProxyType({name: value for name, value in options.items() if value is not None})


def options_from_arguments(options: Optional[Mapping[str, Any]], **arguments) -> dict:
    """{method: options} from an `options` dict and the callback's older per-method arguments
    (`am=`, `occlusion=`, `top_k=`, `deconv_rule=`); each method reads the arguments it owns.
    The same method's options given both ways is an error."""
    chosen = dict(check_options(options))
    for method in methods.REGISTRY.values():
        from_arguments = method.options_from_arguments(arguments)
        if from_arguments is None:
            continue
        if method.name in chosen:
            owned = ", ".join(f"{name}=" for name in method.arguments)
            raise ConfigurationError(f"options of {method.name!r} given twice: in options and as {owned}")
        chosen[method.name] = from_arguments
    return chosen


def check_labels(labels, images: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """Probe labels as (n,) ints: class indices, or one-hot / probability rows (their argmax)."""
    if labels is None:
        return None
    if images is None:
        raise ConfigurationError("probe_labels need probe_images (the images they label)")
    try:
        array = np.asarray(labels)
    except (TypeError, ValueError):
        raise ConfigurationError("probe_labels must be an array of class indices, one per probe image") from None
    if array.dtype == bool or array.dtype.kind not in "fiu":
        raise ConfigurationError(f"probe_labels must hold class indices (ints), got dtype {array.dtype}")
    if array.ndim == 2 and array.shape[1] == 0:
        raise ConfigurationError(f"probe_labels of shape {array.shape} hold no class")
    if array.ndim == 2 and array.shape[1] > 1:
        if not (np.all(np.isfinite(array)) and np.all(array >= 0)):
            raise ConfigurationError("probe_labels rows must be one-hot or class probabilities (finite, >= 0)")
        empty = np.flatnonzero(array.max(axis=1) == 0)  # argmax would call them class 0
        if empty.size:
            rows = f" ({empty.size} rows are)" if empty.size > 1 else ""
            raise ConfigurationError(f"probe_labels row {empty[0]} is all zeros{rows}: it names no class; "
                                     "one-hot rows need a 1 at their class")
        array = np.argmax(array, axis=1)  # one-hot rows, as `fit` takes them for categorical losses
    elif array.ndim == 2:
        array = array[:, 0]
    if array.ndim != 1:
        raise ConfigurationError(f"probe_labels must have shape (n,) or (n, classes), got {np.shape(labels)}")
    if len(array) != len(images):
        raise ConfigurationError(
            f"probe_labels has {len(array)} labels for {len(images)} probe images (images are "
            f"(n, height, width, channels): one image is images[None])"
        )
    if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
        raise ConfigurationError("probe_labels must be whole class indices")
    if np.any(array < 0):
        raise ConfigurationError(f"probe_labels must be class indices >= 0, got {array.min()}")
    if array.size and array.max() >= MAX_CLASSES:
        raise ConfigurationError(f"probe_labels hold class {array.max():g}; class indices are below {MAX_CLASSES:,}")
    return array.astype(np.int64)


def check_class_names(class_names) -> Optional[tuple]:
    """The user's class names as a tuple of strings (None stays None)."""
    if class_names is None:
        return None
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, Iterable):
        raise ConfigurationError(
            f"class_names must be a list of strings, one per class unit; got {type(class_names).__name__}"
        )
    names = tuple(class_names)
    if not names or not all(isinstance(n, (str, np.str_)) for n in names):
        raise ConfigurationError("class_names must be a non-empty list of strings, one per class unit")
    if len(names) > 1_000_000:
        raise ConfigurationError(f"class_names has {len(names)} entries; at most 1,000,000")
    blank = [i for i, name in enumerate(names) if not str(name).strip()]
    if blank:
        raise ConfigurationError(f"class_names[{blank[0]}] is blank: every class unit needs a name to be told "
                                 "apart by")
    return tuple(str(n) for n in names)
