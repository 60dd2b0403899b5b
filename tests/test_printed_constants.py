"""Constants print as what they are (`codegen/constants.py`): a float that is exactly a
square root of a small integer, or one over it, as `n**0.5`, and the module's code still
computes the same numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy
from support import compile_to_module

import gradgen as gg
from gradgen import Array
from gradgen.codegen.constants import reciprocal_square_root, square_root
from gradgen.codegen.printer import NumPyCodePrinter


@pytest.mark.parametrize(("value", "text"), [(8**0.5, "8**0.5"), (2**0.5, "2**0.5")])
def test_square_roots_of_integers_are_recognized(value: float, text: str) -> None:
    assert square_root(value) == text
    assert reciprocal_square_root(1 / value) == text


@pytest.mark.parametrize("value", [0.5, 2.0, 3.0, 1e-05, -(2**0.5), 2**0.5 + 1e-15, 1e6**0.5])
def test_other_floats_keep_their_digits(value: float) -> None:
    assert square_root(value) is None
    assert reciprocal_square_root(value) is None


def _printed(expr: sympy.Expr) -> str:
    return NumPyCodePrinter().doprint(expr)


def test_a_factor_one_over_a_root_divides_and_a_root_as_a_base_is_parenthesized() -> None:
    x = sympy.Symbol("x", real=True)
    with sympy.evaluate(False):
        product = sympy.Mul(x, sympy.Float(1 / 8**0.5))
        power = sympy.Pow(sympy.Float(8**0.5), x)
        alone = sympy.Add(x, sympy.Float(1 / 8**0.5))
    assert _printed(product) == "x / 8**0.5"
    assert _printed(power) == "(8**0.5)**x"
    value = 0.7
    for expr in (product, power, alone):
        expected = float(expr.subs(x, value))
        assert eval(_printed(expr), {"x": value}) == pytest.approx(
            expected, rel=1e-15
        )  # noqa: S307


def test_attention_scaling_reads_as_the_user_wrote_it(tmp_path) -> None:
    @gg.function(wrt="q")
    def f(q: Array["T", 8], k: Array["T", 8]):
        return gg.sum(gg.tanh(q @ k.T / 8**0.5))

    module = compile_to_module([f], tmp_path)
    text = Path(module.__file__).read_text()
    assert "2.828" not in text and "0.3535" not in text
    assert text.count("/= 8**0.5") + text.count("/ 8**0.5") >= 2  # forward and backward
    rng = np.random.default_rng(3)
    q, k = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    d_q = module.f_grad(q, k)
    expected = (1 - np.tanh(q @ k.T / 8**0.5) ** 2) @ k / 8**0.5
    np.testing.assert_allclose(d_q, expected, rtol=1e-12)
