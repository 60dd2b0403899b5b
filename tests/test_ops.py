"""One entry per op drives its tests: the value against NumPy, the gradient against HIPS
autograd and central finite differences, in float64, at shapes that broadcast. Every
registered op must have an entry (ops made only by the compiler name the case that
produces them, and the test checks that it does)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import autograd.numpy as anp
import numpy as np
import pytest
from autograd.extend import defvjp, primitive
from support import (
    compile_to_module,
    numerical_vjp,
    oracle_vjp,
    random_inputs,
    relative_error,
)

import gradgen as gg
from gradgen import Array, IntArray
from gradgen.api import Function
from gradgen.compiler import compile_function
from gradgen.ops import OPS


def positive(x: np.ndarray) -> np.ndarray:
    return np.abs(x) + 0.5


def unit(x: np.ndarray) -> np.ndarray:
    """Inside (-0.9, 0.9), for arcsin and arccos."""
    return 0.9 * np.tanh(x)


def away_from(*points: float) -> Callable[[np.ndarray], np.ndarray]:
    """Samples at least 0.1 from each non-smooth point (finite differences need that)."""

    def shift(x: np.ndarray) -> np.ndarray:
        for p in points:
            x = np.where(np.abs(x - p) < 0.1, x + 0.2, x)
        return x

    return shift


def _logsumexp(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """The oracle's logsumexp, written out (autograd has no stable one of its own)."""
    shift = anp.max(a, axis=axis, keepdims=True)
    total = anp.log(anp.sum(anp.exp(a - shift), axis=axis, keepdims=True)) + shift
    return total if keepdims else anp.squeeze(total, axis=axis)


def _well_conditioned(x: np.ndarray) -> np.ndarray:
    """A random matrix pushed towards the identity (so inverses are tame)."""
    return x * 0.3 + 2.0 * np.eye(x.shape[-1])


@primitive
def _erf(x: Any) -> Any:
    """erf for the oracle: math.erf's values; the derivative 2/sqrt(pi) exp(-x^2) is the
    textbook one (and the finite differences check it independently)."""
    return np.vectorize(math.erf, otypes=[float])(x)


defvjp(_erf, lambda ans, x: lambda g: g * 2.0 / np.sqrt(np.pi) * anp.exp(-(x**2)))


def _detached(x: Any) -> Any:
    """x with no gradient in autograd: its value only, under every level of nesting (a
    Hessian traces twice)."""
    while hasattr(x, "_value"):
        x = x._value
    return x


@dataclass(frozen=True)
class Case:
    """A small function exercising one op, its autograd twin, and its argument shapes."""

    op: str  # the op under test
    traced: Callable[..., Any]  # written with gradgen
    oracle: Callable[..., Any]  # the same function in autograd.numpy
    shapes: tuple[tuple[Any, ...], ...]  # one annotation shape per argument
    domain: Callable[[np.ndarray], np.ndarray] | None = None  # maps N(0,1) samples
    label: str = ""
    differences: bool = True  # False where finite differences cannot see the rule (detach)

    @property
    def id(self) -> str:
        return f"{self.op}-{self.label}" if self.label else self.op


