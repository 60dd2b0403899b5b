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
    expr: Callable[..., Any],
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


def _symbolic(name: str) -> Callable[..., Any]:
    """The SymPy definition `name` of `gradgen.ops.sympy_definitions`, imported when it is
    first used (tracing needs only shapes)."""

    def definition(*args: Any) -> Any:
        from gradgen.ops import sympy_definitions

        return getattr(sympy_definitions, name)(*args)

    definition.__name__ = name
    return definition


# Arithmetic (operators on arrays).
_register_elementwise("add", 2, lambda a, b: a + b, np.add, keeps_integers=True)
_register_elementwise("sub", 2, lambda a, b: a - b, np.subtract, keeps_integers=True)
_register_elementwise("mul", 2, lambda a, b: a * b, np.multiply, keeps_integers=True)
_register_elementwise("div", 2, lambda a, b: a / b, np.divide)
_register_elementwise("pow", 2, lambda a, b: a**b, np.power, partials=_symbolic("pow_partials"))
_register_elementwise("neg", 1, lambda a: -a, np.negative, keeps_integers=True)

# Smooth functions.
for _name, _eager in (
    ("exp", np.exp),
    ("expm1", np.expm1),
    ("log", np.log),
    ("log1p", np.log1p),
    ("log2", np.log2),
    ("log10", np.log10),
    ("sin", np.sin),
    ("cos", np.cos),
    ("tan", np.tan),
    ("arcsin", np.arcsin),
    ("arccos", np.arccos),
    ("arctan", np.arctan),
    ("sinh", np.sinh),
    ("cosh", np.cosh),
    ("tanh", np.tanh),
    ("arcsinh", np.arcsinh),
    ("erf", np.vectorize(math.erf, otypes=[float])),
    ("sqrt", np.sqrt),
    ("std_sqrt", np.sqrt),  # NOTE: its derivative at 0 is 0, as for PyTorch's std
    ("softplus", lambda x: np.logaddexp(0, x)),
):
    _register_elementwise(_name, 1, _symbolic(_name), _eager)
_register_elementwise("arctan2", 2, _symbolic("arctan2"), np.arctan2)
_register_elementwise("square", 1, lambda x: x**2, np.square)
_register_elementwise("reciprocal", 1, lambda x: 1 / x, np.reciprocal)
_register_elementwise(
    "sigmoid",
    1,
    _symbolic("sigmoid"),
    lambda x: 1 / (1 + np.exp(-x)),
    result_identities=_symbolic("sigmoid_identities"),
)

# Non-smooth functions (their subgradients are in sympy_definitions). NOTE: abs'(0) =
# sign(0) = 0 and relu'(0) = 0, as in PyTorch; maximum and minimum split the gradient
# evenly on ties (SymPy's Heaviside(0) = 1/2); sign'(x) = 0.
_register_elementwise("relu", 1, _symbolic("relu"), lambda x: np.maximum(x, 0))
_register_elementwise("abs", 1, _symbolic("abs"), np.abs, keeps_integers=True)
_register_elementwise("sign", 1, _symbolic("sign"), np.sign, keeps_integers=True)
_register_elementwise("clip", 3, _symbolic("clip"), np.clip)
_register_elementwise("maximum", 2, _symbolic("maximum"), np.maximum, keeps_integers=True)
_register_elementwise("minimum", 2, _symbolic("minimum"), np.minimum, keeps_integers=True)


# Comparisons give masks (boolean data, never differentiated) for `where`.
for _name, _eager in (
    ("less", np.less),
    ("less_equal", np.less_equal),
    ("greater", np.greater),
    ("greater_equal", np.greater_equal),
    ("equal", np.equal),
    ("not_equal", np.not_equal),
):
    register(
        Op(
            name=_name,
            arity=2,
            shape_rule=broadcast_rule,
            eager=_eager,
            integer_result=lambda flags: True,
            expr=_symbolic(_name),
        )
    )

# NOTE: where(c, a, b) sends the gradient to a where c holds and to b elsewhere; the passes
# fuse each branch's own computation into it (guard_where), so a branch that is not taken
# never turns the gradient into nan (the log(x) at x = 0 trap).
_register_elementwise("where", 3, _symbolic("where"), np.where)


def _eager_ew(*args: Any, expr: Any) -> Any:
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


def operand_symbols(count: int) -> list[Any]:
    """The SymPy symbols a0, a1, ... that elementwise expressions use for their operands."""
    from gradgen.ops import sympy_definitions

    return sympy_definitions.operand_symbols(count)


def define_elementwise(name: str, definition: Callable[..., Any]) -> Op:
    """Register a user-defined elementwise op, given as a function of SymPy symbols.

    Defining the same name again with the same expression returns the existing op (a model
    file may be imported more than once); a different expression is an error."""
    import sympy

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
