"""The one place that knows which Keras backend runs: compiling, gradients, custom backward rules.

Every method (activation maximization, deconv projections, occlusion, liveness) is written in
`keras.ops` and asks this module for the three things `keras.ops` cannot express:

* `compiled(fn, model)`: `fn` traced once per input signature: `tf.function` under TensorFlow,
  `jax.jit` under JAX (the model's variables passed in, never baked into the trace, so a compiled
  function sees the weights of *now*, not of when it was traced), eager under PyTorch.
* `value_and_grad(fn)`: the gradient of a scalar with respect to the first argument:
  `tf.GradientTape`, `jax.value_and_grad`, `torch.autograd.grad` (which fills no `.grad` of the
  model's weights, so training's own gradients are never touched).
* `custom_backward(rule)`: an identity whose backward pass is `rule` (the deconvnet and guided
  backprop rules at a ReLU): `tf.custom_gradient`, `jax.custom_vjp`, `torch.autograd.Function`.

Nothing here imports TensorFlow unless Keras runs on it.
"""

from __future__ import annotations

import functools
from typing import Callable, Optional

import keras
import numpy as np

TENSORFLOW, JAX, TORCH = "tensorflow", "jax", "torch"
SUPPORTED = (TENSORFLOW, JAX, TORCH)


def name() -> str:
    """The Keras backend in use: "tensorflow", "jax" or "torch"."""
    return keras.backend.backend()


def check_supported() -> None:
    """Refuse a backend no method is written for (numpy: no gradients; openvino: inference only)."""
    from tb_featviz.errors import ConfigurationError

    if name() not in SUPPORTED:
        raise ConfigurationError(
            f"Keras runs on the {name()!r} backend; tb-featviz needs gradients and supports "
            f"KERAS_BACKEND={', '.join(SUPPORTED)}"
        )


def tensor(values, dtype: Optional[str] = None):
    """A NumPy array as a tensor of the backend (on its default device)."""
    return keras.ops.convert_to_tensor(np.asarray(values) if dtype is None else np.asarray(values, dtype))


def numpy(values) -> np.ndarray:
    """A backend tensor as a NumPy array (from any device)."""
    return np.asarray(keras.ops.convert_to_numpy(values))


def compiled(fn: Callable, model: Optional[keras.Model] = None) -> Callable:
    """`fn(*tensors)` compiled for the backend. `model`: whose variables `fn` reads (JAX passes
    them as arguments; without it a JAX trace would keep the weights it was traced with)."""
    backend = name()
    if backend == TENSORFLOW:
        import tensorflow as tf

        # A partial has no code object of its own: TensorFlow counts retraces per code object,
        # so one function per layer, each traced once, would be reported as retracing.
        return tf.function(functools.partial(fn), reduce_retracing=True)
    if backend == JAX:
        return _jax_compiled(fn, model)
    if backend == TORCH:
        import torch

        @functools.wraps(fn)
        def without_graph(*args):
            with torch.no_grad():  # value_and_grad turns gradients back on where it needs them
                return fn(*args)

        return without_graph
    check_supported()
    return fn


class _ReadsRecorded(keras.StatelessScope):
    """A stateless scope that notes every Keras variable read from outside its mapping (a Lambda
    or a `preprocess` closing over a variable the model does not list)."""

    def __init__(self, state_mapping, outside: list):
        super().__init__(state_mapping=state_mapping)
        self._outside = outside

    def get_current_value(self, variable):
        value = super().get_current_value(variable)
        if value is None and all(variable is not seen for seen in self._outside):
            self._outside.append(variable)
        return value