N, D = "N", "D"
CASES = [
    Case("add", lambda a, b: a + b, lambda a, b: a + b, ((N, D), (D,)), label="broadcast"),
    Case("add", lambda a, b: a + 2.0 + b, lambda a, b: a + 2.0 + b, ((), (N,)), label="scalar"),
    Case("sub", lambda a, b: a - b, lambda a, b: a - b, ((N, 1), (D,)), label="outer"),
    Case("sub", lambda a: 1 - a, lambda a: 1 - a, ((N,),), label="constant"),
    Case("mul", lambda a, b: a * b, lambda a, b: a * b, ((N, D), (N, 1))),
    Case("div", lambda a, b: a / b, lambda a, b: a / b, ((N, D), (D,)), positive),
    Case("div", lambda a: 2 / a, lambda a: 2 / a, ((N,),), positive, "constant"),
    Case("pow", lambda a: a**3, lambda a: a**3, ((N,),)),
    Case("pow", lambda a: a**2.5, lambda a: a**2.5, ((N,),), positive, "fractional"),
    Case("pow", lambda a: 2.0**a, lambda a: 2.0**a, ((N,),), label="constant_base"),
    Case("neg", lambda a: -a, lambda a: -a, ((N, D),)),
    Case("pow", lambda a, b: a**b, lambda a, b: a**b, ((N,), (N,)), positive, "array"),
    Case("pow", lambda a, b: gg.power(a, b), lambda a, b: a**b, ((N, D), (D,)), positive, "fn"),
    Case("exp", gg.exp, anp.exp, ((N,),)),
    Case("expm1", gg.expm1, anp.expm1, ((N,),)),
    Case("log1p", gg.log1p, anp.log1p, ((N,),), positive),
    Case("log2", gg.log2, anp.log2, ((N,),), positive),
    Case("log10", gg.log10, anp.log10, ((N,),), positive),
    Case("square", gg.square, anp.square, ((N, D),)),
    Case("reciprocal", gg.reciprocal, lambda a: 1.0 / a, ((N,),), positive),
    Case("tan", gg.tan, anp.tan, ((N,),), unit),
    Case("arcsin", gg.arcsin, anp.arcsin, ((N,),), unit),
    Case("arccos", gg.arccos, anp.arccos, ((N,),), unit),
    Case("arctan", gg.arctan, anp.arctan, ((N,),)),
    Case("arctan2", gg.arctan2, anp.arctan2, ((N, D), (D,)), positive),
    Case("sinh", gg.sinh, anp.sinh, ((N,),)),
    Case("cosh", gg.cosh, anp.cosh, ((N,),)),
    Case("arcsinh", gg.arcsinh, anp.arcsinh, ((N,),)),
    Case("erf", gg.erf, _erf, ((N, D),)),
    Case("sign", lambda a: gg.sign(a) * a, lambda a: anp.sign(a) * a, ((N,),), away_from(0)),
    Case(
        "clip",
        lambda a: gg.clip(a, -0.5, 0.5),
        lambda a: anp.clip(a, -0.5, 0.5),
        ((N, D),),
        away_from(-0.5, 0.5),
    ),
    Case("log", gg.log, anp.log, ((N,),), positive),
    Case("sin", gg.sin, anp.sin, ((N,),)),
    Case("cos", gg.cos, anp.cos, ((N,),)),
    Case("tanh", gg.tanh, anp.tanh, ((N, D),)),
    Case("sqrt", gg.sqrt, anp.sqrt, ((N,),), positive),
    Case("sigmoid", gg.sigmoid, lambda a: 1 / (1 + anp.exp(-a)), ((N,),)),
    Case("relu", gg.relu, lambda a: anp.maximum(a, 0.0), ((N, D),)),
    Case("abs", gg.abs, anp.abs, ((N,),)),
    Case("maximum", gg.maximum, anp.maximum, ((N, D), (D,))),
    Case("minimum", gg.minimum, anp.minimum, ((N,), ())),
    Case("sum", gg.sum, anp.sum, ((N, D),), label="all"),
    Case("sum", lambda a: gg.sum(a, axis=0), lambda a: anp.sum(a, axis=0), ((N, D),), label="0"),
    Case(
        "sum",
        lambda a: gg.sum(a, axis=1, keepdims=True),
        lambda a: anp.sum(a, axis=1, keepdims=True),
        ((N, D),),
        label="keepdims",
    ),
    Case(
        "sum",
        lambda a: a.sum(axis=(0, 2)),
        lambda a: anp.sum(a, axis=(0, 2)),
        ((2, N, D),),
        label="tuple",
    ),
    Case("mean", gg.mean, anp.mean, ((N, D),), label="all"),
    Case(
        "mean",
        lambda a: gg.mean(a, axis=-1),
        lambda a: anp.mean(a, axis=-1),
        ((N, D),),
        label="last",
    ),
    Case(
        "where",
        lambda a, b: gg.where(a > b, gg.sin(a), b * b),
        lambda a, b: anp.where(a > b, anp.sin(a), b * b * anp.ones_like(a)),
        ((N, D), (D,)),
    ),
    Case(
        "where",
        lambda a: gg.where(a > 0, gg.log(a), a),
        lambda a: anp.where(a > 0, anp.log(anp.abs(a)), a),
        ((N,),),
        away_from(0),
        "log",
    ),
    Case(
        "less",
        lambda a, b: gg.where(a < b, a * b, a - b),
        lambda a, b: anp.where(a < b, a * b, a - b),
        ((N,), (N,)),
    ),
    Case(
        "logical_and",
        lambda a, b: gg.where(gg.logical_and(a > 0.1, b < 0.5), a * b, a - b),
        lambda a, b: anp.where(anp.logical_and(a > 0.1, b < 0.5), a * b, a - b),
        ((N,), (N,)),
    ),
    Case(
        "logical_or",
        lambda a: gg.where(gg.logical_or(a < -0.5, a > 0.5), gg.sin(a), a**2),
        lambda a: anp.where(anp.logical_or(a < -0.5, a > 0.5), anp.sin(a), a**2),
        ((N,),),
    ),
    Case(
        "less_equal",
        lambda a: gg.where(a <= 0.2, a, 2.0 * a),
        lambda a: anp.where(a <= 0.2, a, 2.0 * a),
        ((N,),),
        away_from(0.2),
    ),
    Case(
        "greater_equal",
        lambda a, b: gg.where(a >= b, a, b),
        lambda a, b: anp.where(a >= b, a, b * anp.ones_like(a)),  # autograd's where: no unbroadcast
        ((N,), (1,)),
    ),
    Case(
        "greater",
        lambda a: gg.where(a > 0, a, 0.0),
        lambda a: anp.where(a > 0, a, 0.0),
        ((N,),),
        away_from(0),
    ),
    Case(
        "equal",
        lambda a, b: gg.where(a == gg.maximum(a, b), a, b * 3.0),
        lambda a, b: anp.where(a >= b, a, b * 3.0),
        ((N,), (N,)),
    ),
    Case(
        "not_equal",
        lambda a, b: gg.where(a != gg.maximum(a, b), a, b * 3.0),
        lambda a, b: anp.where(a < b, a, b * 3.0),
        ((N,), (N,)),
    ),
    Case("softplus", gg.softplus, lambda a: anp.logaddexp(0.0, a), ((N,),)),
    Case("prod", gg.prod, anp.prod, ((N, D),), label="all"),
    Case("prod", lambda a: gg.prod(a, axis=1), lambda a: anp.prod(a, axis=1), ((N, D),)),
    Case("max", gg.max, anp.max, ((N, D),), label="all"),
    Case(
        "max",
        lambda a: gg.max(a, axis=1, keepdims=True),
        lambda a: anp.max(a, axis=1, keepdims=True),
        ((N, D),),
        label="keepdims",
    ),
    Case("min", lambda a: gg.min(a, axis=0), lambda a: anp.min(a, axis=0), ((N, D),)),
    Case(
        "squeeze",
        lambda a: gg.squeeze(a, axis=1) * 2.0,
        lambda a: anp.squeeze(a, axis=1) * 2.0,
        ((N, 1),),
    ),
    Case(
        "stop_gradient",
        lambda a, b: a * gg.stop_gradient(b) + b,
        lambda a, b: a * _detached(b) + b,
        ((N,), (N,)),
        differences=False,
    ),
    Case("var", gg.var, anp.var, ((N, D),), label="all"),
    Case("std", lambda a: gg.std(a, axis=0), lambda a: anp.std(a, axis=0), ((N, D),)),
    Case("sqrt_of_squares", lambda a: gg.std(a, axis=1), lambda a: anp.std(a, axis=1), ((N, D),)),
    Case("norm", gg.linalg.norm, lambda a: anp.sqrt(anp.sum(a * a)), ((N, D),)),
    Case(
        "logsumexp",
        lambda a: gg.logsumexp(a, axis=1),
        lambda a: _logsumexp(a, axis=1),
        ((N, D),),
    ),
    Case("logsumexp", gg.logsumexp, _logsumexp, ((N,),), label="all"),
    Case(
        "log_softmax",
        gg.log_softmax,
        lambda a: a - _logsumexp(a, axis=-1, keepdims=True),
        ((N, D),),
    ),
    Case(
        "softmax",
        lambda a: gg.softmax(a, axis=0),
        lambda a: anp.exp(a - _logsumexp(a, axis=0, keepdims=True)),
        ((N, D),),
    ),
    Case(
        "binary_cross_entropy_with_logits",
        gg.binary_cross_entropy_with_logits,
        lambda z, y: anp.mean(anp.logaddexp(0.0, z) - y * z),
        ((N,), (N,)),
    ),
    Case("mse_loss", gg.mse_loss, lambda a, b: anp.mean((a - b) ** 2), ((N, D), (N, D))),
    Case(
        "huber_loss",
        lambda a, b: gg.huber_loss(a, b, delta=0.5),
        lambda a, b: anp.mean(
            anp.where(anp.abs(a - b) < 0.5, 0.5 * (a - b) ** 2, 0.5 * (anp.abs(a - b) - 0.25))
        ),
        ((N,), (N,)),
    ),
    Case("getitem", lambda a: a[1:] * a[:-1], lambda a: a[1:] * a[:-1], ((N,),), label="slices"),
    Case("getitem", lambda a: a[::2] * 3.0, lambda a: a[::2] * 3.0, ((N,),), label="step"),
    Case("getitem", lambda a: a[-1] * a[0], lambda a: a[-1] * a[0], ((N, D),), label="ints"),
    Case(
        "getitem",
        lambda a: a[:, None, 1:] - a[None, :, :-1],
        lambda a: a[:, None, 1:] - a[None, :, :-1],
        ((N, D),),
        label="newaxis",
    ),
    Case(
        "getitem",
        lambda a: a[..., 0] * a[1, ...],
        lambda a: a[..., 0] * a[1, ...],
        ((D, D),),
        label="ellipsis",
    ),
    Case("getitem", lambda a: a[::-1] * a, lambda a: a[::-1] * a, ((4,),), label="reverse"),
    Case(
        "reshape",
        lambda a: gg.sin(a.reshape(-1)),
        lambda a: anp.sin(anp.reshape(a, -1)),
        ((N, D),),
    ),
    Case(
        "reshape",
        lambda a: gg.reshape(a, (3, 4)) * 2.0,
        lambda a: anp.reshape(a, (3, 4)) * 2.0,
        ((2, 6),),
        label="ints",
    ),
    Case(
        "broadcast_to",
        lambda a: gg.broadcast_to(a, (4, 3)) * 1.5,
        lambda a: a * anp.ones((4, 3)) * 1.5,
        ((3,),),
    ),
    Case(
        "concatenate",
        lambda a, b: gg.concatenate([a, b * b], axis=1),
        lambda a, b: anp.concatenate([a, b * b], axis=1),
        ((N, D), (N, 2)),
    ),
    Case(
        "concatenate",
        lambda a, b: gg.stack([a, b], axis=0) ** 2,
        lambda a, b: anp.stack([a, b], axis=0) ** 2,
        ((N,), (N,)),
        label="stack",
    ),
    Case(
        "concatenate",
        lambda a: gg.split(a, [1], axis=1)[1] * gg.split(a, [1, 2], axis=1)[0],
        lambda a: a[:, 1:] * a[:, :1],
        ((N, D),),
        label="split",
    ),
    Case("matmul", lambda a, b: a @ b, anp.dot, ((N, D), (D, "K")), label="mm"),
    Case("matmul", lambda a, b: a @ b, anp.dot, ((N, D), (D,)), label="mv"),
    Case("matmul", lambda a, b: a @ b, anp.dot, ((D,), (D, "K")), label="vm"),
    Case("matmul", lambda a, b: a @ b, anp.dot, ((D,), (D,)), label="vv"),
    Case("matmul", lambda a, b: a @ b, anp.matmul, ((2, N, D), (D, "K")), label="batched"),
    Case("matmul", lambda a, b: a @ b, anp.matmul, ((N, D), (2, 1, D, "K")), label="bcast"),
    Case("matmul", lambda a, b: a @ b, anp.matmul, ((D,), (2, D, "K")), label="vec-batch"),
    Case("matmul", lambda a, b: a @ b, anp.matmul, ((2, N, D), (D,)), label="batch-vec"),
    Case("matmul", gg.dot, anp.dot, ((N, D), (D,)), label="dot"),
    Case("outer", gg.outer, anp.outer, ((N,), (D,))),
    Case(
        "einsum",
        lambda a, b: gg.einsum("ij,jk->ik", a, b),
        lambda a, b: anp.einsum("ij,jk->ik", a, b),
        ((N, D), (D, "K")),
    ),
    Case(
        "einsum",
        lambda a, b: gg.einsum("bij,bjk->bik", a, b),
        lambda a, b: anp.einsum("bij,bjk->bik", a, b),
        ((2, N, D), (2, D, "K")),
        label="batched",
    ),
    Case(
        "einsum",
        lambda a, b: gg.einsum("ij,k->ik", a, b),
        lambda a, b: anp.einsum("ij,k->ik", a, b),
        ((N, D), ("K",)),
        label="summed-out",
    ),
    Case(
        "einsum",
        lambda a, b: np.einsum("ij,ij", a, b),
        lambda a, b: anp.einsum("ij,ij", a, b),
        ((N, D), (N, D)),
        label="implicit",
    ),
    Case("trace", gg.trace, anp.trace, ((D, D),)),
    Case("inv", gg.linalg.inv, anp.linalg.inv, ((D, D),), _well_conditioned),
    Case("inv", gg.linalg.inv, anp.linalg.inv, ((2, D, D),), _well_conditioned, "batched"),
    Case(
        "solve",
        gg.linalg.solve,
        anp.linalg.solve,
        ((D, D), (D,)),
        lambda x: _well_conditioned(x) if x.ndim == 2 else x,
        "vector",
    ),
    Case(
        "solve",
        gg.linalg.solve,
        anp.linalg.solve,
        ((D, D), (D, "K")),
        lambda x: _well_conditioned(x) if x.shape == (3, 3) else x,
        "matrix",
    ),
    Case(
        "cholesky",
        lambda a: gg.linalg.cholesky(a @ a.T + 3.0),
        lambda a: anp.linalg.cholesky(anp.dot(a, a.T) + 3.0),
        ((D, D),),
    ),
    Case("det", gg.linalg.det, anp.linalg.det, ((D, D),), _well_conditioned),
    Case("det", gg.linalg.det, anp.linalg.det, ((2, D, D),), _well_conditioned, "batched"),
    Case(
        "logabsdet",
        lambda a: gg.linalg.slogdet(a)[1] * gg.linalg.slogdet(a)[0],
        lambda a: anp.linalg.slogdet(a)[1] * anp.linalg.slogdet(a)[0],
        ((D, D),),
        _well_conditioned,
    ),
    Case("transpose", lambda a: a.T * 1.0, lambda a: a.T * 1.0, ((N, D),)),
    Case(
        "transpose",
        lambda a: gg.transpose(a, axes=(1, 2, 0)),
        lambda a: anp.transpose(a, (1, 2, 0)),
        ((2, N, D),),
        label="axes",
    ),
]
# Ops without a CASES row: those the compiler makes, with a case whose compiled graph must
# contain each, and those a dedicated test below covers (None).
MADE_BY_COMPILER = {
    "tril": "cholesky",
    "take": None,  # see test_gathering_with_integer_indices
    "take_add": None,
    "take_along_axis": None,
    "along_axis_add": None,
    "eye": "trace",
    "det_sign": "logabsdet",
    "scatter": "getitem-step",
    "scatter_sum": "getitem-slices",  # the two slices' gradients in one buffer
    "cast_like": "max-all",
    "one_hot": None,  # see test_cross_entropy_with_integer_labels
    "ew": "tanh",
    "outer": "matmul-mv",
    "broadcast_to": "sum-keepdims",
    "expand_dims": "mean-last",
    "copy": "sum-all",
    "zeros_like": None,  # see test_gradient_of_an_unused_parameter_is_zeros
    "ones_like": None,  # the tangent 1 of a scalar parameter: see test_forward.py
    "zeros": None,  # zero Jacobian and Hessian blocks: see test_forward.py
    "ones": None,  # the cotangent 1 in Hessians: see test_forward.py
    "custom_vjp": None,  # user rules: see test_autodiff_controls.py
    "custom_jvp": None,
    "scan": None,  # loops and branches: see test_loops.py
    "cond": None,
    "scan_output": None,
}


