"""Verify generated derivatives numerically: `gradgen check` and the emitted tests.

Inputs are drawn from the annotations (named dims get distinct default sizes unless given);
each gradient of the generated module is compared with central finite differences of the
generated value function, and the value with the model run eagerly on NumPy; the derived
functions (jvp, jacobian, hessian, hvp) are checked along random directions. The checkers
live in CHECKERS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from gradgen.api import Function
from gradgen.errors import GradgenError
from gradgen.shapes import Shape

DEFAULT_SIZES = (3, 4, 5, 6, 7, 8)  # distinct, so a swapped axis shows up as an error
MAX_PROBED = 400  # elements differenced per parameter; larger ones are sampled


@dataclass(frozen=True)
class Tolerance:
    """A derivative passes where |got - expected| <= atol + rtol * |expected|, element by
    element (torch.autograd.gradcheck's test): exact zeros pass."""

    rtol: float = 1e-5  # relative part, of the expected value's magnitude
    atol: float = 1e-6  # absolute part: finite differences are not exact near 0

    def __str__(self) -> str:
        return f"atol {self.atol:.0e} + rtol {self.rtol:.0e}"


@dataclass(frozen=True)
class CheckResult:
    """One line of `gradgen check`."""

    function: str  # the gg.function
    quantity: str  # "value" or the parameter name
    max_error: float  # max |got - expected| (inf when not finite or of the wrong shape)
    worst: float  # max |got - expected| / (atol + rtol |expected|): passes at <= 1
    step: float  # the finite-difference step (0 for the value check)
    passed: bool
    note: str = ""  # why it failed, or what was sampled


class ModelDomainError(GradgenError):
    """The model itself fails at the sampled inputs (not finite, LinAlgError): give inputs."""


def dimension_sizes(
    function: Function, given: Mapping[str, int], inputs: Mapping[str, Any] | None = None
) -> dict[str, int]:
    """A size for every named dim of `function`: `given` ones, those of the `inputs`
    arrays, then distinct defaults."""
    sizes = dict(given)
    for name, value in (inputs or {}).items():
        spec = function.specs.get(name)
        if spec is not None and len(spec.shape) == np.ndim(value):
            for dim, size in zip(spec.shape, np.shape(value)):
                if isinstance(dim, str):
                    sizes.setdefault(dim, size)
    names = sorted({d for s in function.specs.values() for d in s.shape if isinstance(d, str)})
    free = [n for n in names if n not in sizes]
    return {**dict(zip(free, DEFAULT_SIZES * 4)), **{n: sizes[n] for n in names if n in sizes}}


def concrete_shape(shape: Shape, sizes: Mapping[str, int]) -> tuple[int, ...]:
    return tuple(sizes[d] if isinstance(d, str) else d for d in shape)


def sample_inputs(
    function: Function,
    sizes: Mapping[str, int],
    rng: np.random.Generator,
    positive: bool,
    inputs: Mapping[str, Any] | None = None,
) -> list[Any]:
    """The `inputs` given by argument name; the others drawn at random: floats from N(0, 1)
    (or U(0.5, 2) when `positive`), integers from 0..2, scalar floats as Python floats."""
    given = dict(inputs or {})
    unknown = sorted(set(given) - set(function.specs))
    if unknown:
        raise GradgenError(
            f"the inputs name {', '.join(unknown)}, which {function.name} has no argument for.",
            function.location,
            f"its arguments are {', '.join(function.specs)}.",
        )
    args: list[Any] = []
    for name, spec in function.specs.items():
        shape = concrete_shape(spec.shape, sizes)
        if name in given:
            value = np.asarray(given[name])
            if value.shape != shape:
                raise GradgenError(
                    f"the input {name} has shape {value.shape}; {function.name} takes {shape}.",
                    function.location,
                    "give each array the shape of its annotation.",
                )
            args.append(float(value) if shape == () and not spec.integer else value)
        elif spec.integer:
            args.append(rng.integers(0, 3, size=shape))
        else:
            value = rng.uniform(0.5, 2.0, size=shape) if positive else rng.normal(size=shape)
            args.append(float(value) if shape == () else value)
    return args


def _compare(got: Any, expected: Any, tolerance: Tolerance) -> tuple[float, float]:
    """(max |got - expected|, max of that over atol + rtol |expected|); inf when the shapes
    differ or a number is not finite."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        return float("inf"), float("inf")
    if not (np.all(np.isfinite(got)) and np.all(np.isfinite(expected))):
        return float("inf"), float("inf")
    error = np.abs(got - expected)
    allowed = tolerance.atol + tolerance.rtol * np.abs(expected)
    return float(np.max(error, initial=0.0)), float(np.max(error / allowed, initial=0.0))


def _result(
    function: str,
    quantity: str,
    got: Any,
    expected: Any,
    tolerance: Tolerance,
    step: float,
    note: str = "",
) -> CheckResult:
    error, worst = _compare(got, expected, tolerance)
    return CheckResult(function, quantity, error, worst, step, worst <= 1.0, note)


def check_grad(
    function: Function,
    module: ModuleType,
    args: list[Any],
    rng: np.random.Generator,
    tolerance: Tolerance,
) -> list[CheckResult]:
    """The value against the eager model, and each `wrt` gradient from `f_backward`
    against central differences of <d_value, f(args)>."""
    name = function.name
    value_of = _value_function(function, module)
    value = value_of(*args)
    eager = function(*args)
    eager = eager[0] if function.has_aux else eager
    results = [_result(name, "value", value, eager, tolerance, 0.0)]
    if "grad" not in function.emit:
        return results
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
        results.append(_result(name, param, got, expected, tolerance, step, note))
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


def _value_function(function: Function, module: ModuleType) -> Callable[..., Any]:
    """The generated value function (without its aux dict)."""
    value_of: Callable[..., Any] = getattr(module, function.name)
    if function.has_aux:
        return lambda *args: value_of(*args)[0]
    return value_of


def _moved(args: list[Any], indices: list[int], steps: list[Any]) -> list[Any]:
    """args with args[i] + step for each (i, step)."""
    trial = list(args)
    for i, step in zip(indices, steps):
        moved = np.asarray(args[i], dtype=float) + step
        trial[i] = moved if moved.shape else float(moved)
    return trial


def check_derived(
    function: Function,
    module: ModuleType,
    args: list[Any],
    rng: np.random.Generator,
    tolerance: Tolerance,
) -> list[CheckResult]:
    """f_jvp, f_jacobian, f_hessian and f_hvp (those emitted) along random directions,
    against central differences of the generated value: first derivatives along t,
    t^T H t from second differences, and t^T H v by polarization."""
    name, value_of = function.name, _value_function(function, module)
    names = list(function.specs)
    wrt = [names.index(w) for w in function.wrt]
    shapes = [np.shape(args[i]) for i in wrt]
    t = [rng.normal(size=s) for s in shapes]
    v = [rng.normal(size=s) for s in shapes]
    as_tuple = (lambda r: r) if function.wrt_is_sequence else (lambda r: (r,))
    h1, h2 = float(np.cbrt(np.finfo(float).eps)), float(np.finfo(float).eps ** 0.25)

    def along(direction: list[Any], h: float) -> Any:
        return np.asarray(value_of(*_moved(args, wrt, [h * d for d in direction])), dtype=float)

    def scaled(direction: list[Any], c: float) -> list[Any]:
        return [c * d for d in direction]

    directional = (along(t, h1) - along(t, -h1)) / (2 * h1)
    results = []

    def record(kind: str, got: Any, expected: Any, step: float) -> None:
        results.append(_result(name, kind, got, expected, tolerance, step))

    if "jvp" in function.emit:
        _, value_dot = getattr(module, f"{name}_jvp")(*args, *t)
        record("jvp", value_dot, directional, h1)
    if "jacobian" in function.emit:
        blocks = as_tuple(getattr(module, f"{name}_jacobian")(*args))
        got = sum(
            np.tensordot(block, d, axes=d.ndim) if d.ndim else block * d
            for block, d in zip(blocks, t)
        )
        record("jacobian", got, directional, h1)
    if "hessian" in function.emit or "hvp" in function.emit:
        center = np.asarray(value_of(*args), dtype=float)
        second = (along(t, h2) - 2 * center + along(t, -h2)) / h2**2
        plus, minus = [a + b for a, b in zip(t, v)], [a - b for a, b in zip(t, v)]
        polar = (
            along(plus, h2)
            - along(minus, h2)
            - along(scaled(minus, -1.0), h2)
            + along(scaled(plus, -1.0), h2)
        ) / (4 * h2**2)
        if "hessian" in function.emit:
            rows = getattr(module, f"{name}_hessian")(*args)
            rows = rows if function.wrt_is_sequence else ((rows,),)
            quadratic = sum(
                float(np.sum(np.tensordot(rows[i][j], t[j], axes=t[j].ndim) * t[i]))
                for i in range(len(t))
                for j in range(len(t))
            )
            record("hessian", quadratic, second, h2)
        if "hvp" in function.emit:
            products = as_tuple(getattr(module, f"{name}_hvp")(*args, *v))
            record("hvp", sum(float(np.sum(p * d)) for p, d in zip(products, t)), polar, h2)
    return results


# One checker per group of emitted functions.
CHECKERS: dict[str, Callable[..., list[CheckResult]]] = {
    "grad": check_grad,
    "derived": check_derived,
}


def check_function(
    function: Function,
    module: ModuleType,
    sizes: Mapping[str, int],
    seed: int = 0,
    tolerance: Tolerance = Tolerance(),
    positive: bool = False,
    inputs: Mapping[str, Any] | None = None,
) -> list[CheckResult]:
    """Every emitted transform of `function` in `module`, at `inputs` (by argument name)
    with the others drawn from `seed`. Raises ModelDomainError when the model itself fails
    there (a value that is not finite, a LinAlgError): that is the inputs' fault."""
    rng = np.random.default_rng(seed)
    args = sample_inputs(function, dimension_sizes(function, sizes, inputs), rng, positive, inputs)
    drawn = [n for n, s in function.specs.items() if n not in (inputs or {}) and not s.integer]
    try:
        with np.errstate(all="ignore"):
            value = function(*args)
    except np.linalg.LinAlgError as error:
        raise _domain_error(function, drawn, f"raises LinAlgError ({error})") from None
    value = value[0] if function.has_aux else value
    if not np.all(np.isfinite(value)):
        raise _domain_error(function, drawn, "is not finite")
    return [
        r for checker in CHECKERS.values() for r in checker(function, module, args, rng, tolerance)
    ]


def _domain_error(function: Function, drawn: list[str], what: str) -> ModelDomainError:
    where = f"the random {', '.join(drawn)}" if drawn else "the given inputs"
    return ModelDomainError(
        f"{function.name} {what} at {where}: the model is outside its domain there.",
        function.location,
        f"give {' and '.join(drawn) or 'other inputs'} with --inputs FILE.npz (arrays by "
        "argument name), or try --positive or another --seed.",
    )


def check(
    function: Function,
    inputs: Mapping[str, Any] | None = None,
    seed: int = 0,
    tolerance: Tolerance = Tolerance(),
    dims: Mapping[str, int] | None = None,
) -> dict[str, float]:
    """Compile `function` in memory and check every derivative it emits against finite
    differences (`gradgen check` from Python): at `inputs` (by argument name), the others
    drawn from `seed`. Returns each quantity's max |error|; raises AssertionError naming
    the failures, and ModelDomainError when the model fails at the inputs."""
    from gradgen.compiler import load

    results = check_function(function, load(function), dims or {}, seed, tolerance, False, inputs)
    failed = [r for r in results if not r.passed]
    if failed:
        lines = [f"{r.quantity}: max error {r.max_error:.2e} ({tolerance})" for r in failed]
        raise AssertionError(f"{function.name}: " + "; ".join(lines))
    return {r.quantity: r.max_error for r in results}