def _jax_compiled(fn: Callable, model: Optional[keras.Model]) -> Callable:
    """`jax.jit` of `fn` with every Keras variable it reads passed in as an argument: the model's,
    and any other a trace finds it reads (then traced again with those passed in too), so no
    weight is ever baked into the compiled function."""
    import jax

    variables = list(model.variables) if model is not None else []
    state = {}

    def make():
        passed = list(variables)

        def pure(values, *args):
            with _ReadsRecorded(list(zip(passed, values)), state["outside"]):
                return fn(*args)

        return passed, jax.jit(pure)

    state["outside"] = []
    state["passed"], state["jitted"] = make()

    @functools.wraps(fn)
    def run(*args):
        result = state["jitted"]([variable.value for variable in state["passed"]], *args)
        if state["outside"]:  # found while tracing: trace again with them as arguments
            variables.extend(state["outside"])
            state["outside"] = []
            state["passed"], state["jitted"] = make()
            result = state["jitted"]([variable.value for variable in state["passed"]], *args)
        return result

    return run


def value_and_grad(fn: Callable) -> Callable:
    """`fn(x, *args) -> (scalar, aux)` becomes `(x, *args) -> (scalar, aux, d scalar / d x)`.
    The gradient is None where no path leads from x to the scalar (TensorFlow, PyTorch; JAX
    gives zeros there)."""
    backend = name()
    if backend == TENSORFLOW:
        import tensorflow as tf

        def tape(x, *args):
            with tf.GradientTape(watch_accessed_variables=False) as recorder:
                recorder.watch(x)
                value, aux = fn(x, *args)
            return value, aux, recorder.gradient(value, x)

        return tape
    if backend == JAX:
        import jax

        differentiate = jax.value_and_grad(fn, has_aux=True)

        def jax_grad(x, *args):
            (value, aux), gradient = differentiate(x, *args)
            return value, aux, gradient

        return jax_grad
    if backend == TORCH:
        import torch

        def autograd(x, *args):
            if torch.is_inference_mode_enabled():
                from tb_featviz.errors import ConfigurationError

                raise ConfigurationError("tb-featviz needs gradients, which torch.inference_mode() turns off; "
                                         "call it outside that block (torch.no_grad() is fine)")
            x = x.detach().requires_grad_(True)
            with torch.enable_grad():
                value, aux = fn(x, *args)
                (gradient,) = torch.autograd.grad(value, x, allow_unused=True) if value.requires_grad else (None,)
            return value.detach(), _detached(aux), gradient

        return autograd
    check_supported()
    raise AssertionError("unreachable")


def _detached(aux):
    import torch

    if isinstance(aux, torch.Tensor):
        return aux.detach()
    if isinstance(aux, (tuple, list)):
        return type(aux)(_detached(item) for item in aux)
    return aux


def derivative(fn: Callable, x):
    """d fn(x) / dx elementwise, for an elementwise `fn`, with no gradient path back to x."""
    x = keras.ops.stop_gradient(x)
    total = value_and_grad(lambda inputs: (keras.ops.sum(fn(inputs)), None))
    return keras.ops.stop_gradient(total(x)[2])


def custom_backward(rule: Callable) -> Callable:
    """`rule(upstream, x, aux) -> gradient for x` becomes `f(x, y, aux)`: forward `y`, backward
    `rule` to `x` only (`y` and `aux` are constants of the backward pass)."""
    backend = name()
    if backend == TENSORFLOW:
        import tensorflow as tf

        @tf.custom_gradient
        def tf_rule(x, y, aux):
            def grad(upstream):
                return rule(upstream, x, aux), tf.zeros_like(y), tf.zeros_like(aux)

            return tf.identity(y), grad

        return tf_rule
    if backend == JAX:
        import jax

        @jax.custom_vjp
        def jax_rule(x, y, aux):
            return y

        def forward(x, y, aux):
            return y, (x, y, aux)

        def backward(saved, upstream):
            x, y, aux = saved
            return rule(upstream, x, aux), jax.numpy.zeros_like(y), jax.numpy.zeros_like(aux)

        jax_rule.defvjp(forward, backward)
        return jax_rule
    if backend == TORCH:
        import torch

        class TorchRule(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, y, aux):
                ctx.save_for_backward(x, aux)
                return y.detach().clone()

            @staticmethod
            def backward(ctx, upstream):
                x, aux = ctx.saved_tensors
                return rule(upstream, x, aux), None, None

        return TorchRule.apply
    check_supported()
    raise AssertionError("unreachable")