def test_every_op_has_a_test_entry() -> None:
    covered = {case.op for case in CASES} | set(MADE_BY_COMPILER)
    assert set(OPS) <= covered, f"ops without a test entry: {sorted(set(OPS) - covered)}"


def _function(case: Case) -> Function:
    names = [f"a{i}" for i in range(len(case.shapes))]
    annotations = {n: Array[s] if s else Array[()] for n, s in zip(names, case.shapes)}
    traced = case.traced
    if len(names) == 1:

        def body(a0):  # noqa: ANN001
            return traced(a0)

    else:

        def body(a0, a1):  # noqa: ANN001
            return traced(a0, a1)

    body.__annotations__ = annotations
    body.__name__ = "f"
    return gg.function(body, wrt=tuple(names))


_MODULES: dict[str, tuple[Function, Any]] = {}


@pytest.fixture
def compiled(tmp_path_factory: pytest.TempPathFactory):
    """Compile a case once and share it between the float64 and float32 tests."""

    def get(case: Case) -> tuple[Function, Any]:
        if case.id not in _MODULES:
            function = _function(case)
            module = compile_to_module([function], tmp_path_factory.mktemp("ops"))
            _MODULES[case.id] = (function, module)
        return _MODULES[case.id]

    return get


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op_value_and_gradient(case: Case, compiled) -> None:
    function, module = compiled(case)
    rng = np.random.default_rng(sum(map(ord, case.id)))
    args = random_inputs(function, rng, case.domain)
    value, saved = module.f_forward(*args)
    expected_value = case.oracle(*args)
    np.testing.assert_allclose(value, expected_value, rtol=1e-13, atol=1e-14)
    with np.errstate(invalid="ignore", divide="ignore"):  # eager NumPy computes both branches
        np.testing.assert_allclose(function(*args), expected_value, rtol=1e-13)
    head = rng.normal(size=np.shape(value))
    grads = module.f_backward(saved, head)
    for index, grad in enumerate(grads):
        assert np.shape(grad) == np.shape(args[index])
        expected = oracle_vjp(case.oracle, args, index, head)
        assert relative_error(grad, expected) < 1e-12, (args, grad, expected)
        if case.differences:
            numeric = numerical_vjp(case.oracle, args, index, head)
            assert relative_error(grad, numeric) < 1e-7, (args, grad, numeric)


