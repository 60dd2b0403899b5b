"""Run one fuzz program through the real compiler and compare everything it emits with the
oracle (the same program body on HIPS autograd, `oracle_ops`).

`check_source(text)` compiles the model text twice (optimized as shipped, black included,
and with every optimization off), verifying the IR after every pass, imports each
generated module and checks: the value; backward (twice, on the same `saved`),
value_and_grad and grad; and each emitted jvp, jacobian, hessian and hvp. Every
derivative must be a NumPy array (or scalar) of its parameter's shape and dtype, and no
call may modify an argument or `saved`.
"""

from __future__ import annotations

import ast
import copy
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import autograd
import numpy as np

import gradgen
from gradgen.codegen.module import emit_module, render_module
from gradgen.compiler import compile_function, load_functions
from gradgen.targets import NUMPY, REFERENCE
from gradgen.verify import verify

from . import oracle_ops


class Rejected(Exception):
    """The program is outside what the fuzzer compares: the oracle fails or overflows, or
    a float32 program's derivative is too large to compare (`FLOAT32_DERIVATIVES`).

    That includes a forward pass that overflows anywhere, even when its value is finite
    (`minimum(x, exp(t)**1.5)` with exp(t)**1.5 = inf): a gradient through an inf is
    0 * inf, nan or 0 depending on the order in which the chain rule's factors are
    multiplied, and gradgen's fused expressions may multiply them in another order than
    autograd's one-op-at-a-time (fuzz seed 46018: `1.5 * d_t4 * t0**1.5` with t0**1.5 =
    inf, where autograd multiplies d_t4 by t0**0.5 and then by t0)."""


@dataclass(frozen=True)
class Failure:
    """One disagreement: a short class (to count failures by) and the details."""

    kind: str  # e.g. "grad mismatch", "compile: KeyError", "dtype"
    detail: str  # what differed, with numbers


TOLERANCES = {"float64": (1e-6, 1e-7), "float32": (2e-3, 1e-3)}  # dtype -> (rtol, atol)
# A float32 program's derivatives above this are not compared: float32's rounding, grown
# through the chain rule's products, is then larger than the tolerance (fuzz seed 8338:
# two steps of cos(exp(c)**c) give a gradient of -2530 whose float32 value is 0.35% off,
# optimized or not; in float64 it agrees to 1e-12).
FLOAT32_DERIVATIVES = 1e3


def _metadata(text: str) -> dict[str, Any]:
    """The model's upper-case module-level constants (DTYPE, SEED, ...)."""
    values = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.isupper():
                values[name] = ast.literal_eval(node.value)
    return values


def oracle_function(text: str) -> Callable[..., Any]:
    """The model's function with `F` bound to the autograd ops and `NP` to autograd.numpy."""
    lines = [
        line
        for line in text.splitlines()
        if not line.startswith(("import gradgen", "from gradgen", "import numpy"))
    ]
    namespace: dict[str, Any] = {
        "F": oracle_ops,
        "NP": oracle_ops.numpy,
        "Array": oracle_ops.Array,
        "IntArray": oracle_ops.IntArray,
    }
    exec(compile("\n".join(lines), "<fuzz oracle>", "exec"), namespace)
    return namespace["f"]


def draw_inputs(text: str, function: gradgen.Function) -> list[Any]:
    """The program's arguments, from its SEED, DTYPE, DIMS, INDEX_BOUNDS and SCALARS."""
    meta = _metadata(text)
    rng = np.random.default_rng(meta["SEED"])
    dtype = np.dtype(meta["DTYPE"])
    args: list[Any] = []
    for name, spec in function.specs.items():
        shape = tuple(meta["DIMS"][d] if isinstance(d, str) else d for d in spec.shape)
        if spec.integer:
            args.append(rng.integers(0, meta["INDEX_BOUNDS"][name], size=shape))
            continue
        value = rng.normal(size=shape).astype(dtype)
        kind = meta["SCALARS"].get(name)
        if kind == "python":
            value = float(value)
        elif kind == "numpy":
            value = value[()]
        args.append(value)
    return args


