"""Verify generated derivatives numerically: `gradgen check` and the emitted tests.

Inputs are drawn from the annotations (named dims get distinct default sizes unless given);
each gradient of the generated module is compared with central finite differences of the
generated value function, and the value with the model run eagerly on NumPy. One checker per
emitted transform lives in CHECKERS (only "grad" so far).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from gradgen.api import Function
from gradgen.shapes import Shape

DEFAULT_SIZES = (3, 4, 5, 6, 7, 8)  # distinct, so a swapped axis shows up as an error
MAX_PROBED = 400  # elements differenced per parameter; larger ones are sampled


@dataclass(frozen=True)
class CheckResult:
    """One line of `gradgen check`."""

    function: str  # the gg.function
    quantity: str  # "value" or the parameter name
    max_relative_error: float  # max |got - expected| / max |expected| (inf when not finite)
    step: float  # the finite-difference step (0 for the value check)
    passed: bool
    note: str = ""  # why it failed, or what was sampled


def dimension_sizes(function: Function, given: Mapping[str, int]) -> dict[str, int]:
    """A size for every named dim of `function`: `given` ones, then distinct defaults."""
    names = sorted({d for s in function.specs.values() for d in s.shape if isinstance(d, str)})
    free = [n for n in names if n not in given]
    return {**dict(zip(free, DEFAULT_SIZES * 4)), **{n: given[n] for n in names if n in given}}


def concrete_shape(shape: Shape, sizes: Mapping[str, int]) -> tuple[int, ...]:
    return tuple(sizes[d] if isinstance(d, str) else d for d in shape)


def sample_inputs(
    function: Function, sizes: Mapping[str, int], rng: np.random.Generator, positive: bool
) -> list[Any]:
    """Float arguments from N(0, 1) (or U(0.5, 2) when `positive`), integers from 0..2;
    scalar floats as Python floats."""
    args: list[Any] = []
    for spec in function.specs.values():
        shape = concrete_shape(spec.shape, sizes)
        if spec.integer:
            args.append(rng.integers(0, 3, size=shape))
        else:
            value = rng.uniform(0.5, 2.0, size=shape) if positive else rng.normal(size=shape)
            args.append(float(value) if shape == () else value)
    return args


def _relative(got: Any, expected: Any) -> float:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        return float("inf")
    if not (np.all(np.isfinite(got)) and np.all(np.isfinite(expected))):
        return float("inf")
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-12)
    return float(np.max(np.abs(got - expected), initial=0.0) / scale)


def check_grad(
    function: Function,
    module: ModuleType,
    args: list[Any],
    rng: np.random.Generator,
    tolerance: float,
) -> list[CheckResult]:
    """The value against the eager model, and each `wrt` gradient from `f_backward`
    against central differences of <d_value, f(args)>."""
    name = function.name
    value_of: Callable[..., Any] = getattr(module, name)
    value = value_of(*args)
    error = _relative(value, function(*args))
    results = [CheckResult(name, "value", error, 0.0, error <= tolerance)]
    if not np.all(np.isfinite(value)):
        note = "the value is not finite at the sampled inputs (try --positive or --seed)"
        return [CheckResult(name, "value", float("inf"), 0.0, False, note)]
    head = rng.normal(size=np.shape(value))
    _, saved = getattr(module, f"{name}_forward")(*args)
    grads = getattr(module, f"{name}_backward")(saved, head)
    if not function.wrt_is_sequence:
        grads = (grads,)
    arg_names = list(function.specs)
    for param, grad in zip(function.wrt, grads):
        index = arg_names.index(param)
        step = float(np.cbrt(np.finfo(float).eps))  # balances truncation and rounding
        expected, got, note = _differences(value_of, args, index, head, grad, step, rng)
        error = _relative(got, expected)
        results.append(CheckResult(name, param, error, step, error <= tolerance, note))
    return results


def _differences(
    value_of: Callable[..., Any],
    args: list[Any],
    index: int,
    head: Any,
    grad: Any,
    step: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Central differences at up to MAX_PROBED elements; returns (expected, got, note)."""
    base = np.array(args[index], dtype=float)
    grad = np.asarray(grad, dtype=float)
    if grad.shape != base.shape:
        return np.zeros(base.shape), np.full(grad.shape, np.inf), "gradient has the wrong shape"
    positions = list(np.ndindex(base.shape))
    note = ""
    if len(positions) > MAX_PROBED:
        chosen = rng.choice(len(positions), size=MAX_PROBED, replace=False)
        positions = [positions[i] for i in sorted(chosen)]
        note = f"{MAX_PROBED} of {base.size} elements probed"
    expected = np.empty(len(positions))
    for k, position in enumerate(positions):
        h = step * max(1.0, abs(base[position]))
        sides = []
        for sign in (1.0, -1.0):
            shifted = base.copy()
            shifted[position] += sign * h
            trial = list(args)
            trial[index] = shifted if shifted.shape else float(shifted)
            sides.append(float(np.sum(head * value_of(*trial))))
        expected[k] = (sides[0] - sides[1]) / (2 * h)
    got = np.array([grad[p] for p in positions])
    return expected, got, note


# One checker per emitted transform.
CHECKERS: dict[str, Callable[..., list[CheckResult]]] = {"grad": check_grad}


def check_function(
    function: Function,
    module: ModuleType,
    sizes: Mapping[str, int],
    seed: int = 0,
    tolerance: float = 1e-6,
    positive: bool = False,
) -> list[CheckResult]:
    """Every emitted transform of `function` in `module`, on inputs from `seed`."""
    rng = np.random.default_rng(seed)
    args = sample_inputs(function, dimension_sizes(function, sizes), rng, positive)
    return [
        r for checker in CHECKERS.values() for r in checker(function, module, args, rng, tolerance)
    ]