@pytest.mark.parametrize("op", sorted(o for o, c in MADE_BY_COMPILER.items() if c))
def test_compiler_made_op_appears_in_its_case(op: str) -> None:
    case = next(c for c in CASES if c.id == MADE_BY_COMPILER[op] or c.op == MADE_BY_COMPILER[op])
    compiled = compile_function(_function(case))
    assert op in {eq.op for eq in compiled.joint.equations}


def test_gradient_of_an_unused_parameter_is_zeros(tmp_path) -> None:
    @gg.function(wrt=("w", "v"))
    def f(w: Array["N"], v: Array["N", "D"]):
        return gg.sum(w * w)

    module = compile_to_module([f], tmp_path)
    d_w, d_v = module.f_grad(np.arange(3.0), np.ones((3, 2)))
    np.testing.assert_array_equal(d_w, [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(d_v, np.zeros((3, 2)))
    assert "zeros_like" in {eq.op for eq in compile_function(f).joint.equations}
    d_w32, d_v32 = module.f_grad(np.ones(3, np.float32), np.ones((3, 2), np.float32))
    assert d_v32.dtype == np.float32  # the parameter's dtype


def test_nonsmooth_points_follow_pytorch(tmp_path) -> None:
    """relu'(0) = 0, abs'(0) = 0, maximum/minimum split ties evenly."""

    @gg.function(wrt=("a", "b"))
    def f(a: Array["N"], b: Array["N"]):
        return gg.sum(gg.relu(a) + gg.abs(a) + gg.maximum(a, b) + gg.minimum(a, b) * 3.0)

    module = compile_to_module([f], tmp_path)
    d_a, d_b = module.f_grad(np.array([0.0, 1.0, -1.0]), np.array([0.0, 2.0, -1.0]))
    # at a=0=b: relu 0, abs 0, max tie 0.5, min tie 0.5*3 -> d_a = 2.0, d_b = 2.0
    # at a=1<b=2: relu 1, abs 1, max -> b, min -> a: d_a = 1 + 1 + 0 + 3 = 5, d_b = 1
    # at a=-1=b: relu 0, abs -1, ties 0.5 + 1.5 -> d_a = 1.0, d_b = 2.0
    np.testing.assert_array_equal(d_a, [2.0, 5.0, 1.0])
    np.testing.assert_array_equal(d_b, [2.0, 1.0, 2.0])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_float32_in_float32_out(case: Case, compiled) -> None:
    """Constants never upcast: float32 arguments give float32 values and gradients."""
    function, module = compiled(case)
    args = random_inputs(function, np.random.default_rng(1), case.domain)
    args32 = [np.float32(a) if np.ndim(a) == 0 else np.asarray(a, np.float32) for a in args]
    value, saved = module.f_forward(*args32)
    head = np.ones(np.shape(value), np.float32)
    grads = module.f_backward(saved, head)
    assert np.asarray(value).dtype == np.float32, case.id
    for grad in grads:
        assert np.asarray(grad).dtype == np.float32, case.id
    np.testing.assert_allclose(value, case.oracle(*args), rtol=2e-5, atol=1e-5)


def test_user_defined_elementwise_op(tmp_path) -> None:
    import sympy

    softsign = gg.elementwise("softsign", lambda x: x / (1 + sympy.Abs(x)))
    assert gg.elementwise("softsign", lambda x: x / (1 + sympy.Abs(x))) is not None  # again

    @gg.function(wrt="x")
    def f(x: Array["N"]):
        return gg.sum(softsign(x) * x)

    module = compile_to_module([f], tmp_path)
    x = np.array([-2.0, -0.5, 0.3, 4.0])
    expected = oracle_vjp(lambda v: anp.sum(v / (1 + anp.abs(v)) * v), [x], 0, 1.0)
    np.testing.assert_allclose(module.f_grad(x), expected, rtol=1e-13)
    np.testing.assert_allclose(f(x), np.sum(x / (1 + np.abs(x)) * x))  # eager
    with pytest.raises(ValueError, match="already exists"):
        gg.elementwise("softsign", lambda x: x / (2 + sympy.Abs(x)))


def test_constants() -> None:
    assert (gg.pi, gg.e, gg.inf) == (np.pi, np.e, np.inf)


def test_where_does_not_leak_nan_from_the_branch_not_taken(tmp_path) -> None:
    """The trap in PyTorch and JAX: d/dx where(x > 0, log(x), 0) at x = 0 is 0, not nan,
    and nothing warns (every floating-point problem raises here)."""

    @gg.function(wrt="x")
    def f(x: Array["N"]):
        return gg.sum(gg.where(x > 0, gg.log(x), 0.0))

    @gg.function(wrt="x")
    def named(x: Array["N"]):
        branch = gg.sqrt(x) * 2.0  # a named branch is guarded too
        return gg.sum(gg.where(x > 0, branch, x))

    module = compile_to_module([f, named], tmp_path)
    x = np.array([0.0, -1.0, 2.0])
    with np.errstate(all="raise"):
        value, grad = module.f_value_and_grad(x)
        value_2, grad_2 = module.named_value_and_grad(x)
    assert value == pytest.approx(np.log(2.0))
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.5])
    np.testing.assert_allclose(grad_2, [1.0, 1.0, 1.0 / np.sqrt(2.0)])
    assert value_2 == pytest.approx(-1.0 + 2.0 * np.sqrt(2.0))


