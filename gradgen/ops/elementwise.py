"""Elementwise ops, each declared once as a SymPy expression of its operands.

The expression is what the op means: its derivative comes from `sympy.diff`
(see `gradgen.symbolic`) and the printer turns it into NumPy code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import sympy

from gradgen.ops.registry import (
    Op,
    all_integer,
    broadcast_rule,
    never_integer,
    register,
)


def _elementwise(
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
_elementwise("add", 2, lambda a, b: a + b, np.add, keeps_integers=True)
_elementwise("sub", 2, lambda a, b: a - b, np.subtract, keeps_integers=True)
_elementwise("mul", 2, lambda a, b: a * b, np.multiply, keeps_integers=True)
_elementwise("div", 2, lambda a, b: a / b, np.divide)
_elementwise("pow", 2, lambda a, b: a**b, np.power)
_elementwise("neg", 1, lambda a: -a, np.negative, keeps_integers=True)

# Smooth functions.
_elementwise("exp", 1, sympy.exp, np.exp)
_elementwise("log", 1, sympy.log, np.log)
_elementwise("sin", 1, sympy.sin, np.sin)
_elementwise("cos", 1, sympy.cos, np.cos)
_elementwise("tanh", 1, sympy.tanh, np.tanh)
_elementwise("sqrt", 1, sympy.sqrt, np.sqrt)
_elementwise(
    "sigmoid",
    1,
    lambda x: 1 / (1 + sympy.exp(-x)),
    lambda x: 1 / (1 + np.exp(-x)),
    result_identities=lambda x, s: {sympy.exp(-x): 1 / s - 1},
)

# Non-smooth functions. NOTE: the derivative's step at 0 follows PyTorch:
# relu'(0) = 0; abs'(0) = sign(0) = 0; maximum/minimum split the gradient evenly on ties.
_elementwise("relu", 1, lambda x: sympy.Max(x, 0), lambda x: np.maximum(x, 0), tie=sympy.S.Zero)
_elementwise("abs", 1, sympy.Abs, np.abs, keeps_integers=True)
_elementwise("maximum", 2, sympy.Max, np.maximum, keeps_integers=True)
_elementwise("minimum", 2, sympy.Min, np.minimum, keeps_integers=True)


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
