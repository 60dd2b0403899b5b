"""`gg.scan(..., checkpoint_every=k)`: the reverse keeps every k-th carry and runs each
segment again in the backward. Its values and derivatives are the plain loop's, checked
against HIPS autograd (the loops written out in Python) at trip counts below, at and
past multiples of k; the generated code stacks T // k carries, not T residuals. (The
fuzzer's checkpointed scans go through every emit kind, Hessians included.)"""

from __future__ import annotations

import re

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from support import load_text, oracle_vjp, relative_error
from test_loops import rnn_oracle

import gradgen as gg
from gradgen import Array
from gradgen.codegen.module import emit_module
from gradgen.compiler import compile_function
from gradgen.errors import GradgenError
from gradgen.verify import verify

TOLERANCE = 1e-10


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

    h, hs = gg.scan(step, h0, xs, checkpoint_every=3)
    return gg.sum(hs**2) + gg.sum(h)  # test_loops.rnn's loss, checkpointed: same oracle


@gg.function(wrt=("a", "v"), emit=("grad", "jvp"))
def backwards_pair(a: Array["N"], v: Array["N"]):
    """Two carries, no xs, no ys, steps run in reverse, 7 steps in segments of 2."""

    def step(carry, x):
        p, q = carry
        return (gg.sin(p) * q + a, q * 0.9 + gg.tanh(p)), None

    (p, q), _ = gg.scan(step, (a, v), None, length=7, reverse=True, checkpoint_every=2)
    return gg.sum(p * q)


def backwards_pair_oracle(a, v):
    p, q = a, v
    for _ in range(7):
        p, q = anp.sin(p) * q + a, q * 0.9 + anp.tanh(p)
    return anp.sum(p * q)


@gg.function(wrt=("w",))
def reversed_ys(w: Array["N"], xs: Array["T", "N"]):
    """A reversed scan whose stacked ys are read: row t is still step t's."""

    def step(c, x):
        c = gg.cos(c * w + x)
        return c, c * x

    _, ys = gg.scan(step, w, xs, reverse=True, checkpoint_every=2)
    return gg.sum(ys**3)


def reversed_ys_oracle(w, xs):
    c, ys = w, [None] * xs.shape[0]
    for t in reversed(range(xs.shape[0])):
        c = anp.cos(c * w + xs[t])
        ys[t] = c * xs[t]
    return anp.sum(anp.stack(ys) ** 3) if ys else 0.0


@pytest.fixture(scope="module")
def sources():
    """Each function compiled once (the IR checked after every pass)."""
    return [compile_function(f, check=verify).source() for f in (rnn, backwards_pair, reversed_ys)]


@pytest.fixture(scope="module")
def module(sources, tmp_path_factory: pytest.TempPathFactory):
    text = emit_module(sources, "test", gg.__version__)
    return load_text(text, tmp_path_factory.mktemp("checkpoint"))


def _check_gradients(module, name, oracle, function, args) -> None:
    value, grads = getattr(module, f"{name}_value_and_grad")(*args)
    np.testing.assert_allclose(value, oracle(*args), rtol=1e-12)
    _, saved = getattr(module, f"{name}_forward")(*args)
    split = getattr(module, f"{name}_backward")(saved)
    names = list(function.specs)
    for param, grad, again in zip(function.wrt, grads, split, strict=True):
        expected = oracle_vjp(oracle, args, names.index(param), 1.0)
        assert relative_error(grad, expected) < TOLERANCE, (name, param)
        np.testing.assert_allclose(again, grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 4, 6, 7, 11])
def test_a_checkpointed_rnn_has_the_plain_loops_gradients(module, steps) -> None:
    rng = np.random.default_rng(steps)
    args = [
        rng.normal(size=(steps, 2, 3)),
        rng.normal(size=(2, 4)),
        *(0.5 * rng.normal(size=s) for s in [(3, 4), (4, 4), (4,)]),
    ]
    _check_gradients(module, "rnn", rnn_oracle, rnn, args)


