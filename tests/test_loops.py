"""Loops (`gg.scan`, `gg.fori_loop`): traced once, differentiated through, and emitted as
real `for` loops. Each gradient is checked against HIPS autograd running the same loop in
Python, and against finite differences; the IR is verified after every pass."""

from __future__ import annotations

import functools
import re

import autograd.numpy as anp
import numpy as np
import pytest
from oracles import ORACLES
from support import REPO, compile_to_module, numerical_vjp, oracle_vjp, relative_error

import gradgen as gg
from gradgen import Array
from gradgen.compiler import compile_function, load_functions
from gradgen.errors import GradgenError
from gradgen.verify import verify

TOLERANCE = 1e-8


@gg.function(wrt=("w_x", "w_h", "b", "h0"))
def rnn(
    xs: Array["T", "N", "D"],
    h0: Array["N", "H"],
    w_x: Array["D", "H"],
    w_h: Array["H", "H"],
    b: Array["H"],
):
    def step(h, x):
        h = gg.tanh(x @ w_x + h @ w_h + b)
        return h, h

    h, hs = gg.scan(step, h0, xs)
    return gg.sum(hs**2) + gg.sum(h)


def rnn_oracle(xs, h0, w_x, w_h, b):
    h, hs = h0, []
    for t in range(xs.shape[0]):
        h = anp.tanh(anp.dot(xs[t], w_x) + anp.dot(h, w_h) + b)
        hs.append(h)
    total = anp.sum(anp.stack(hs) ** 2) if hs else 0.0
    return total + anp.sum(h)


@gg.function(wrt=("x0", "w"))
def damped(x0: Array["N"], w: Array["N"]):
    x = gg.fori_loop(0, 25, lambda i, x: x - 0.1 * gg.sin(x) * w + 0.01 * i, x0)
    return gg.sum(x**2)


def damped_oracle(x0, w):
    x = x0
    for i in range(25):
        x = x - 0.1 * anp.sin(x) * w + 0.01 * i
    return anp.sum(x**2)


@gg.function(wrt=("a", "v"))
def two_carries_backwards(a: Array["N"], v: Array["T", "N"]):
    """Tuple carries, a tuple of xs, no ys, in reverse order."""

    def step(carry, x):
        p, q = carry
        v_t, w_t = x
        return (p * gg.cos(v_t) + q, q * 0.5 + w_t * p), None

    (p, q), none = gg.scan(step, (a, a * 0.0 + 1.0), (v, v * v), reverse=True)
    assert none is None
    return gg.sum(p * q)


def two_carries_oracle(a, v):
    p, q = a, anp.ones_like(a)
    for t in reversed(range(v.shape[0])):
        p, q = p * anp.cos(v[t]) + q, q * 0.5 + v[t] * v[t] * p
    return anp.sum(p * q)


@gg.function(wrt=("w",))
def nested(w: Array["N"], xs: Array["T", "N"]):
    """A fori_loop inside a scan's body, reading the body's slice and the outer weight."""

    def step(h, x):
        inner = gg.fori_loop(0, 3, lambda i, z: gg.tanh(z * w + x), h)
        return inner, gg.sum(inner * x)

    h, ys = gg.scan(step, w * 0.0, xs)
    return gg.sum(ys) + gg.sum(h * w)


def nested_oracle(w, xs):
    h, ys = anp.zeros_like(w), []
    for t in range(xs.shape[0]):
        z = h
        for _ in range(3):
            z = anp.tanh(z * w + xs[t])
        h = z
        ys.append(anp.sum(h * xs[t]))
    return anp.sum(anp.stack(ys)) + anp.sum(h * w)


@gg.function(wrt=("theta",))
def counted(theta: Array[()], y0: Array["N"]):
    """The counter in arithmetic, and bounds that are a dim expression."""
    return gg.sum(gg.fori_loop(1, "N", lambda i, y: y + gg.sin(theta * i) * y * 0.1, y0))


def counted_oracle(theta, y0):
    y = y0
    for i in range(1, y0.shape[0]):
        y = y + anp.sin(theta * i) * y * 0.1
    return anp.sum(y)


@gg.function(wrt=("log_stiffness", "log_damping", "y0"))
def pendulum(log_stiffness: Array[()], log_damping: Array[()], y0: Array[2], target: Array[2]):
    """examples/ode.py over 20 steps (autograd takes seconds through its 1,000)."""
    from_example = load_functions(REPO / "examples" / "ode.py")[0].fn
    namespace = dict(from_example.__globals__, STEPS=20)
    rk4 = type(from_example)(from_example.__code__, namespace)
    return rk4(log_stiffness, log_damping, y0, target)


