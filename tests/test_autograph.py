"""Python's `if`, `while` and `for i in range(...)` in a model: rewritten before tracing
(gradgen.autograph) into gg.cond, gg.while_loop and gg.fori_loop when their tests or
bounds are traced, left to Python when they are Python values."""

from __future__ import annotations

import numpy as np
import pytest
from support import compile_to_module

import gradgen as gg
from gradgen import Array
from gradgen.codegen.module import emit_module
from gradgen.compiler import compile_function
from gradgen.errors import GradgenError
from gradgen.verify import verify


def _source(function) -> str:
    return emit_module([compile_function(function, check=verify).source()], "t", "0")


def _error(function) -> GradgenError:
    with pytest.raises(GradgenError) as caught:
        compile_function(function)
    return caught.value


@gg.function(wrt="a")
def d2l(a: Array[1]):
    b = a * 2
    while gg.linalg.norm(b) < 1000:
        b = b * 2
    if gg.sum(b) > 0:
        c = b
    else:
        c = 100 * b
    return c


@gg.function(wrt="w")
def over_a_named_dim(w: Array["H", "H"], xs: Array["T", "H"]):
    h = xs[0] * 0.0
    for t in range(xs.shape[0]):  # noqa: B007  (the generated loop's counter)
        h = gg.tanh(h @ w + 1.0)
    return gg.sum(h)


@gg.function(wrt="x")
def static(x: Array[3]):
    total = 0.0
    for i in range(3):  # Python ints: unrolled, as before
        if x.ndim == 1:  # a Python bool: plain Python
            total = total + x[i] * i
    return total


def test_the_tutorials_while_and_if_compile_as_written(tmp_path) -> None:
    module = compile_to_module([d2l], tmp_path)
    for a in (np.array([0.7]), np.array([-1.3]), np.array([1e-3])):
        value, grad = module.d2l_value_and_grad(a)
        np.testing.assert_allclose(grad, value / a, rtol=1e-15)  # as D2L checks it
    text = _source(d2l)
    assert "while True:" in text and "if t0:" in text  # a real loop and a real branch


def test_a_for_loop_over_a_named_dim_is_a_real_loop(tmp_path) -> None:
    module = compile_to_module([over_a_named_dim], tmp_path)
    rng = np.random.default_rng(0)
    w = 0.5 * rng.normal(size=(3, 3))
    for steps in (0, 1, 5):
        h = np.zeros(3)
        for _ in range(steps):
            h = np.tanh(h @ w + 1.0)
        value, d_w = module.over_a_named_dim_value_and_grad(w, np.zeros((steps or 1, 3)))
        if steps:
            np.testing.assert_allclose(value, h.sum(), rtol=1e-14)
    assert "for t in range(T):" in _source(over_a_named_dim)


def test_python_control_flow_on_python_values_still_unrolls() -> None:
    lines = [line.strip() for line in _source(static).split("def static(", 1)[1].splitlines()]
    assert not any(line.startswith(("for ", "while ")) for line in lines)  # unrolled
    assert not any(line.startswith("if ") and "None" not in line for line in lines)


def test_a_variable_defined_in_one_branch_only_is_an_error_where_it_is_used() -> None:
    @gg.function(wrt="x")
    def f(x: Array["N"]):
        if gg.sum(x) > 0:
            y = x * 2
        return gg.sum(y)

    error = _error(f)
    assert "y is defined in one branch of this traced `if` only" in str(error)
    assert error.location is not None
    assert error.location.lineno == f.fn.__code__.co_firstlineno + 2  # the `if`


def test_a_return_inside_a_traced_loop_is_an_error_at_its_line() -> None:
    @gg.function(wrt="x")
    def f(x: Array["N"]):
        while gg.sum(x) < 10.0:
            x = x * 2
            if gg.sum(x) > 5.0:
                return gg.sum(x)
        return gg.sum(x)

    error = _error(f)
    assert "cannot branch on a traced value" in str(error) and "return" in str(error)
    assert error.location is not None
    assert error.location.lineno == f.fn.__code__.co_firstlineno + 2


def test_a_while_test_must_be_one_boolean() -> None:
    @gg.function(wrt="x")
    def f(x: Array["N"]):
        while x > 0.0:
            x = x - 1.0
        return gg.sum(x)

    error = _error(f)
    assert "the condition of gg.while_loop gives shape (N,), not one boolean" in str(error)
    assert error.location is not None
    assert error.location.lineno == f.fn.__code__.co_firstlineno + 2


def test_a_loop_variable_that_changes_shape_is_named() -> None:
    @gg.function(wrt="x")
    def f(x: Array["N"]):
        while gg.sum(x) < 10.0:
            x = gg.sum(x * 2)
        return x

    assert "x of gg.while_loop has shape (N,) on entry and shape () after a step" in str(_error(f))
