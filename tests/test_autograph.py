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


# -- break: a flag the loop carries (AutoGraph's form), checked against Python itself
# running the same function on NumPy values (no tracing), and derivatives against autograd


@gg.function(wrt="a")
def newton_until_converged(a: Array[()], x0: Array[()], budget: Array["T"]):
    x = x0
    for i in range(budget.shape[0]):  # noqa: B007
        x = x - (x**3 - a) / (3 * x**2)
        if gg.abs(x**3 - a) < 1e-9:
            break
    return x


@gg.function(wrt="a")
def doubling_with_a_break(a: Array[3]):
    b = a
    while gg.sum(b * b) < 1e6:
        b = b * 2
        if gg.max(b) > 500:
            break
        b = b + 1
    return gg.sum(b)


@gg.function(wrt="a")
def while_true(a: Array[3]):
    b = a
    while True:
        b = b * 1.5
        if gg.sum(b) > 100:
            break
    return gg.sum(b**2)


@gg.function(wrt="a")
def python_loop_traced_break(a: Array[3]):
    b = a
    for i in range(4):  # noqa: B007  (Python ints, a traced break: steps guarded by ifs)
        b = b * 2
        if gg.sum(b) > 10:
            break
        b = gg.sin(b) + b
    return gg.sum(b**2)


def _python(function, *args):
    """The function run by Python itself on NumPy values (gg calls run eagerly)."""
    return function.fn(*args)


BREAKS = {
    "doubling_with_a_break": [np.array([0.3, -0.2, 0.9]), np.array([200.0, 1.0, 2.0])],
    "while_true": [np.array([0.3, -0.2, 0.9]), np.array([50.0, 60.0, 1.0])],
    "python_loop_traced_break": [np.array([0.1, 0.2, -0.1]), np.array([2.0, 1.0, 3.0])],
}


@pytest.fixture(scope="module")
def breaks(tmp_path_factory: pytest.TempPathFactory):
    functions = [globals()[name] for name in sorted(BREAKS)]
    return compile_to_module(functions, tmp_path_factory.mktemp("breaks"))


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_a_break_in_a_traced_loop_stops_it_where_python_would(breaks, name) -> None:
    import autograd
    import autograd.numpy as anp

    function, module = globals()[name], breaks
    oracles = {
        "doubling_with_a_break": _doubling_oracle,
        "while_true": _while_true_oracle,
        "python_loop_traced_break": _python_loop_oracle,
    }
    for a in BREAKS[name]:
        value, grad = getattr(module, f"{name}_value_and_grad")(a)
        np.testing.assert_allclose(value, _python(function, a), rtol=1e-13)
        np.testing.assert_allclose(value, oracles[name](anp, a), rtol=1e-13)
        expected = autograd.grad(lambda x: oracles[name](anp, x))(a)
        np.testing.assert_allclose(grad, expected, rtol=1e-11)


def _doubling_oracle(np_, a):
    b = a
    while np_.sum(b * b) < 1e6:
        b = b * 2
        if np_.max(b) > 500:
            break
        b = b + 1
    return np_.sum(b)


def _while_true_oracle(np_, a):
    b = a
    while True:
        b = b * 1.5
        if np_.sum(b) > 100:
            break
    return np_.sum(b**2)


def _python_loop_oracle(np_, a):
    b = a
    for _ in range(4):
        b = b * 2
        if np_.sum(b) > 10:
            break
        b = np_.sin(b) + b
    return np_.sum(b**2)


def test_a_for_loop_with_a_break_is_a_while_loop_of_at_most_its_range(tmp_path) -> None:
    module = compile_to_module([newton_until_converged], tmp_path)
    for a, budget in ((2.0, 50), (27.0, 50), (2.0, 2)):
        x, d_a = module.newton_until_converged_value_and_grad(
            np.array(a), np.array(1.5), np.zeros(budget)
        )
        x_python = _python(newton_until_converged, np.array(a), np.array(1.5), np.zeros(budget))
        np.testing.assert_allclose(x, x_python, rtol=1e-14)
        if budget == 50:  # converged: the implicit derivative of a**(1/3)
            np.testing.assert_allclose(x, a ** (1 / 3), rtol=1e-10)
            np.testing.assert_allclose(d_a, a ** (-2 / 3) / 3, rtol=1e-6)
    text = _source(newton_until_converged)
    assert "while steps < T:" in text  # the range's steps cap the loop
    assert "for " not in text.split("def newton_until_converged(", 1)[1].split("def ")[0]


def test_a_break_inside_a_with_block_is_left_to_python() -> None:
    import contextlib

    @gg.function(wrt="x")
    def f(x: Array["N"]):
        while gg.sum(x) < 10.0:
            with contextlib.nullcontext():
                if gg.sum(x) > 5.0:
                    break
            x = x * 2
        return gg.sum(x)

    error = _error(f)
    assert "cannot branch on a traced value" in str(error)


def test_a_variable_assigned_only_after_a_traced_break_is_an_error_where_it_is_used() -> None:
    # Python itself would raise NameError when the break comes first
    @gg.function(wrt="a")
    def f(a: Array[3]):
        b = a
        for i in range(3):  # noqa: B007
            b = b * 2
            if gg.sum(b) > 10:
                break
            c = b + 1
        return gg.sum(c)

    error = _error(f)
    assert "c is defined in one branch of this traced `if` only" in str(error)
    assert error.location is not None