def _close(actual: Any, expected: Any, dtype: str) -> str | None:
    """None when `actual` matches `expected` within the dtype's tolerances (gradcheck's
    |a - b| <= atol * scale + rtol * |b|), else what differs."""
    rtol, atol = TOLERANCES[dtype]
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        return f"shape {a.shape}, expected {b.shape}"
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    bad = ~(np.abs(a - b) <= atol * scale + rtol * np.abs(b))
    if bad.any():
        i = np.argwhere(bad)[0]
        return f"{a[tuple(i)]!r} at {tuple(int(k) for k in i)}, expected {b[tuple(i)]!r}"
    return None


def _typed(result: Any, shape: tuple[int, ...], dtype: Any) -> str | None:
    """None when `result` is a NumPy array or scalar of `shape` and `dtype`; a Python
    float stands for a Python float parameter (dtype None)."""
    if dtype is None:
        return None if isinstance(result, float) else _typed(result, shape, np.float64)
    if not isinstance(result, (np.ndarray, np.generic)):
        return f"a {type(result).__name__}, not a NumPy array"
    if result.shape != shape:
        return f"shape {result.shape}, expected {shape}"
    if result.dtype != np.dtype(dtype):
        return f"dtype {result.dtype}, expected {dtype}"
    return None


class _Checker:
    """The checks of one generated module against the oracle's numbers."""

    def __init__(self, text: str, module: ModuleType, function: gradgen.Function, label: str):
        self.meta = _metadata(text)
        self.dtype = self.meta["DTYPE"]
        self.module = module
        self.function = function
        self.label = label
        self.failures: list[Failure] = []

    def fail(self, kind: str, detail: str) -> None:
        self.failures.append(Failure(f"{kind} ({self.label})", detail))

    def compare(
        self, what: str, actual: Any, expected: Any, shape: tuple[int, ...], like: Any = None
    ) -> None:
        """`actual` must match `expected`; a derivative must also have the type of `like`,
        the parameter it is taken with respect to (its dtype, or a Python float's)."""
        if "python" in self.meta["SCALARS"].values() and np.ndim(like) == 0:
            # Python floats mixed in: scalars may be computed as Python floats (the fast
            # path), and NumPy promotes with them
            like = 0.0 if like is not None else np.zeros((), self.dtype) + 0.0
        dtype = (
            None
            if isinstance(like, float)
            else np.result_type(self.dtype if like is None else like)
        )
        problem = _typed(actual, shape, dtype)
        if problem is not None and what != "value":
            self.fail("type", f"{what}: {problem}")
        difference = _close(actual, expected, self.dtype)
        if difference is not None:
            self.fail(f"{what.split()[0]} mismatch", f"{what}: {difference}")

    def call(self, what: str, args: list[Any], run: Callable[[], Any]) -> Any:
        before = copy.deepcopy(args)
        result = run()
        for name, old, new in zip(self.function.specs, before, args):
            if not np.array_equal(np.asarray(old), np.asarray(new)):
                self.fail("argument modified", f"{what} wrote into {name}")
        return result