@gg.function(wrt=("log_stiffness", "log_damping", "y0"), emit=("jvp", "hessian"))
def pendulum_all_kinds(
    log_stiffness: Array[()], log_damping: Array[()], y0: Array[2], target: Array[2]
):
    return pendulum.fn(log_stiffness, log_damping, y0, target)


def pendulum_oracle(log_stiffness, log_damping, y0, target):
    return ORACLES[("ode", "final_miss")](log_stiffness, log_damping, y0, target, steps=20)


CASES = {
    "rnn": (rnn, rnn_oracle, {"T": 6, "N": 3, "D": 4, "H": 5}),
    "damped": (damped, damped_oracle, {"N": 4}),
    "two_carries_backwards": (two_carries_backwards, two_carries_oracle, {"T": 5, "N": 3}),
    "nested": (nested, nested_oracle, {"T": 4, "N": 3}),
    "counted": (counted, counted_oracle, {"N": 5}),
    "pendulum": (pendulum, pendulum_oracle, {}),
}


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("loops")
    return compile_to_module([case[0] for case in CASES.values()], directory)


def _inputs(function, sizes, rng):
    return [
        (
            rng.normal(size=tuple(sizes[d] if isinstance(d, str) else d for d in spec.shape))
            * (0.5 if spec.shape else 1.0)
        )
        for spec in function.specs.values()
    ]


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_through_loops_match_autograd_and_finite_differences(module, name) -> None:
    function, oracle, sizes = CASES[name]
    rng = np.random.default_rng(len(name))
    args = _inputs(function, sizes, rng)
    value, grads = getattr(module, f"{name}_value_and_grad")(*args)
    np.testing.assert_allclose(value, oracle(*args), rtol=1e-12)
    np.testing.assert_allclose(getattr(module, name)(*args), value, rtol=1e-12)
    _, saved = getattr(module, f"{name}_forward")(*args)
    split = getattr(module, f"{name}_backward")(saved)
    names = list(function.specs)
    for param, grad, again in zip(function.wrt, grads, split, strict=True):
        index = names.index(param)
        expected = oracle_vjp(oracle, args, index, 1.0)
        assert relative_error(grad, expected) < TOLERANCE, (name, param)
        assert relative_error(grad, numerical_vjp(oracle, args, index, 1.0)) < 1e-6, param
        np.testing.assert_allclose(again, grad, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("steps", [0, 1])
def test_a_loop_of_no_step_or_one_step(module, steps) -> None:
    rng = np.random.default_rng(steps)
    xs, h0, w_x, w_h, b = _inputs(rnn, {**CASES["rnn"][2], "T": steps}, rng)
    value, grads = module.rnn_value_and_grad(xs, h0, w_x, w_h, b)
    np.testing.assert_allclose(value, rnn_oracle(xs, h0, w_x, w_h, b), rtol=1e-12)
    expected = oracle_vjp(rnn_oracle, [xs, h0, w_x, w_h, b], 1, 1.0)
    np.testing.assert_allclose(grads[3], expected, rtol=1e-12)
    grads[3][...] = 0.0  # the gradient is an array of its own, even when no step ran
    if steps == 0:
        assert np.all(grads[0] == 0.0)


def test_generated_code_holds_loops_and_keeps_float32(module) -> None:
    rng = np.random.default_rng(3)
    args = [a.astype(np.float32) for a in _inputs(rnn, CASES["rnn"][2], rng)]
    value, grads = module.rnn_value_and_grad(*args)
    assert np.asarray(value).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)


def test_the_module_has_real_loops_whose_size_does_not_depend_on_the_trip_count(
    tmp_path,
) -> None:
    def make(steps: int) -> str:
        @gg.function(wrt=("x0",))
        def f(x0: Array["N"], w: Array["N"]):
            return gg.sum(gg.fori_loop(0, steps, lambda i, x: gg.tanh(x * w), x0))

        return _source(f)

    def same(text: str) -> str:  # the trip count, and the traced graph's hash, aside
        return re.sub(r"\(traced graph \w+\)", "", text.replace("100000", "10"))

    short, long = make(10), make(100_000)
    assert same(short) == same(long)
    assert "for i in range(10):" in short and "for i in reversed(range(10)):" in short