def test_cross_entropy_with_integer_labels(tmp_path) -> None:
    @gg.function(wrt="logits")
    def f(logits: Array["N", 4], labels: IntArray["N"]):
        return gg.cross_entropy(logits, labels)

    module = compile_to_module([f], tmp_path)
    rng = np.random.default_rng(4)
    logits, labels = rng.normal(size=(6, 4)), rng.integers(0, 4, size=6)

    def oracle(z: Any) -> Any:
        log_p = z - _logsumexp(z, axis=1, keepdims=True)
        return -anp.mean(anp.sum(log_p * np.eye(4)[labels], axis=1))

    value, grad = module.f_value_and_grad(logits, labels)
    assert value == pytest.approx(oracle(logits), rel=1e-14)
    assert relative_error(grad, oracle_vjp(oracle, [logits], 0, 1.0)) < 1e-13
    assert "one_hot" in {eq.op for eq in compile_function(f).joint.equations}


def test_max_and_min_share_the_gradient_among_ties(tmp_path) -> None:
    @gg.function(wrt="x")
    def f(x: Array["N", 3]):
        return gg.sum(gg.max(x, axis=1) + 2.0 * gg.min(x))

    module = compile_to_module([f], tmp_path)
    x = np.array([[1.0, 3.0, 3.0], [0.0, 0.0, 0.0]])
    # row maxima: 3 twice in row 0 (1/2 each), 0 three times in row 1 (1/3 each);
    # 2 * min(x) is added to both rows' maxima, so the global min 0, three times in
    # row 1, shares 2 * 2 = 4: 4/3 each.
    expected = np.array([[0.0, 0.5, 0.5], [1 / 3 + 4 / 3] * 3])
    np.testing.assert_allclose(module.f_grad(x), expected, rtol=1e-15)


