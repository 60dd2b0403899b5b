"""SymPy symbols that carry what the printer must know about an operand beyond its name."""

from __future__ import annotations

from collections.abc import Iterable

import sympy


class ScalarSymbol(sympy.Symbol):
    """An operand known to be a scalar (0-d) in printed code, so products can multiply the
    scalars together before the arrays."""


class MaskSymbol(sympy.Symbol):
    """An operand that is integer or boolean data (a one-hot mask): `-mask` is an error in
    NumPy for booleans, so a negated mask prints as `-1 * mask`."""


class DimSymbol(ScalarSymbol):
    """The run-time size of a named dimension: a Python int, not a float."""


class ScalarMaskSymbol(ScalarSymbol, MaskSymbol):
    """A 0-d integer or boolean operand: a scalar, and a mask."""


def is_scalar(expr: sympy.Expr) -> bool:
    """Whether every operand of `expr` is a scalar (numbers included)."""
    return all(isinstance(s, ScalarSymbol) for s in expr.free_symbols)


def scalar_factor(factors: Iterable[sympy.Expr]) -> sympy.Expr:
    """The product of the scalar factors among `factors` (numbers, 0-d values, dims),
    evaluated so that they combine: 2 * d_value / N."""
    return sympy.Mul(*(f for f in factors if is_scalar(f)), evaluate=True)
