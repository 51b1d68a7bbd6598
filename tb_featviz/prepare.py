"""The one path from (model, layers, settings) to finished plans and runners.

The callback (in `on_train_begin`), the notebook functions and the CLI all call `prepare`, so a
setting is checked the same way everywhere and a misconfiguration surfaces before any work:
before the first epoch in `fit`, before the first step in a notebook.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable, Collection, Iterator, Optional, Sequence

from tb_featviz import backend
from tb_featviz.errors import ConfigurationError
from tb_featviz.inputs import InputSpec
from tb_featviz.methods import REGISTRY
from tb_featviz.model_access import ensure_built, find_layer
from tb_featviz.plan import DEFAULT_MAX_CHANNELS, LayerPlan, LayerSpec, build_plans, check_methods
from tb_featviz.settings import Settings

log = logging.getLogger("tb_featviz")


@dataclasses.dataclass
class Prepared:
    """Plans in model order and a runner per (layer, method), ready for every visualization."""

    spec: InputSpec
    plans: list
    runners: dict  # (layer name, method name) -> Runner
    warnings: list  # what is worth telling the user before training (a line each)

    def work(self):
        """(plan, method object, runner) in the order records are written."""
        for plan in self.plans:
            for method in plan.methods:
                yield plan, REGISTRY[method], self.runners[(plan.name, method)]

    def records(self, on_failure: Callable, skip: Collection = (), step: Optional[int] = None) -> Iterator[tuple]:
        """Runs every (layer, method) not in `skip`, in record order, for global step `step`:
        yields (layer, method, the record or None, seconds). A failure goes to
        `on_failure(layer, method, error)` and yields None: one visualization that fails never
        stops the others (nor training)."""
        for plan, method, runner in self.work():
            if (plan.name, method.name) in skip:
                continue
            began = time.perf_counter()
            try:
                method.at_step(runner, step)
                result = runner()
                method.check(result)
                record = method.record(plan.name, result)
            except Exception as error:  # noqa: BLE001 - reported by the caller, never raised into fit
                on_failure(plan.name, method.name, error)
                record = None
            yield plan.name, method.name, record, time.perf_counter() - began

    def plan(self, layer_name: str) -> LayerPlan:
        return next(plan for plan in self.plans if plan.name == layer_name)

    def named(self, model, layer: str) -> LayerPlan:
        """The plan of the layer a user named (as named: plain or qualified), not of a layer a
        method added before it in model order (Grad-CAM's last conv layer)."""
        target = find_layer(model, layer).layer
        return next(plan for plan in self.plans if plan.ref.layer is target)


def check_request(methods: Optional[Sequence[str]], settings: Settings, *, recorded: bool = False) -> Optional[tuple]:
    """What can be checked without the model: known methods, what each named one needs from the
    settings, a backend that runs them, and (`recorded`: for records) options that records can
    hold. Returns the checked method names (None: every method that applies)."""
    methods = None if methods is None else check_methods(methods)
    for name in methods or ():
        missing = REGISTRY[name].needs(settings)
        if missing:
            raise ConfigurationError(f"method {name!r} needs {missing}")
    runnable = methods or [name for name, method in REGISTRY.items() if not method.needs(settings)]
    check_backend(runnable)
    if recorded:
        for name in runnable:
            problem = REGISTRY[name].check_recordable(settings.options_of(name))
            if problem:
                raise ConfigurationError(problem)
    return methods


def prepare(
    model,
    layers: LayerSpec,
    settings: Settings,
    methods: Optional[Sequence[str]] = None,
    max_channels: int = DEFAULT_MAX_CHANNELS,
    *,
    recorded: bool = False,
) -> Prepared:
    """Every check, then a plan per layer and a runner per (layer, method): nothing is computed
    yet (runners trace on their first call and are reused)."""
    methods = check_request(methods, settings, recorded=recorded)
    spec = settings.input_spec(model)
    ensure_built(model, spec.model_shape)
    plans = build_plans(model, layers, spec, methods, settings, max_channels)
    runners = {(plan.name, m): REGISTRY[m].runner(plan, spec, settings) for plan in plans for m in plan.methods}
    warnings = []
    for plan in plans:
        for name, why in plan.left_out.items():
            method = REGISTRY[name]
            if method.warn_when_left_out and not method.needs(settings):
                warnings.append(f"no {name} for layer {plan.name!r}: {why}")
        for name in plan.methods:
            warnings.extend(REGISTRY[name].warnings(plan, runners[(plan.name, name)]))
    return Prepared(spec, plans, runners, list(dict.fromkeys(warnings)))  # a line for several layers: once


def check_backend(methods: Sequence[str]) -> None:
    """Methods that need gradients or a forward pass run on the backends tb_featviz supports
    (TensorFlow, JAX, PyTorch); backend-free ones (filter weights) on every backend."""
    needs = [m for m in methods if not REGISTRY[m].backend_free]
    if needs and backend.name() not in backend.SUPPORTED:
        free = [name for name, method in REGISTRY.items() if method.backend_free]
        raise ConfigurationError(
            f"Keras runs on the {backend.name()!r} backend; tb-featviz computes {', '.join(needs)} "
            f"with KERAS_BACKEND={', '.join(backend.SUPPORTED)}. Set one of those before importing Keras, or "
            f"use methods={free}, which work on every backend."
        )