STABLE = {
    "logsumexp": lambda z, y: gg.logsumexp(z),
    "log_softmax": lambda z, y: gg.sum(gg.log_softmax(z) * y),
    "softmax": lambda z, y: gg.sum(gg.softmax(z) * y),
    "softplus": lambda z, y: gg.sum(gg.softplus(z) * y),
    "binary_cross_entropy_with_logits": gg.binary_cross_entropy_with_logits,
}


@pytest.mark.parametrize("name", sorted(STABLE))
def test_stable_forms_at_logits_of_a_thousand(name: str, tmp_path) -> None:
    """Finite values and finite, correct gradients for logits of +-1000, with overflow,
    invalid operations and division by zero all raising."""
    body = STABLE[name]

    def f(z, y):  # noqa: ANN001
        return body(z, y)

    f.__annotations__ = {"z": Array[4], "y": Array[4]}
    module = compile_to_module([gg.function(f, wrt="z")], tmp_path)
    z = np.array([1000.0, -1000.0, 999.0, 0.0])
    y = np.array([1.0, 0.0, 0.5, 0.25])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, grad = module.f_value_and_grad(z, y)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    # The gradient at a shifted point agrees with central differences there.
    shifted = z - 1000.0 * (z > 500)  # the same softmax geometry at moderate logits
    numeric = numerical_vjp(lambda v: module.f(v, y), [shifted], 0, 1.0)
    _, moderate = module.f_value_and_grad(shifted, y)
    assert relative_error(moderate, numeric) < 1e-7