def _oracle_numbers(
    oracle: Callable[..., Any], args64: list[Any], wrt: list[int], emit: tuple[str, ...]
) -> dict[str, Any]:
    try:
        with np.errstate(over="raise"):
            value = np.asarray(oracle(*args64), dtype=np.float64)
    except FloatingPointError as error:
        raise Rejected(f"the forward pass overflows: {error}") from error
    if not np.all(np.isfinite(value)) or np.max(np.abs(value), initial=0) > 1e6:
        raise Rejected("the value is not finite or very large")
    numbers: dict[str, Any] = {"value": value}
    jacobians = [np.asarray(autograd.jacobian(oracle, i)(*args64)) for i in wrt]
    for j in jacobians:
        if not np.all(np.isfinite(j)) or np.max(np.abs(j), initial=0) > 1e6:
            raise Rejected("a derivative is not finite or very large")
    numbers["jacobians"] = jacobians
    if "hessian" in emit or "hvp" in emit:
        numbers["hessian"] = [
            [np.asarray(autograd.jacobian(autograd.grad(oracle, i), j)(*args64)) for j in wrt]
            for i in wrt
        ]
        if not all(np.all(np.isfinite(h)) for row in numbers["hessian"] for h in row):
            raise Rejected("a second derivative is not finite")
    return numbers


def _moves_past_float32(
    oracle: Callable[..., Any], args64: list[Any], names: list[str], function: gradgen.Function
) -> bool:
    """Whether the oracle's value moves by more than float32's tolerance when every float
    input moves by one float32 ulp: then float32 code cannot match it (fuzz seed 100221:
    cos of an intermediate 2.7e8, which float32 holds to within 16)."""
    with np.errstate(all="ignore"):
        value = np.asarray(oracle(*args64), dtype=np.float64)
        moved = [
            a if function.specs[n].integer else np.asarray(a) * (1.0 + 2.0**-23)
            for n, a in zip(names, args64)
        ]
        other = np.asarray(oracle(*moved), dtype=np.float64)
    return _close(other, value, "float32") is not None


def _contract(jacobian: np.ndarray, direction: np.ndarray, ndim: int) -> np.ndarray:
    return np.tensordot(jacobian, direction, axes=ndim) if ndim else jacobian * direction


def _check_module(
    checker: _Checker, args: list[Any], numbers: dict[str, Any], wrt: list[int], emit: Any
) -> None:
    m, f = checker.module, checker.function
    rng = np.random.default_rng(1)
    dtype = np.dtype(checker.dtype)
    value_shape = numbers["value"].shape
    shapes = [np.shape(args[i]) for i in wrt]
    params = [args[i] for i in wrt]
    names = [list(f.specs)[i] for i in wrt]

    value = checker.call("f", args, lambda: m.f(*args))
    checker.compare("value", value, numbers["value"], value_shape)

    d_value = None if value_shape == () else rng.normal(size=value_shape).astype(dtype)
    cotangent = np.ones(()) if d_value is None else d_value.astype(np.float64)
    expected = [np.tensordot(cotangent, j, axes=len(value_shape)) for j in numbers["jacobians"]]

    value, saved = checker.call("f_forward", args, lambda: m.f_forward(*args))
    kept = copy.deepcopy(saved)
    for attempt in ("backward", "backward again"):
        grads = m.f_backward(saved, d_value)
        for name, g, e, s, p in zip(names, grads, expected, shapes, params):
            checker.compare(f"grad {name} ({attempt})", g, e, s, p)
    for old, new in zip(kept, saved):
        if not np.array_equal(np.asarray(old), np.asarray(new)):
            checker.fail("saved modified", "f_backward wrote into saved")
    if value_shape == ():
        _, grads = checker.call("f_value_and_grad", args, lambda: m.f_value_and_grad(*args))
        for name, g, e, s, p in zip(names, grads, expected, shapes, params):
            checker.compare(f"grad {name} (value_and_grad)", g, e, s, p)
        grads = checker.call("f_grad", args, lambda: m.f_grad(*args))
        for name, g, e, s, p in zip(names, grads, expected, shapes, params):
            checker.compare(f"grad {name} (grad)", g, e, s, p)

    directions = [rng.normal(size=s).astype(dtype) for s in shapes]
    if "jvp" in emit:
        tangents = {f"{n}_dot": t for n, t in zip(names, directions)}
        _, value_dot = checker.call("f_jvp", args, lambda: m.f_jvp(*args, **tangents))
        want = sum(
            _contract(j, t.astype(np.float64), len(s))
            for j, t, s in zip(numbers["jacobians"], directions, shapes)
        )
        checker.compare("jvp", value_dot, want, value_shape)
    if "jacobian" in emit:
        jacobians = checker.call("f_jacobian", args, lambda: m.f_jacobian(*args))
        for name, j, e in zip(names, jacobians, numbers["jacobians"]):
            checker.compare(f"jacobian {name}", j, e, e.shape)
    if "hessian" in emit:
        blocks = checker.call("f_hessian", args, lambda: m.f_hessian(*args))
        for i, row in enumerate(blocks):
            for j, block in enumerate(row):
                want = numbers["hessian"][i][j]
                checker.compare(f"hessian {names[i]},{names[j]}", block, want, want.shape)
    if "hvp" in emit:
        vectors = {f"v_{n}": v for n, v in zip(names, directions)}
        products = checker.call("f_hvp", args, lambda: m.f_hvp(*args, **vectors))
        for i, product in enumerate(products):
            want = sum(
                _contract(h, v.astype(np.float64), len(s))
                for h, v, s in zip(numbers["hessian"][i], directions, shapes)
            )
            checker.compare(f"hvp {names[i]}", product, want, shapes[i], params[i])


