"""Activation maximization for many channels at once: the one loop that ties the pieces together.

Batch element i optimizes channel ``channels[i]``; elements never interact, so one traced step
does the work of a per-channel loop (and gives the same numbers, which the tests check). Adam is
written out here, with Keras's own formulas, so no optimizer object or global state is created.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional, Sequence

import numpy as np
from keras import ops

from tb_featviz import backend, backward, imaging, liveness, nonlinearity
from tb_featviz.methods.am import objectives, parameterizations
from tb_featviz.methods.am.options import AMOptions
from tb_featviz.methods.am.transforms import gaussian_blur, warp
from tb_featviz.errors import ConfigurationError
from tb_featviz.inputs import InputSpec
from tb_featviz.target import OUTPUT, Target

_BETA_1, _BETA_2, _EPSILON = 0.9, 0.999, 1e-7
_BATCH_BUCKET = 8  # the dead search's batches are padded to a multiple of this to avoid retracing
@dataclasses.dataclass
class AMResult:
    """Per chosen channel: the image found and what it achieved."""

    channels: np.ndarray  # (n,) int
    images: np.ndarray  # (n, h, w, c) float in [0, 1] (the model's input range mapped there)
    activation: np.ndarray  # (n,) the layer's output for the channel on the final image
    objective: np.ndarray  # (n,) what was maximized (`maximized`) on the final image
    start_activation: np.ndarray  # (n,) the layer's output on the seeded start image
    dead: np.ndarray  # (n,) bool: the channel's output was the same value on every test image
    steps_run: np.ndarray  # (n,) int
    maximized: str = "output"  # target.PRE_ACTIVATION or OUTPUT
    target: str = ""  # what was maximized, in words: "pre-activation (before relu)"
    dead_test: str = ""  # which images the dead test used
    settings: dict = dataclasses.field(default_factory=dict)  # how it was made, for the record
    copies: int = 1  # images per channel: channels repeat, each channel's images consecutive

    def record(self, layer: str):
        """This result as the record FeatVizCallback writes (`tb_featviz.summary.write`)."""
        from tb_featviz.methods.am.record import am_record

        return am_record(layer, self)

    def tiles(self, contrast: str = imaging.ABSOLUTE) -> np.ndarray:
        """(n, H, W, 1|3) uint8: each image as the model sees it (white is white), or with
        contrast="stretch" stretched on its own so faint features show. Dead channels keep
        their image: DEAD is a flag in the record, never a colour a real image could have."""
        return np.stack([imaging.displayable(imaging.to_uint8(image, contrast)) for image in self.images]) \
            if len(self.images) else np.zeros((0,) + self.images.shape[1:], np.uint8)


class ActivationMaximizer:
    """Optimizes images for channels of one layer; reusable across epochs (traces once).

    `liveness_images` (model layout and range, e.g. the probe images) decide which channels are
    dead; without them a fixed set of varied test images and the final AM images do.
    """

    def __init__(self, target: Target, input_spec: InputSpec, options: AMOptions, selected=None,
                 liveness_images: Optional[np.ndarray] = None, path: Optional[list] = None,
                 settings: Optional[dict] = None):
        """`selected`: a `SelectedChannelsForward` for the layer, used when options allow.
        `path`: the nonlinear steps between the input and the layer (`backward.steps_on_path`);
        none means its pre-activation is an affine function of the image (options.maximize).
        `settings`: what every result's record says about how it was made."""
        self._settings = {**dict(settings or {}), **options.settings()}
        objective = options.full_objective()
        if options.images_per_channel > 1 and not objective.per_channel:
            raise ConfigurationError("images_per_channel > 1 needs an objective of the channel (its images would be "
                                     "the same objective from different starts; use the channel)")
        if objective.needs_copies and options.images_per_channel < 2:
            raise ConfigurationError(f"objective {objective.description} compares a channel's images: set "
                                     "images_per_channel to 2 or more")
        if options.objective is not None:  # checked against the layer now, not while tracing
            gray = backend.tensor(np.full((1,) + input_spec.shape, 0.5, np.float32))
            layer_shape = tuple(target.pre(input_spec.to_model(gray)).shape[1:])
            try:
                objective.check(layer_shape)
            except ValueError as error:
                raise ConfigurationError(f"layer {target.ref.name!r}: {error}") from None
        self._path = list(path or [])
        self._affine = affine = not self._path
        options.check_image(input_spec.shape)
        self._target = target
        self._on_output = target.nonlinearity is not None and (
            options.maximize == "output" or (options.maximize == "auto" and affine)
        )
        use_selected = options.selected_channels_only and options.objective is None  # custom: whole layer
        elementwise = target.nonlinearity is None or target.nonlinearity.elementwise
        self._selected = selected if use_selected and elementwise else None
        self._spec = input_spec
        self._options = options
        self._liveness_images = liveness_images
        self._param = parameterizations.get(options.parameterization, input_spec.shape)
        if liveness_images is not None and input_spec.preprocess is None:
            # Colours decorrelated as in the probe images, which are the model's world.
            self._param = self._param.fitted(input_spec.to_unit(input_spec.from_model_layout(liveness_images)))
        self._settings["parameterization"] = self._param.settings()
        if isinstance(self._param, parameterizations.FourierImage) and input_spec.channels != 3:
            self._settings["parameterization"]["colours"] = None  # only RGB has colours to decorrelate
        if not self._param.supports_blur:
            self._settings["blur_every"] = 0  # never applied to this parameterization
        self._objective = options.full_objective()
        self._channel_value = objectives.channel(options.reduction)
        self._renderers: dict = {}
        model = target.ref.model
        self._evaluate = backend.compiled(self._evaluate_batch, model)
        self._to_images = backend.compiled(self._param_to_images)
        self._outputs = backend.compiled(self._outputs_of, model)
        self._searcher = None  # made when a channel looks dead (see _dead)

    def run(self, channels: Sequence[int], progress: Optional[Callable[[int, int], None]] = None) -> AMResult:
        """`progress(done, total)`, if given, is called after every gradient step (for CLIs)."""
        options, shape = self._options, self._spec.shape
        copies = options.images_per_channel
        distinct = np.asarray(list(channels), dtype=np.int32)
        start = self._param.initial(options.seed, distinct, shape, copies)
        channels = np.repeat(distinct, copies)  # one job per image: each channel's copies together
        copy = np.tile(np.arange(copies, dtype=np.int32), len(distinct))
        _, start_value = self._evaluate_all(start, channels, copy)
        params = start.copy()
        steps_run = np.zeros(len(channels), np.int32)
        group = max(1, options.batch_size // copies) * copies  # a channel's images share a batch (diversity)
        chunks = list(_chunks(np.arange(len(channels)), group))
        total = len(chunks) * options.steps
        for index, chunk in enumerate(chunks):
            def on_step(step, done=index * options.steps):
                if progress is not None:
                    progress(done + step + 1, total)

            params[chunk], steps_run[chunk] = self._optimize(start[chunk], channels[chunk], on_step, copy[chunk])
        if progress is not None:
            progress(total, total)
        objective_value, final_value = self._evaluate_all(params, channels, copy)
        batches = range(0, len(params), group)
        images = np.concatenate(
            [self._images(params[i : i + group]) for i in batches]
            or [np.zeros((0,) + shape, np.float32)]
        )
        dead, dead_test = self._dead(channels, images)
        return AMResult(channels, images, final_value, objective_value, start_value, dead, steps_run,
                        *self._describe(), dead_test, dict(self._settings), copies)

    # -- evaluation ------------------------------------------------------------------------
    def _dead(self, channels: np.ndarray, images: np.ndarray):
        """Dead on the probe images; without them, constant on varied test images, on the AM
        images and after a search for any input that makes the channel fire."""
        if self._liveness_images is not None:
            test = f"{len(self._liveness_images)} probe images"
            return liveness.constant_channels(self._outputs, [self._liveness_images], channels,
                                              self._options.batch_size), test
        batches = [self._to_model(liveness.test_images(self._spec.shape)), self._to_model(images)]
        dead = liveness.constant_channels(self._outputs, batches, channels, self._options.batch_size)
        if not self._own_relu():
            # A layer after a ReLU (pooling, dropout, ...) is flat where that ReLU is silent: no
            # search can localize a signal there, so without probes nothing is called dead.
            return np.zeros_like(dead), liveness.NO_DEAD_TEST
        if dead.any():
            dead[dead] = self._search_finds_nothing(channels[dead])
        return dead, liveness.DEAD_TEST_WITHOUT_PROBES

    def _search_finds_nothing(self, candidates: np.ndarray) -> np.ndarray:
        """For channels constant on everything so far: ascend their strongest unit from
        `liveness.SEARCH_STARTS` varied starts; True where the output still never changes."""
        if self._searcher is None:
            options = AMOptions(
                steps=liveness.SEARCH_STEPS, learning_rate=self._options.learning_rate, parameterization="pixel",
                transforms=None, blur_every=0, reduction="max", maximize="pre_activation",
                batch_size=self._options.batch_size,
                selected_channels_only=self._options.selected_channels_only,
            )
            self._searcher = ActivationMaximizer(self._target, self._spec, options)
        starts = liveness.search_starts(self._spec.shape)
        channels = np.repeat(candidates, len(starts)).astype(np.int32)
        tiled = np.tile(starts, (len(candidates), 1, 1, 1))
        size = self._options.batch_size
        with backward.applied(self._path, backward.REDIRECTED):  # silent ReLUs on the way pass a signal
            found = np.concatenate([
                self._searcher._optimize(tiled[i : i + size], channels[i : i + size], bucket=_BATCH_BUCKET)[0]
                for i in range(0, len(channels), size)
            ])
        constant = [
            liveness.constant_channels(self._outputs, [self._to_model(found[i * len(starts) : (i + 1) * len(starts)])],
                                       candidates[i : i + 1], self._options.batch_size)[0]
            for i in range(len(candidates))
        ]
        return np.array(constant, bool)

    def _to_model(self, images: np.ndarray) -> np.ndarray:
        return backend.numpy(self._spec.to_model(backend.tensor(images))) if len(images) else images

    def _outputs_of(self, model_input, channels):
        return ops.take(self._target.output(model_input), channels, axis=-1)

    def _evaluate_all(self, params: np.ndarray, channels: np.ndarray, copy: Optional[np.ndarray] = None):
        """(objective, output) per image on the untransformed images of `params`."""
        objective, output = [], []
        copy = np.zeros(len(channels), np.int32) if copy is None else copy
        copies = self._options.images_per_channel
        group = max(1, self._options.batch_size // copies) * copies
        for i in range(0, len(channels), group):
            value, activation = self._evaluate(
                backend.tensor(params[i : i + group]), backend.tensor(channels[i : i + group]),
                backend.tensor(copy[i : i + group]),
            )
            objective.append(backend.numpy(value))
            output.append(backend.numpy(activation))
        if not objective:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        objective, output = np.concatenate(objective), np.concatenate(output)
        if not (np.all(np.isfinite(objective)) and np.all(np.isfinite(output))):
            raise FloatingPointError(f"layer {self._target.ref.name!r} computes NaN or infinity")
        return objective, output

    @property
    def flat_optimum(self) -> bool:
        """The layer's output is an affine function of the image: the image maximizing it is flat."""
        return self._affine and self._target.nonlinearity is None

    def _own_relu(self) -> bool:
        found = self._target.nonlinearity
        return found is not None and found.family == nonlinearity.RELU

    def _describe(self) -> tuple:
        if not self._on_output:
            if self.flat_optimum:
                return OUTPUT, ("layer output, an affine function of the image: its maximum is a flat "
                                "image; the nonlinearity after this layer shows patterns")
            return self._target.maximized, self._target.describe()
        why = "the pre-activation is affine in the image" if self._options.maximize == "auto" else "as asked"
        redirect = "; ReLU gradient redirected while silent" if self._redirects() else ""
        return OUTPUT, f"layer output ({why}{redirect})"

    def _redirects(self) -> bool:
        return self._on_output and self._own_relu()

    def _objective_context(self, pre, picked, image, copy=None, real=None):
        """The Context the objective sees: pre-activations, or the layer's output."""
        return objectives.Context(self._target.activate(pre) if self._on_output else pre, picked, image,
                                  copy, self._options.images_per_channel, real)

    def _ascent_value(self, pre, picked, image, copy=None, real=None):
        """(the objective's value, its Context); for a silent ReLU channel (constant output, zero
        gradient) the value's gradient is redirected to the pre-activation (Lucid's redirected
        ReLU gradient): the added term is zero in value, so reported numbers are the true ones."""
        context = self._objective_context(pre, picked, image, copy, real)
        value = self._objective(context)
        if not self._redirects():
            return value, context
        own = objectives.selected_channel(context.activations, picked)
        axes = list(range(1, len(own.shape)))
        silent = ops.stop_gradient(ops.cast(ops.max(own, axis=axes) <= ops.min(own, axis=axes), value.dtype))
        push = self._channel_value(objectives.Context(pre, picked, image))
        return value + silent * (push - ops.stop_gradient(push)), context

    def _evaluate_batch(self, params, channels, copy):
        image = self._param.to_image(params, self._spec.shape)
        pre, picked = self._activations(self._spec.to_model(image), channels)
        context = self._objective_context(pre, picked, image, copy)
        # A custom objective is what was maximized (a direction, an interpolation...); else the channel.
        custom = self._options.objective is not None or self._options.total_variation or self._options.l2
        objective = self._objective(context) if custom else self._channel_value(context)
        output = self._channel_value(objectives.Context(self._target.activate(pre), picked, image))
        return objective, output

    def _activations(self, model_input, channels):
        """(pre-activations, index of each sample's channel in them): the whole layer, or only
        the batch's channels of it where that saves work (inside traced functions: static batch)."""
        batch = channels.shape[0]
        if self._selected is not None and batch is not None and self._selected.worthwhile(batch):
            picked = ops.arange(batch, dtype=channels.dtype)
            return ops.cast(self._selected(model_input, channels), "float32"), picked
        return self._target.pre(model_input), channels

    def _param_to_images(self, params):
        return self._param.to_image(params, self._spec.shape)

    def _images(self, params: np.ndarray) -> np.ndarray:
        return backend.numpy(self._to_images(backend.tensor(params)))

    # -- optimization ----------------------------------------------------------------------
    def _optimize(self, start: np.ndarray, channels: np.ndarray, on_step=None, copy=None, bucket: int = 1):
        """Optimize one batch of channels; returns their parameters and steps run. `bucket`: pad
        the batch to a multiple of it (the dead search, whose batch varies, traces once then);
        a layer's channels are the same every epoch, so their batch is never padded: padding 2
        channels to 8 made every step of a deep layer 4 times the work."""
        options = self._options
        real = len(channels)
        size = max(real, min(options.batch_size, bucket * math.ceil(real / bucket)))
        pad = size - real
        renderer = self._renderers.get(size)
        if renderer is None:
            renderer = self._renderers[size] = _Renderer(self, size, start.shape[1:])
        padded_channels = np.concatenate([channels, np.repeat(channels[:1], pad)]).astype(np.int32)
        copy = np.zeros(real, np.int32) if copy is None else copy
        copy_t = backend.tensor(np.concatenate([copy, np.zeros(pad, np.int32)]).astype(np.int32))
        renderer.reset(np.concatenate([start, np.repeat(start[:1], pad, axis=0)]))
        rows = None
        if options.transforms is not None:
            rows = options.transforms.sample(options.seed, padded_channels, options.steps, self._spec.shape)
        active = np.arange(size) < real
        steps_run = np.zeros(size, np.int32)
        channels_t = backend.tensor(padded_channels)
        for step in range(options.steps):
            if not active.any():
                break
            value = renderer.step(
                channels_t, copy_t, backend.tensor(rows[step], np.float32) if rows is not None else None,
                backend.tensor(active),
            )
            steps_run += active
            if options.blur_every and self._param.supports_blur and (step + 1) % options.blur_every == 0:
                renderer.blur(backend.tensor(active))
            if options.threshold is not None:
                active &= ~(value >= options.threshold)
            if on_step is not None:
                on_step(step)
        return backend.numpy(renderer.params)[:real], steps_run[:real]


class _Renderer:
    """The optimizer state and compiled step for one batch size: parameters and Adam's moments
    live in backend tensors passed through a pure step (no variables: the same step compiles
    under `tf.function`, `jax.jit` or runs eagerly under PyTorch)."""

    def __init__(self, owner: ActivationMaximizer, size: int, param_shape: tuple):
        self._owner = owner
        self._mask_shape = (size,) + (1,) * len(param_shape)
        self._gradient = backend.value_and_grad(self._loss)
        self._step = backend.compiled(self._pure_step, owner._target.ref.model)
        self._blur = backend.compiled(self._pure_blur)
        self.params = self._m = self._v = None
        self._t = 0

    def reset(self, start: np.ndarray) -> None:
        self.params = backend.tensor(start, np.float32)
        self._m = backend.tensor(np.zeros_like(start, np.float32))
        self._v = backend.tensor(np.zeros_like(start, np.float32))
        self._t = 0

    def step(self, channels, copy, rows, active) -> np.ndarray:
        """One Adam step on the active elements; returns the objective before it (per element)."""
        self._t += 1
        t = backend.tensor(self._t, np.float32)
        self.params, self._m, self._v, value = self._step(self.params, self._m, self._v, t, channels, copy, rows,
                                                          active)
        return backend.numpy(value)

    def blur(self, active) -> None:
        self.params = self._blur(self.params, active)

    def _loss(self, params, channels, copy, rows, active):
        owner = self._owner
        image = owner._param.to_image(params, owner._spec.shape)
        seen = warp(image, rows, owner._options.transforms.fill_mode) if rows is not None else image
        pre, picked = owner._activations(owner._spec.to_model(seen), channels)
        value, _ = owner._ascent_value(pre, picked, image, copy, active)
        return -ops.sum(value), value

    def _pure_step(self, params, m, v, t, channels, copy, rows, active):
        _, value, gradient = self._gradient(params, channels, copy, rows, active)
        # Adam, term for term as keras.optimizers.Adam computes it (in float32).
        learning_rate = self._owner._options.learning_rate
        alpha = learning_rate * ops.sqrt(1 - ops.power(_BETA_2, t)) / (1 - ops.power(_BETA_1, t))
        m = m + (gradient - m) * (1 - _BETA_1)
        v = v + (ops.square(gradient) - v) * (1 - _BETA_2)
        updated = self._owner._param.project(params - (m * alpha) / (ops.sqrt(v) + _EPSILON))
        mask = ops.reshape(active, self._mask_shape)
        return ops.where(mask, updated, params), m, v, value  # finished and padding elements keep theirs

    def _pure_blur(self, params, active):
        blurred = gaussian_blur(params, self._owner._options.blur_sigma)
        return ops.where(ops.reshape(active, self._mask_shape), blurred, params)


def _chunks(indices: np.ndarray, size: int):
    for i in range(0, len(indices), size):
        yield indices[i : i + size]