def _source(function) -> str:
    from gradgen.codegen.module import emit_module

    compiled = compile_function(function, check=verify)
    return emit_module([compiled.source()], "test", gg.__version__)


def test_scan_and_fori_loop_run_eagerly_on_numpy_arrays() -> None:
    xs = np.arange(6.0).reshape(3, 2)
    carry, ys = gg.scan(lambda c, x: (c + x, c * x), np.zeros(2), xs)
    np.testing.assert_allclose(carry, xs.sum(axis=0))
    np.testing.assert_allclose(ys, [[0, 0], [0, 3], [8, 20]])
    assert gg.fori_loop(0, 4, lambda i, v: v + i, 0.0) == pytest.approx(6.0)


def _trace_error(fn) -> GradgenError:
    with pytest.raises(GradgenError) as caught:
        compile_function(fn)
    return caught.value


def test_a_carry_that_changes_shape_is_refused_at_the_loop_line() -> None:
    @gg.function(wrt=("x",))
    def f(x: Array["N"]):
        return gg.sum(gg.fori_loop(0, 3, lambda i, c: gg.sum(c), x))

    error = _trace_error(f)
    assert "carry 0 of gg.fori_loop has shape (N,) on entry and shape () after a step" in str(error)
    assert error.location is not None and error.location.lineno == f.fn.__code__.co_firstlineno + 2


def test_a_scan_function_must_return_a_pair() -> None:
    @gg.function(wrt=("x",))
    def f(x: Array["N"], xs: Array["T", "N"]):
        carry, _ = gg.scan(lambda c, v: c * v, x, xs)
        return gg.sum(carry)

    assert "returns Tracer, not a pair (carry, y)" in str(_trace_error(f))


def test_xs_of_different_lengths_are_refused() -> None:
    @gg.function(wrt=("x",))
    def f(x: Array["N"], a: Array["T", "N"], b: Array["K", "N"]):
        carry, _ = gg.scan(lambda c, v: (c * v[0] * v[1], None), x, (a, b))
        return gg.sum(carry)

    assert "leading axes of different sizes" in str(_trace_error(f))


@gg.function(wrt=("w", "x0"), emit=("grad", "jvp", "hvp", "hessian"))
def scalar_loop(w: Array["N"], x0: Array["N"], xs: Array["T", "N"]):
    def step(h, x):
        h = gg.tanh(h * w + x)
        return h, gg.sum(h * h)

    h, ys = gg.scan(step, x0, xs)
    return gg.sum(ys) + gg.sum(h * w)


def scalar_loop_oracle(w, x0, xs):
    h, ys = x0, []
    for t in range(xs.shape[0]):
        h = anp.tanh(h * w + xs[t])
        ys.append(anp.sum(h * h))
    return anp.sum(anp.stack(ys)) + anp.sum(h * w)


@gg.function(wrt=("w", "x0"), emit=("jvp", "jacobian"))
def vector_loop(w: Array["N"], x0: Array["N"], xs: Array["T", "N"]):
    """A value of T elements: the Jacobian by forward mode for w and x0 (N > T is not
    the case here) and by reverse mode when the value is smaller."""
    _, ys = gg.scan(lambda h, x: (gg.sin(h * w) + x, gg.sum(h * w)), x0, xs, reverse=True)
    return ys


def vector_loop_oracle(w, x0, xs):
    h, ys = x0, [None] * xs.shape[0]
    for t in reversed(range(xs.shape[0])):
        ys[t] = anp.sum(h * w)
        h = anp.sin(h * w) + xs[t]
    return anp.stack(ys)