def _import(text: str, name: str) -> ModuleType:
    module = ModuleType(name)
    exec(compile(text, f"<{name}>", "exec"), module.__dict__)
    return module


def check_source(text: str) -> list[Failure]:
    """Every disagreement of the compiled program `text` with the oracle; [] when none.
    Raises Rejected when the program falls outside the comparison (see `Rejected`)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz_model.py"  # kept while compiling: comments quote it
        path.write_text(text)
        (function,) = load_functions(path)
        return _check_function(text, function)


def _check_function(text: str, function: gradgen.Function) -> list[Failure]:
    args = draw_inputs(text, function)
    names = list(function.specs)
    wrt = [names.index(w) for w in function.wrt]
    args64 = [
        a if function.specs[n].integer else np.asarray(a, np.float64) for n, a in zip(names, args)
    ]
    try:
        with np.errstate(all="ignore"):
            numbers = _oracle_numbers(oracle_function(text), args64, wrt, function.emit)
        dtype = _metadata(text)["DTYPE"]
        biggest = max((np.max(np.abs(j), initial=0) for j in numbers["jacobians"]), default=0)
        if dtype == "float32" and biggest > FLOAT32_DERIVATIVES:
            raise Rejected(f"a derivative is above {FLOAT32_DERIVATIVES:g}, too large in float32")
        if dtype == "float32" and _moves_past_float32(
            oracle_function(text), args64, names, function
        ):
            raise Rejected("its value moves past the float32 tolerance within one float32 ulp")
    except Rejected:
        raise
    except Exception as error:
        raise Rejected(f"the oracle failed: {type(error).__name__}: {error}") from error
    failures: list[Failure] = []
    for label, target in (("optimized", NUMPY), ("unoptimized", REFERENCE)):
        try:
            compiled = compile_function(function, check=verify, target=target)
            # What ships is black-formatted; the unoptimized reference need not be (black
            # changes layout only, and is 40% of the fuzzer's time).
            emit = render_module if target is REFERENCE else emit_module
            module_text = emit([compiled.source()], "fuzz", gradgen.__version__, target.printer())
            module = _import(module_text, f"fuzz_{label}")
        except Exception as error:
            failures.append(Failure(f"compile: {type(error).__name__}", _last_lines(error)))
            break
        checker = _Checker(text, module, function, label)
        try:
            with np.errstate(all="ignore"):
                _check_module(checker, list(args), numbers, wrt, function.emit)
        except Exception as error:
            checker.fail(f"runtime: {type(error).__name__}", _last_lines(error))
        failures += checker.failures
    return failures


def _last_lines(error: BaseException) -> str:
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    return "".join(lines[-3:]).strip()
