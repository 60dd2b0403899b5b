"""Elementwise ops, each declared once as a SymPy expression of its operands.

The expression is what the op means: its derivative comes from `sympy.diff`
(see `gradgen.symbolic`) and the printer turns it into NumPy code.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy
from sympy.codegen.cfunctions import expm1, log1p, log2, log10

from gradgen.ops.registry import (
    OPS,
    Op,
    all_integer,
    broadcast_rule,
    never_integer,
    register,
)


def _register_elementwise(
    name: str,
    arity: int,
    expr: Callable[..., sympy.Expr],
    eager: Callable[..., Any],
    keeps_integers: bool = False,
    **extra: Any,
) -> Op:
    return register(
        Op(
            name=name,
            arity=arity,
            shape_rule=broadcast_rule,
            eager=eager,
            integer_result=all_integer if keeps_integers else never_integer,
            expr=expr,
            **extra,
        )
    )


# Arithmetic (operators on arrays).
_register_elementwise("add", 2, lambda a, b: a + b, np.add, keeps_integers=True)
_register_elementwise("sub", 2, lambda a, b: a - b, np.subtract, keeps_integers=True)
_register_elementwise("mul", 2, lambda a, b: a * b, np.multiply, keeps_integers=True)
_register_elementwise("div", 2, lambda a, b: a / b, np.divide)
_register_elementwise(
    "pow",
    2,
    lambda a, b: a**b,
    np.power,
    # sympy.diff writes d(a**b)/da as b*a**b/a, which is nan at a = 0; b*a**(b - 1) is not.
    # NOTE: d(a**b)/db = a**b log(a) is 0 at a = 0, as in PyTorch (0**b is constant there);
    # it also keeps log(0) out of the code when the base is the literal 0.
    partials=lambda a, b, r: (
        b * a ** (b - 1),
        sympy.Piecewise((0, sympy.Eq(a, 0)), (r * sympy.log(a), True)),
    ),
)
_register_elementwise("neg", 1, lambda a: -a, np.negative, keeps_integers=True)

# Smooth functions.
_register_elementwise("exp", 1, sympy.exp, np.exp)
_register_elementwise("expm1", 1, expm1, np.expm1)
_register_elementwise("log", 1, sympy.log, np.log)
_register_elementwise("log1p", 1, log1p, np.log1p)
_register_elementwise("log2", 1, log2, np.log2)
_register_elementwise("log10", 1, log10, np.log10)
_register_elementwise("square", 1, lambda x: x**2, np.square)
_register_elementwise("reciprocal", 1, lambda x: 1 / x, np.reciprocal)
_register_elementwise("sin", 1, sympy.sin, np.sin)
_register_elementwise("cos", 1, sympy.cos, np.cos)
_register_elementwise("tan", 1, sympy.tan, np.tan)
_register_elementwise("arcsin", 1, sympy.asin, np.arcsin)
_register_elementwise("arccos", 1, sympy.acos, np.arccos)
_register_elementwise("arctan", 1, sympy.atan, np.arctan)
_register_elementwise("arctan2", 2, sympy.atan2, np.arctan2)
_register_elementwise("sinh", 1, sympy.sinh, np.sinh)
_register_elementwise("cosh", 1, sympy.cosh, np.cosh)
_register_elementwise("tanh", 1, sympy.tanh, np.tanh)
_register_elementwise("arcsinh", 1, sympy.asinh, np.arcsinh)
_register_elementwise("erf", 1, sympy.erf, np.vectorize(math.erf, otypes=[float]))
_register_elementwise("sqrt", 1, sympy.sqrt, np.sqrt)


class StdSqrt(sympy.Function):
    """sqrt of a variance, printed as np.sqrt. NOTE: its derivative at 0 is 0, as in
    PyTorch's std: a constant input (one element) has gradient 0, not nan."""

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return sympy.Piecewise((1 / (2 * self), self > 0), (0, True))


_register_elementwise("std_sqrt", 1, StdSqrt, np.sqrt)
_register_elementwise(
    "sigmoid",
    1,
    lambda x: 1 / (1 + sympy.exp(-x)),
    lambda x: 1 / (1 + np.exp(-x)),
    result_identities=lambda x, s: {sympy.exp(-x): 1 / s - 1},
)


