"""What each elementwise op means, as SymPy: the expressions, functions and rules the
compiler differentiates and prints (`gradgen.ops.elementwise` lists the ops; this module is
imported only when something is compiled, so `import gradgen` loads no SymPy).

Each public name is the op's name; rows of `gradgen.ops.elementwise` refer to them.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy
from sympy.codegen.cfunctions import expm1, log1p, log2, log10

__all__ = ["expm1", "log1p", "log2", "log10"]  # SymPy's own, printed as NumPy's

exp = sympy.exp
log = sympy.log
sin, cos, tan = sympy.sin, sympy.cos, sympy.tan
arcsin, arccos, arctan, arctan2 = sympy.asin, sympy.acos, sympy.atan, sympy.atan2
sinh, cosh, tanh, arcsinh = sympy.sinh, sympy.cosh, sympy.tanh, sympy.asinh
erf = sympy.erf
sqrt = sympy.sqrt
abs = sympy.Abs  # noqa: A001
sign = sympy.sign
maximum, minimum = sympy.Max, sympy.Min


def pow_partials(a: sympy.Expr, b: sympy.Expr, r: sympy.Expr) -> tuple[sympy.Expr, ...]:
    # sympy.diff writes d(a**b)/da as b*a**b/a, which is nan at a = 0; b*a**(b - 1) is not.
    # NOTE: d(a**b)/db = a**b log(a) is 0 at a = 0, as in PyTorch (0**b is constant there);
    # it also keeps log(0) out of the code when the base is the literal 0.
    return b * a ** (b - 1), sympy.Piecewise((0, sympy.Eq(a, 0)), (r * sympy.log(a), True))


class SqrtOfSquares(sympy.Function):
    """sqrt of a sum or mean of squares (a norm, a variance), printed as np.sqrt. NOTE: its
    derivative at 0 is 0, as in PyTorch's norm and std: the norm of zeros and the std of
    a constant input have gradient 0, not nan."""

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return sympy.Piecewise((1 / (2 * self), self > 0), (0, True))


def sigmoid(x: sympy.Expr) -> sympy.Expr:
    return 1 / (1 + sympy.exp(-x))


def sigmoid_identities(x: sympy.Expr, s: sympy.Expr) -> dict[sympy.Expr, sympy.Expr]:
    """exp(-x) in terms of the result s = sigmoid(x), so the derivative is s * (1 - s)."""
    return {sympy.exp(-x): 1 / s - 1}


class Softplus(sympy.Function):
    """log(1 + exp(x)), printed as the overflow-free np.logaddexp(0, x)."""

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        # sigmoid(x) = exp(x - softplus(x)), as JAX's logaddexp rule writes it: the
        # exponent is never positive, so nothing overflows, and where sigmoid is tiny it is
        # exp of about x, accurate. (np.exp is twice as fast as np.expm1.)
        return sympy.exp(self.args[0] - self)


class Relu(sympy.Function):
    """max(x, 0), printed as np.maximum(x, 0). NOTE: relu'(0) = 0, as in PyTorch; the
    subgradient lives in fdiff, so it holds wherever relu is fused into an expression."""

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return sympy.Heaviside(self.args[0], 0)


class Clip(sympy.Function):
    """x limited to [low, high], printed as np.clip. NOTE: x gets the gradient only
    strictly inside (low, high) (the issue's convention); low where x < low, high where
    x > high; at a bound nobody does."""

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        x, low, high = self.args
        if argindex == 1:
            return sympy.Heaviside(x - low, 0) * sympy.Heaviside(high - x, 0)
        if argindex == 2:
            return sympy.Heaviside(low - x, 0)
        return sympy.Heaviside(x - high, 0)


sqrt_of_squares, softplus, relu, clip = SqrtOfSquares, Softplus, Relu, Clip


# Comparisons, unevaluated (a mask's expression stays a relation): less(a, b) is a < b.
def _relation(kind: type[sympy.core.relational.Relational]) -> Callable[..., sympy.Expr]:
    return lambda a, b: kind(a, b, evaluate=False)


less = _relation(sympy.StrictLessThan)
less_equal = _relation(sympy.LessThan)
greater = _relation(sympy.StrictGreaterThan)
greater_equal = _relation(sympy.GreaterThan)
equal = _relation(sympy.Eq)
not_equal = _relation(sympy.Ne)


# Masks combined: logical_and(a, b) is a & b (printed as np.logical_and(a, b)).
def logical_and(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    return sympy.And(a, b)


def logical_or(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    return sympy.Or(a, b)


def where(c: sympy.Expr, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    return sympy.Piecewise((a, sympy.Ne(c, 0)), (b, True))


def operand_symbols(count: int) -> list[sympy.Symbol]:
    """The symbols a0, a1, ... that elementwise expressions use for their operands."""
    return [sympy.Symbol(f"a{i}", real=True) for i in range(count)]
