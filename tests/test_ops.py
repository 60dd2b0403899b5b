"""One entry per op drives its tests: the value against NumPy, the gradient against HIPS
autograd and central finite differences, in float64, at shapes that broadcast. Every
registered op must have an entry (ops made only by the compiler name the case that
produces them, and the test checks that it does)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import autograd.numpy as anp
import numpy as np
import pytest
from support import (
    compile_to_module,
    numerical_vjp,
    oracle_vjp,
    random_inputs,
    relative_error,
)

import gradgen as gg
from gradgen import Array
from gradgen.api import Function
from gradgen.compiler import compile_function
from gradgen.ops import OPS


def positive(x: np.ndarray) -> np.ndarray:
    return np.abs(x) + 0.5


@dataclass(frozen=True)
class Case:
    """A small function exercising one op, its autograd twin, and its argument shapes."""

    op: str  # the op under test
    traced: Callable[..., Any]  # written with gradgen
    oracle: Callable[..., Any]  # the same function in autograd.numpy
    shapes: tuple[tuple[Any, ...], ...]  # one annotation shape per argument
    domain: Callable[[np.ndarray], np.ndarray] | None = None  # maps N(0,1) samples
    label: str = ""

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
    Case("exp", gg.exp, anp.exp, ((N,),)),
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
    Case("matmul", lambda a, b: a @ b, anp.dot, ((N, D), (D, "K")), label="mm"),
    Case("matmul", lambda a, b: a @ b, anp.dot, ((N, D), (D,)), label="mv"),
    Case("matmul", lambda a, b: a @ b, anp.dot, ((D,), (D, "K")), label="vm"),
    Case("matmul", lambda a, b: a @ b, anp.dot, ((D,), (D,)), label="vv"),
    Case("transpose", lambda a: a.T * 1.0, lambda a: a.T * 1.0, ((N, D),)),
    Case(
        "transpose",
        lambda a: gg.transpose(a, axes=(1, 2, 0)),
        lambda a: anp.transpose(a, (1, 2, 0)),
        ((2, N, D),),
        label="axes",
    ),
]
# Ops only the compiler makes, and a case whose compiled graph must contain each.
MADE_BY_COMPILER = {
    "ew": "tanh",
    "outer": "matmul-mv",
    "broadcast_to": "sum-keepdims",
    "expand_dims": "mean-last",
    "copy": "sum-all",
    "zeros": None,  # see test_gradient_of_an_unused_parameter_is_zeros
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


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op_value_and_gradient(case: Case, tmp_path) -> None:
    function = _function(case)
    module = compile_to_module([function], tmp_path)
    rng = np.random.default_rng(sum(map(ord, case.id)))
    args = random_inputs(function, rng, case.domain)
    value, saved = module.f_forward(*args)
    expected_value = case.oracle(*args)
    np.testing.assert_allclose(value, expected_value, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(function(*args), expected_value, rtol=1e-13)  # eager NumPy
    head = rng.normal(size=np.shape(value))
    grads = module.f_backward(saved, head)
    for index, grad in enumerate(grads):
        assert np.shape(grad) == np.shape(args[index])
        expected = oracle_vjp(case.oracle, args, index, head)
        numeric = numerical_vjp(case.oracle, args, index, head)
        assert relative_error(grad, expected) < 1e-12, (args, grad, expected)
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
    assert "zeros" in {eq.op for eq in compile_function(f).joint.equations}


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