class Softplus(sympy.Function):
    """log(1 + exp(x)), printed as the overflow-free np.logaddexp(0, x)."""

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        # sigmoid(x) = 1 - exp(-softplus(x)), written with expm1 so it stays accurate
        # where sigmoid is tiny; no overflow for any x.
        return -expm1(-self)


_register_elementwise("softplus", 1, Softplus, lambda x: np.logaddexp(0, x))


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


# Non-smooth functions. NOTE: abs'(0) = sign(0) = 0, as in PyTorch; maximum and minimum
# split the gradient evenly on ties (SymPy's Heaviside(0) = 1/2).
_register_elementwise("relu", 1, Relu, lambda x: np.maximum(x, 0))
_register_elementwise("abs", 1, sympy.Abs, np.abs, keeps_integers=True)
_register_elementwise("sign", 1, sympy.sign, np.sign, keeps_integers=True)  # NOTE: sign'(x) = 0
_register_elementwise("clip", 3, Clip, np.clip)
_register_elementwise("maximum", 2, sympy.Max, np.maximum, keeps_integers=True)
_register_elementwise("minimum", 2, sympy.Min, np.minimum, keeps_integers=True)


# Comparisons give masks (boolean data, never differentiated) for `where`.
for _name, _relation, _eager in (
    ("less", sympy.StrictLessThan, np.less),
    ("less_equal", sympy.LessThan, np.less_equal),
    ("greater", sympy.StrictGreaterThan, np.greater),
    ("greater_equal", sympy.GreaterThan, np.greater_equal),
    ("equal", sympy.Eq, np.equal),
    ("not_equal", sympy.Ne, np.not_equal),
):
    register(
        Op(
            name=_name,
            arity=2,
            shape_rule=broadcast_rule,
            eager=_eager,
            integer_result=lambda flags: True,
            expr=lambda a, b, relation=_relation: relation(a, b, evaluate=False),
        )
    )

# NOTE: where(c, a, b) sends the gradient to a where c holds and to b elsewhere; the passes
# fuse each branch's own computation into it (guard_where), so a branch that is not taken
# never turns the gradient into nan (the log(x) at x = 0 trap).
_register_elementwise(
    "where",
    3,
    lambda c, a, b: sympy.Piecewise((a, sympy.Ne(c, 0)), (b, True)),
    np.where,
)


def _eager_ew(*args: Any, expr: sympy.Expr) -> Any:
    raise NotImplementedError("ew is made by the compiler and has no eager form")


# A fused elementwise computation made by the compiler (derivatives, fusion): its `expr`
# param is a SymPy expression in the symbols a0, a1, ... standing for its inputs in order.
register(
    Op(
        name="ew",
        arity=-1,
        shape_rule=broadcast_rule,
        eager=_eager_ew,
        integer_result=never_integer,
    )
)


def operand_symbols(count: int) -> list[sympy.Symbol]:
    """The symbols a0, a1, ... that elementwise expressions use for their operands."""
    return [sympy.Symbol(f"a{i}", real=True) for i in range(count)]


def define_elementwise(name: str, definition: Callable[..., sympy.Expr]) -> Op:
    """Register a user-defined elementwise op, given as a function of SymPy symbols.

    Defining the same name again with the same expression returns the existing op (a model
    file may be imported more than once); a different expression is an error."""
    if not name.isidentifier():
        raise ValueError(f"elementwise op name {name!r} is not a Python identifier")
    arity = len(inspect.signature(definition).parameters)
    symbols = operand_symbols(arity)
    expr = sympy.sympify(definition(*symbols))
    existing = OPS.get(name)
    if existing is not None:
        if existing.expr is not None and existing.arity == arity:
            if sympy.simplify(existing.expr(*symbols) - expr) == 0:
                return existing
        raise ValueError(f"an op named {name!r} already exists with another definition")
    if not expr.free_symbols <= set(symbols):
        raise ValueError(f"the definition of {name!r} uses symbols other than its arguments")
    eager = sympy.lambdify(symbols, expr, modules="numpy")
    return _register_elementwise(
        name, arity, lambda *args: expr.xreplace(dict(zip(symbols, args))), eager
    )