def test_the_ode_examples_derivatives_over_20_steps_match_autograd(tmp_path) -> None:
    """examples/ode.py's jvp and Hessian (its emit kinds over 1,000 steps take autograd
    too long for the suite)."""
    import autograd

    module = compile_to_module([pendulum_all_kinds], tmp_path)
    rng = np.random.default_rng(7)
    args = _inputs(pendulum_all_kinds, {}, rng)
    z = np.array([args[0], args[1], *args[2]])

    def joined(z):
        return pendulum_oracle(z[0], z[1], z[2:], args[3])

    v = rng.normal(size=4)
    _, dot = module.pendulum_all_kinds_jvp(*args, v[0], v[1], v[2:])
    np.testing.assert_allclose(dot, autograd.grad(joined)(z) @ v, rtol=1e-9)
    blocks = module.pendulum_all_kinds_hessian(*args)
    hessian = autograd.hessian(joined)(z)
    np.testing.assert_allclose(blocks[0][0], hessian[0, 0], rtol=1e-8)
    np.testing.assert_allclose(blocks[2][2], hessian[2:, 2:], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(blocks[0][2], hessian[0, 2:], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("sizes", [{"T": 4, "N": 3}, {"T": 2, "N": 5}])
def test_every_emit_kind_goes_through_loops(tmp_path, sizes) -> None:
    import autograd

    module = compile_to_module([scalar_loop, vector_loop], tmp_path)
    rng = np.random.default_rng(sizes["N"])
    w, x0, xs = _inputs(scalar_loop, sizes, rng)
    v_w, v_x = rng.normal(size=w.shape), rng.normal(size=x0.shape)

    def joined(f):
        n = w.size
        return lambda z: f(z[:n], z[n:], xs)

    z, v = np.concatenate([w, x0]), np.concatenate([v_w, v_x])
    for name, oracle in (("scalar_loop", scalar_loop_oracle), ("vector_loop", vector_loop_oracle)):
        jacobian = autograd.jacobian(joined(oracle))(z)
        value, dot = getattr(module, f"{name}_jvp")(w, x0, xs, v_w, v_x)
        np.testing.assert_allclose(value, oracle(w, x0, xs), rtol=1e-12)
        np.testing.assert_allclose(dot, jacobian @ v, rtol=1e-10, atol=1e-12)
    hessian = autograd.hessian(joined(scalar_loop_oracle))(z)
    n = w.size
    products = module.scalar_loop_hvp(w, x0, xs, v_w, v_x)
    np.testing.assert_allclose(np.concatenate(products), hessian @ v, rtol=1e-10, atol=1e-12)
    blocks = module.scalar_loop_hessian(w, x0, xs)
    for i in range(2):
        for j in range(2):
            expected = hessian[i * n : (i + 1) * n, j * n : (j + 1) * n]
            np.testing.assert_allclose(blocks[i][j], expected, rtol=1e-10, atol=1e-12)
    jacobian = autograd.jacobian(joined(vector_loop_oracle))(z)
    d_w, d_x0 = module.vector_loop_jacobian(w, x0, xs)
    np.testing.assert_allclose(d_w, jacobian[:, :n], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d_x0, jacobian[:, n:], rtol=1e-10, atol=1e-12)


@gg.function(wrt=("a",), emit=("grad", "jvp", "hessian"))
def cube_root(a: Array["N"], x0: Array["N"]):
    """Newton's method for x**3 = a: a data-dependent number of steps, at most 30."""

    def moving(state):
        return gg.max(gg.abs(state[1])) > 1e-13

    def newton(state):
        x, _ = state
        step = (x**3 - a) / (3.0 * x**2)
        return x - step, step

    x, _ = gg.while_loop(moving, newton, (x0, x0 * 0.0 + 1.0), max_steps=30)
    return gg.sum(x)


@gg.function(wrt=("x0",))
def capped(x0: Array["N"]):
    """A condition that always holds: max_steps ends the loop."""
    return gg.sum(gg.while_loop(lambda x: gg.sum(x) > -1e9, lambda x: gg.sin(x) + 1.0, x0, 7))


def capped_oracle(x0):
    x = x0
    for _ in range(7):
        x = anp.sin(x) + 1.0
    return anp.sum(x)


def test_while_loops_differentiate_through_the_steps_they_ran(tmp_path) -> None:
    module = compile_to_module([cube_root, capped], tmp_path)
    a = np.array([2.0, 27.0, 0.5])
    value, (d_a,) = module.cube_root_value_and_grad(a, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(value, np.sum(np.cbrt(a)), rtol=1e-14)
    np.testing.assert_allclose(d_a, a ** (-2 / 3) / 3, rtol=1e-12)  # the implicit derivative
    _, dot = module.cube_root_jvp(a, np.array([1.0, 2.0, 3.0]), np.ones(3))
    np.testing.assert_allclose(dot, np.sum(a ** (-2 / 3) / 3), rtol=1e-12)
    ((hessian,),) = module.cube_root_hessian(a, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(hessian, np.diag(-2 / 9 * a ** (-5 / 3)), rtol=1e-9)
    # The start is the answer: one step runs (its step is 0), whose derivative is 1/(3 x0^2).
    value, (d_a,) = module.cube_root_value_and_grad(np.array([8.0]), np.array([2.0]))
    np.testing.assert_allclose(value, 2.0, rtol=1e-15)
    np.testing.assert_allclose(d_a, [1 / 12], rtol=1e-14)
    x0 = np.random.default_rng(0).normal(size=4)
    value, (d_x0,) = module.capped_value_and_grad(x0)
    np.testing.assert_allclose(value, capped_oracle(x0), rtol=1e-14)
    np.testing.assert_allclose(d_x0, oracle_vjp(capped_oracle, [x0], 0, 1.0), rtol=1e-12)
    assert "while steps < 7:" in _source(capped)


def test_a_while_condition_must_be_one_boolean() -> None:
    @gg.function(wrt=("x",))
    def f(x: Array["N"]):
        return gg.sum(gg.while_loop(lambda v: v > 0.0, lambda v: v - 1.0, x))

    assert "the condition of gg.while_loop gives shape (N,), not one boolean" in str(
        _trace_error(f)
    )


@gg.function(wrt=("x", "w"), emit=("grad", "jvp", "hessian"))
def branchy(x: Array["N"], w: Array["N"]):
    y = x * w
    z = gg.cond(gg.sum(y) > 0.0, lambda a: gg.exp(a) * w, lambda a: 3.0 * gg.sin(a), y)
    return gg.sum(z * x)


def branchy_oracle(x, w):
    y = x * w
    z = anp.exp(y) * w if anp.sum(y) > 0.0 else 3.0 * anp.sin(y)
    return anp.sum(z * x)


@gg.function(wrt=("w",))
def branch_per_step(w: Array["N"], xs: Array["T", "N"]):
    """A cond in a scan's body: each step takes the branch its data says."""

    def step(h, x):
        h = gg.cond(gg.sum(x * w) > 0.0, lambda v: gg.tanh(v * w + x), lambda v: v * 0.5, h)
        return h, None

    h, _ = gg.scan(step, w * 0.0 + 1.0, xs)
    return gg.sum(h * h)


def branch_per_step_oracle(w, xs):
    h = anp.ones_like(w)
    for t in range(xs.shape[0]):
        h = anp.tanh(h * w + xs[t]) if anp.sum(xs[t] * w) > 0.0 else h * 0.5
    return anp.sum(h * h)


def test_conds_run_one_branch_and_differentiate_through_it(tmp_path) -> None:
    import autograd

    module = compile_to_module([branchy, branch_per_step], tmp_path)
    rng = np.random.default_rng(11)
    taken = set()
    for _ in range(6):
        x, w = rng.normal(size=3), rng.normal(size=3)
        taken.add(bool(np.sum(x * w) > 0))
        value, grads = module.branchy_value_and_grad(x, w)
        np.testing.assert_allclose(value, branchy_oracle(x, w), rtol=1e-13)
        for k, grad in enumerate(grads):
            np.testing.assert_allclose(grad, oracle_vjp(branchy_oracle, [x, w], k, 1.0), rtol=1e-12)
        v = rng.normal(size=(2, 3))
        _, dot = module.branchy_jvp(x, w, v[0], v[1])
        expected = sum(oracle_vjp(branchy_oracle, [x, w], k, 1.0) @ v[k] for k in range(2))
        np.testing.assert_allclose(dot, expected, rtol=1e-11)
        blocks = module.branchy_hessian(x, w)
        hessian = autograd.hessian(lambda z: branchy_oracle(z[:3], z[3:]))(np.concatenate([x, w]))
        full = np.block([list(row) for row in blocks])
        np.testing.assert_allclose(full, hessian, rtol=1e-10, atol=1e-12)
    assert taken == {True, False}
    w, xs = rng.normal(size=3), rng.normal(size=(6, 3))
    value, (d_w,) = module.branch_per_step_value_and_grad(w, xs)
    np.testing.assert_allclose(value, branch_per_step_oracle(w, xs), rtol=1e-13)
    expected = oracle_vjp(branch_per_step_oracle, [w, xs], 0, 1.0)
    np.testing.assert_allclose(d_w, expected, rtol=1e-12)
    source = _source(branchy)
    assert source.count("    if t0:") >= 2 and "else:" in source  # forward and backward


def test_cond_branches_must_agree_and_the_predicate_be_one_boolean() -> None:
    @gg.function(wrt=("x",))
    def shapes(x: Array["N"]):
        return gg.sum(gg.cond(gg.sum(x) > 0.0, lambda v: v, lambda v: gg.sum(v), x))

    @gg.function(wrt=("x",))
    def predicate(x: Array["N"]):
        return gg.sum(gg.cond(x > 0.0, lambda v: v, lambda v: -v, x))

    assert "the branches of gg.cond give results of different shapes" in str(_trace_error(shapes))
    assert "the predicate of gg.cond gives shape (N,), not one boolean" in str(
        _trace_error(predicate)
    )


def test_readme_shows_the_control_flow_example_as_it_is() -> None:
    readme = (REPO / "README.md").read_text()
    block = readme.split('@gg.function(wrt="a")\n', 1)[1].split("```")[0]
    example = (REPO / "examples" / "control_flow.py").read_text()
    code = [line.split("  #")[0].rstrip() for line in block.splitlines()]
    assert "\n".join(code) in example, "update the README's control_flow example"


@gg.function(wrt=("w", "xs"))
def indexed(w: Array["N"], xs: Array["T", "N"]):
    """A body indexing arrays with the traced counter (x[t], and x[t] of the gradient)."""
    return gg.sum(gg.fori_loop(0, "T", lambda t, h: gg.tanh(h * w + xs[t] * 1.5), w * 0.0))


def indexed_oracle(w, xs):
    h = w * 0.0
    for t in range(xs.shape[0]):
        h = anp.tanh(h * w + xs[t] * 1.5)
    return anp.sum(h)


def test_bodies_index_arrays_with_the_traced_counter(tmp_path) -> None:
    module = compile_to_module([indexed], tmp_path)
    rng = np.random.default_rng(5)
    w, xs = rng.normal(size=3), rng.normal(size=(5, 3))
    value, (d_w, d_xs) = module.indexed_value_and_grad(w, xs)
    np.testing.assert_allclose(value, indexed_oracle(w, xs), rtol=1e-14)
    np.testing.assert_allclose(d_w, oracle_vjp(indexed_oracle, [w, xs], 0, 1.0), rtol=1e-12)
    np.testing.assert_allclose(d_xs, oracle_vjp(indexed_oracle, [w, xs], 1, 1.0), rtol=1e-12)


def test_a_while_loops_steps_take_no_name_of_an_argument_or_a_dim() -> None:
    # the loop's trip count is a dim of its own: an argument named `steps` keeps its name,
    # and a dim named `steps` stays the argument's size, not the loop's
    @gg.function(wrt=("x",))
    def f(x: Array["N"], steps: Array["N"]):
        while gg.sum(x) < gg.sum(steps):
            x = x * 2.0
        return gg.sum(x)

    @gg.function(wrt=("x",))
    def g(x: Array["steps"]):
        while gg.sum(x) < 10.0:
            x = x * 2.0
        return gg.sum(x)

    text = _source(f)
    assert "def f(x, steps):" in text
    assert "steps2 = 0" in text and "for t in reversed(range(steps2)):" in text
    text = _source(g)
    assert "steps = x.shape[0]" in text or "steps, = x.shape" in text
    assert "steps2 = 0" in text and "for t in reversed(range(steps2)):" in text


@gg.function(wrt=("x0",))
def capped_by_a_dim(x0: Array["N"], budget: Array["K"]):
    """A condition that always holds: max_steps, a named dim, ends the loop."""
    step = lambda x: gg.sin(x) + 1.0  # noqa: E731
    return gg.sum(gg.while_loop(lambda x: gg.sum(x) > -1e9, step, x0, max_steps="K"))


def test_a_while_loops_cap_may_be_a_named_dim(tmp_path) -> None:
    module = compile_to_module([capped_by_a_dim], tmp_path)
    x0 = np.random.default_rng(1).normal(size=3)
    for steps in (0, 1, 7):
        value, (d_x0,) = module.capped_by_a_dim_value_and_grad(x0, np.zeros(steps))
        oracle = lambda x, n=steps: anp.sum(  # noqa: E731
            functools.reduce(lambda y, _: anp.sin(y) + 1.0, range(n), x)
        )
        np.testing.assert_allclose(value, oracle(x0), rtol=1e-14)
        np.testing.assert_allclose(d_x0, oracle_vjp(oracle, [x0], 0, 1.0), rtol=1e-12)
    assert "while steps < K:" in _source(capped_by_a_dim)