def test_gathering_with_integer_indices(tmp_path) -> None:
    """take and take_along_axis against autograd, repeated indices adding up."""

    @gg.function(wrt="z")
    def f(z: Array["N", 4], labels: IntArray["N"], rows: IntArray[6]):
        picked = gg.take_along_axis(z, labels[:, None], axis=1)
        return gg.sum(gg.sin(picked)) + gg.sum(gg.take(z, rows, axis=0) ** 2)

    compiled_ops = {eq.op for eq in compile_function(f).joint.equations}
    assert {"take", "take_add", "take_along_axis", "along_axis_add"} <= compiled_ops
    module = compile_to_module([f], tmp_path)
    rng = np.random.default_rng(8)
    z = rng.normal(size=(5, 4))
    labels = rng.integers(0, 4, size=5)
    rows = np.array([0, 2, 2, 4, 0, 0])  # repeats

    def oracle(v: Any) -> Any:
        picked = v[np.arange(5), labels]
        return anp.sum(anp.sin(picked)) + anp.sum(v[rows] ** 2)

    value, grad = module.f_value_and_grad(z, labels, rows)
    assert value == pytest.approx(oracle(z), rel=1e-14)
    assert relative_error(grad, oracle_vjp(oracle, [z], 0, 1.0)) < 1e-14
    assert relative_error(grad, numerical_vjp(oracle, [z], 0, 1.0)) < 1e-7