def test_reversed_and_structured_checkpointed_scans(module) -> None:
    rng = np.random.default_rng(7)
    a, v = 0.5 * rng.normal(size=5), 0.5 * rng.normal(size=5)
    _check_gradients(module, "backwards_pair", backwards_pair_oracle, backwards_pair, [a, v])
    for steps in (0, 3, 5):
        args = [0.5 * rng.normal(size=3), rng.normal(size=(steps, 3))]
        _check_gradients(module, "reversed_ys", reversed_ys_oracle, reversed_ys, args)


def test_forward_mode_goes_through_checkpointed_scans(module) -> None:
    # (the fuzzer's checkpointed scans go through Hessians and HVPs too)
    rng = np.random.default_rng(11)
    a, v = 0.5 * rng.normal(size=4), 0.5 * rng.normal(size=4)
    t_a, t_v = rng.normal(size=4), rng.normal(size=4)
    joined = lambda z: backwards_pair_oracle(z[:4], z[4:])  # noqa: E731
    z, tangent = np.concatenate([a, v]), np.concatenate([t_a, t_v])
    value, dot = module.backwards_pair_jvp(a, v, t_a, t_v)
    np.testing.assert_allclose(value, backwards_pair_oracle(a, v), rtol=1e-12)
    np.testing.assert_allclose(dot, autograd.grad(joined)(z) @ tangent, rtol=1e-10)


def test_the_backward_keeps_one_carry_per_segment_and_remakes_the_rest(sources) -> None:
    source = emit_module(sources[:1], "test", gg.__version__)
    forward = source[source.index("def rnn_forward") : source.index("def rnn_backward")]
    # the forward stacks the carry once per segment of 3 steps (and the ys, a result, of
    # every step), and no per-step residual
    assert re.search(r"h_checkpoints = np\.empty\(\s*\(T // 3, N, H\)", forward)
    assert not re.search(r"np\.empty\(\s*\(T,", forward)
    allocated = re.findall(r"(\w+) = np\.empty\(\s*\(([^)]*)\)", forward)
    assert [name for name, shape in allocated if shape.startswith("T // 3, 3,")] == ["ys_segments"]
    assert "for segment in range(T // 3):" in forward
    # the steps left over after the last whole segment run in a loop of their own
    assert "range(T - 3 * (T // 3))" in forward
    backward = source[source.index("def rnn_backward") :]
    assert "for segment_1 in reversed(range(T // 3)):" in backward
    assert re.search(r"h_steps\w* = np\.empty\(\s*\(3, N, H\)", backward)


def test_checkpoint_every_must_be_a_positive_int() -> None:
    @gg.function(wrt=("x",))
    def bad(x: Array["T", "N"]):
        c, _ = gg.scan(lambda c, x: (c + x, None), x[0], x, checkpoint_every=0)
        return gg.sum(c)

    with pytest.raises(GradgenError, match="checkpoint_every of gg.scan must be a positive int"):
        compile_function(bad)


def test_a_checkpointed_scan_runs_eagerly_as_the_plain_loop() -> None:
    xs = np.arange(5.0)
    carry, ys = gg.scan(lambda c, x: (c * 0.5 + x, c), 1.0, xs, checkpoint_every=2)
    expected_carry, expected_ys = gg.scan(lambda c, x: (c * 0.5 + x, c), 1.0, xs)
    assert carry == pytest.approx(expected_carry)
    np.testing.assert_allclose(ys, expected_ys)


@pytest.mark.parametrize(
    "dim, meaning",
    [
        ("floor(T/4)", lambda T: T // 4),
        ("4*floor(T/4)", lambda T: 4 * (T // 4)),
        ("T - 4*floor(T/4)", lambda T: T % 4),
        ("2*ceiling(T/3)", lambda T: 2 * -(-T // 3)),
        ("T - ceiling((T - 1)/2)", lambda T: T - -(-(T - 1) // 2)),
        ("floor(T/4)**2", lambda T: (T // 4) ** 2),
    ],
)
def test_dims_with_floor_and_ceiling_print_as_python_that_computes_them(dim, meaning) -> None:
    # the segments' sizes: a product of a floor division needs its parentheses
    from gradgen.codegen.printer import NumPyCodePrinter
    from gradgen.shapes import dim_expr

    text = NumPyCodePrinter().doprint(dim_expr(dim))
    for size in range(1, 14):
        assert eval(text, {"T": size}) == meaning(size), (dim, text, size)
