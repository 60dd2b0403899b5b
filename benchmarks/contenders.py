"""The contenders, each prepared for one case as a no-argument callable.

`prepare(name, case_inputs)` gives a `Prepared` (the call, a converter of its result to
`(value, [gradients])`, and JAX's compile time) or raises `Skip` with a note: a framework
that is not installed, or a model gradgen fails to compile.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from benchmarks import handwritten

CONTENDERS = ("gradgen", "hand-written", "torch", "jax", "autograd")
BASELINE = "hand-written"
_FRAMEWORK_MODULES = {"torch": "torch", "jax": "jax", "autograd": "autograd"}
_IMPLS = {"torch": "torch_impl", "jax": "jax_impl", "autograd": "autograd_impl"}


class Skip(Exception):
    """This contender cannot run this case; the message says why."""


@dataclass
class Prepared:
    run: Callable[[], Any]  # one value-and-gradients call on prepared inputs
    result: Callable[[Any], tuple[float, list[np.ndarray]]]  # run's output, as NumPy
    compile_seconds: float | None = None  # JAX: the first call's trace and compile


def as_numpy(out: Any) -> tuple[float, list[np.ndarray]]:
    """`(value, grads)` as gradgen and the hand-written code return it, normalized."""
    value, grads = out
    grads = grads if isinstance(grads, tuple | list) else (grads,)
    return float(value), [np.asarray(g, dtype=np.float64) for g in grads]


def missing(name: str) -> str | None:
    """Why contender `name` cannot run at all (not installed), or None."""
    module = _FRAMEWORK_MODULES.get(name)
    if module is None:
        return None
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    return None if found else f"{module} is not installed"


_GRADGEN: dict[str, ModuleType | str] = {}


def gradgen_module(model: str) -> ModuleType:
    """The generated module of `benchmarks.models.<model>`, by `gradgen.load` (cached);
    raises `Skip` with gradgen's error when it fails to compile."""
    if model not in _GRADGEN:
        import gradgen
        from benchmarks import models

        try:
            _GRADGEN[model] = gradgen.load(getattr(models, model))
        except Exception as error:  # a gradgen bug or a missing op: report, skip
            _GRADGEN[model] = f"gradgen failed: {type(error).__name__}: {error}"
    module = _GRADGEN[model]
    if isinstance(module, str):
        raise Skip(module)
    return module


def prepare(name: str, model: str, params: list, data: list) -> Prepared:
    """Contender `name` ready to run `model` on `params` and `data`."""
    note = missing(name)
    if note:
        raise Skip(note)
    args = (*params, *data)
    if name == "gradgen":
        fn = getattr(gradgen_module(model), f"{model}_value_and_grad")
        return Prepared(lambda: fn(*args), as_numpy)
    if name == "gradgen-value":
        fn = getattr(gradgen_module(model), model)
        return Prepared(lambda: fn(*args), lambda out: (float(out), []))
    if name == BASELINE:
        fn = getattr(handwritten, model)
        return Prepared(lambda: fn(*args), as_numpy)
    try:
        impl = importlib.import_module(f"benchmarks.{_IMPLS[name]}")
    except Exception as error:  # installed but broken: a note, not a crash
        raise Skip(f"importing {name} failed: {type(error).__name__}: {error}") from None
    return Prepared(*impl.prepare(model, params, data))
