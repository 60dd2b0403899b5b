"""The dot-product pass (`passes/dot_products.py`): which full sums become dot products,
the IR it leaves (checked by `verify`), and, on random sums of products, that the module
computes what the unoptimized reference computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import GraphMaker, compile_to_module

import gradgen as gg
from gradgen import Array
from gradgen.passes import dot_products
from gradgen.verify import verify


def _ops(graph) -> list[str]:  # type: ignore[no-untyped-def]
    return [eq.op for eq in graph.equations]


def test_a_sum_of_squares_becomes_dot_products() -> None:
    g = GraphMaker()
    a, b = g.input("a"), g.input("b")
    total = g("sum", g("add", g("mul", 100.0, g("pow", a, 2)), g("pow", b, 2)))
    after = verify(dot_products.run(g.graph(total)))
    assert _ops(after) == ["matmul", "matmul", "ew"]
    assert [eq.inputs for eq in after.equations[:2]] == [(a, a), (b, b)]
    assert after.outputs == (total,)  # the same value, computed by the combining ew


def test_products_are_expanded_through_the_sums_that_compute_them() -> None:
    """mean(x*y - (2*s)*y), s a 0-d value: x @ y, and the 0-d factor 2*s (still computed
    on its own) times the sum of y, over N."""
    g = GraphMaker()
    x, y, s = g.input("x"), g.input("y"), g.input("s", ())
    total = g("mean", g("sub", g("mul", x, y), g("mul", g("mul", 2.0, s), y)))
    after = verify(dot_products.run(g.graph(total)))
    assert _ops(after) == ["mul", "matmul", "sum", "ew"]


@pytest.mark.parametrize(
    "make",
    [
        lambda g, a, b: g("add", g("exp", a), a),  # nothing to multiply
        lambda g, a, b: g("mul", a, g.input("row", (1,))),  # a term that broadcasts
        lambda g, a, b: g("mul", g("mul", a, b), a),  # three vectors in one term
        lambda g, a, b: g("add", g("mul", a, b), 1.0),  # a number summed N times
    ],
)
def test_other_sums_stay_sums(make) -> None:  # type: ignore[no-untyped-def]
    g = GraphMaker()
    a, b = g.input("a"), g.input("b")
    graph = g.graph(g("sum", make(g, a, b)))
    assert dot_products.run(graph) is graph


def test_a_named_vector_is_not_expanded() -> None:
    """`r = x - y` is the user's: the sum reads it as it is (r @ r), r is computed."""
    g = GraphMaker()
    x, y = g.input("x"), g.input("y")
    r = g("sub", x, y, name="r")
    after = verify(dot_products.run(g.graph(g("sum", g("pow", r, 2)))))
    assert _ops(after) == ["sub", "matmul", "ew"]


@pytest.mark.parametrize("seed", range(8))
def test_dot_products_sum_what_the_expression_sums(seed: int, tmp_path) -> None:
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0, 2.5], size=3)

    @gg.function(wrt=("a", "b", "c"))
    def f(a: Array["N"], b: Array["N"], c: Array["N"], s: float):
        return gg.sum(signs[0] * a * b + signs[1] * s * (c - a) ** 2 + signs[2] * c)

    optimized = compile_to_module([f], tmp_path)
    reference = compile_to_module([f], tmp_path, unoptimized=True)
    assert " @ " in Path(optimized.__file__).read_text()
    args = [rng.normal(size=7) for _ in range(3)] + [0.3]
    value, grads = optimized.f_value_and_grad(*args)
    expected_value, expected_grads = reference.f_value_and_grad(*args)
    np.testing.assert_allclose(value, expected_value, rtol=1e-12)
    a, b, c, s = args
    direct = (signs[0] * a * b + signs[1] * s * (c - a) ** 2 + signs[2] * c).sum()
    np.testing.assert_allclose(value, direct, rtol=1e-12)
    for got, want in zip(grads, expected_grads):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_dot_product_that_is_a_term_prints_bare(tmp_path) -> None:
    """`@` binds tighter than + and -: a dot that is a whole term of a sum needs no
    parentheses (`(s - y @ z) / N`, as hand-written NumPy reads); one that is a factor
    keeps them (`c * (w @ z)`, which `c * w @ z` would change)."""

    @gg.function(wrt=("y",))
    def f(y: Array["N"], z: Array["N"], w: Array["N"], c: Array["M"]):
        return gg.mean(gg.softplus(z) - y * z) + gg.sum(c * gg.sum(w * z))

    module = compile_to_module([f], tmp_path)
    dots = [line for line in Path(module.__file__).read_text().splitlines() if " @ " in line]
    assert dots and all("- y @ z" in line and "c * (w @ z)" in line for line in dots), dots
    y, z, w, c = (np.random.default_rng(k).normal(size=n) for k, n in enumerate((5, 5, 5, 3)))
    expected = np.mean(np.logaddexp(0.0, z) - y * z) + np.sum(c * np.sum(w * z))
    np.testing.assert_allclose(module.f(y, z, w, c), expected, rtol=1e-12)
    np.testing.assert_allclose(module.f_value_and_grad(y, z, w, c)[0], expected, rtol=1e-12)