def test_prod_gradient_with_zeros(tmp_path) -> None:
    @gg.function(wrt="x")
    def f(x: Array[3, 3]):
        return gg.sum(gg.prod(x, axis=1))

    module = compile_to_module([f], tmp_path)
    x = np.array([[2.0, 3.0, 4.0], [0.0, 3.0, 4.0], [0.0, 0.0, 5.0]])
    with np.errstate(all="raise"):
        grad = module.f_grad(x)
    # no zero: the others' product; one zero: only the zero gets the others' product;
    # two zeros: all zero.
    np.testing.assert_array_equal(grad, [[12.0, 8.0, 6.0], [12.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_norm_of_zeros_has_gradient_zero_as_pytorch_does(tmp_path) -> None:
    """PyTorch's norm backward masks the division by a zero norm; so does gradgen's (the
    plain sqrt would give 0 * inf = nan, in both modes)."""

    @gg.function(wrt="x", emit=("grad", "jvp"))
    def f(x: Array[2, 2]):
        return gg.sum(gg.linalg.norm(x, axis=1))

    module = compile_to_module([f], tmp_path)
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    with np.errstate(all="ignore"):  # np.where computes the division everywhere
        grad = module.f_grad(x)
        _, value_dot = module.f_jvp(x, np.array([[1.0, 2.0], [1.0, 1.0]]))
    np.testing.assert_allclose(grad, [[0.0, 0.0], [0.6, 0.8]], rtol=1e-13)
    assert np.isclose(value_dot, 0.6 + 0.8, rtol=1e-13)


def test_sqrt_at_zero_gives_inf_as_pytorch_does(tmp_path) -> None:
    @gg.function(wrt="x")
    def f(x: Array[2]):
        return gg.sum(gg.sqrt(x))

    module = compile_to_module([f], tmp_path)
    with np.errstate(divide="ignore"):
        grad = module.f_grad(np.array([0.0, 4.0]))
    assert grad[0] == np.inf and grad[1] == 0.25
