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
    FRESH,
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
    function: str | None = None,
    doc: str = "",
    **extra: Any,
) -> Op:
    """An elementwise op; `function` names its gg. function (arguments x, or a, b)."""
    arguments = ("x",) if arity == 1 else ("a", "b", "c")[:arity]
    return register(
        Op(
            name=name,
            arity=arity,
            shape_rule=broadcast_rule,
            eager=eager,
            integer_result=all_integer if keeps_integers else never_integer,
            expr=expr,
            numpy=getattr(eager, "__name__", None) if isinstance(eager, np.ufunc) else None,
            memory=FRESH,
            function=function,
            arguments=extra.pop("arguments", arguments),
            doc=doc,
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


# Arithmetic: the operators on arrays (+, -, *, /, **, unary -).
_register_elementwise("add", 2, lambda a, b: a + b, np.add, keeps_integers=True)
_register_elementwise("sub", 2, lambda a, b: a - b, np.subtract, keeps_integers=True)
_register_elementwise("mul", 2, lambda a, b: a * b, np.multiply, keeps_integers=True)
_register_elementwise("div", 2, lambda a, b: a / b, np.divide)
_register_elementwise(
    "pow",
    2,
    lambda a, b: a**b,
    np.power,
    function="power",
    doc="a ** b, elementwise; b may be an array.",
    partials=_symbolic("pow_partials"),
)
_register_elementwise("neg", 1, lambda a: -a, np.negative, keeps_integers=True)

# Functions of one argument: gg.<name>(x), the same name as NumPy's. A SymPy definition
# with subgradients of its own lives in sympy_definitions.
_SMOOTH: tuple[tuple[str, Callable[..., Any], str], ...] = (
    ("exp", np.exp, "e ** x, elementwise."),
    ("expm1", np.expm1, "exp(x) - 1, accurate for small x."),
    ("log", np.log, "Natural logarithm, elementwise."),
    ("log1p", np.log1p, "log(1 + x), accurate for small x."),
    ("log2", np.log2, "Base-2 logarithm."),
    ("log10", np.log10, "Base-10 logarithm."),
    ("sin", np.sin, "Sine, elementwise."),
    ("cos", np.cos, "Cosine, elementwise."),
    ("tan", np.tan, "Tangent, elementwise."),
    ("arcsin", np.arcsin, "Inverse sine, elementwise."),
    ("arccos", np.arccos, "Inverse cosine, elementwise."),
    ("arctan", np.arctan, "Inverse tangent, elementwise."),
    ("sinh", np.sinh, "Hyperbolic sine, elementwise."),
    ("cosh", np.cosh, "Hyperbolic cosine, elementwise."),
    ("tanh", np.tanh, "Hyperbolic tangent, elementwise."),
    ("arcsinh", np.arcsinh, "Inverse hyperbolic sine, elementwise."),
    ("erf", np.vectorize(math.erf, otypes=[float]), "The error function, elementwise."),
    ("sqrt", np.sqrt, "Square root; its derivative at 0 is inf, as in PyTorch."),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x)), "1 / (1 + exp(-x)), elementwise."),
    (
        "softplus",
        lambda x: np.logaddexp(0, x),
        "log(1 + exp(x)), computed without overflow; its gradient is sigmoid(x).",
    ),
)
for _name, _eager, _doc in _SMOOTH:
    _identities = _symbolic("sigmoid_identities") if _name == "sigmoid" else None
    _register_elementwise(
        _name, 1, _symbolic(_name), _eager, function=_name, doc=_doc, result_identities=_identities
    )
_register_elementwise("square", 1, lambda x: x**2, np.square, function="square", doc="x ** 2.")
_register_elementwise(
    "reciprocal", 1, lambda x: 1 / x, np.reciprocal, function="reciprocal", doc="1 / x."
)
_register_elementwise(
    "arctan2",
    2,
    _symbolic("arctan2"),
    np.arctan2,
    function="arctan2",
    doc="The angle of the point (x, y), elementwise.",
    arguments=("y", "x"),
)
# NOTE: its derivative at 0 is 0, as for PyTorch's norm and std (gg.linalg.norm's and
# gg.std's square root). Its eager form is not np.sqrt itself, which means sqrt when
# called on a tracer.
_register_elementwise("sqrt_of_squares", 1, _symbolic("sqrt_of_squares"), lambda x: np.sqrt(x))

# Non-smooth functions (their subgradients are in sympy_definitions). NOTE: abs'(0) =
# sign(0) = 0 and relu'(0) = 0, as in PyTorch; maximum and minimum split the gradient
# evenly on ties (SymPy's Heaviside(0) = 1/2); sign'(x) = 0.
_register_elementwise(
    "relu",
    1,
    _symbolic("relu"),
    lambda x: np.maximum(x, 0),
    function="relu",
    doc="max(x, 0); the derivative at 0 is 0, as in PyTorch.",
)
_register_elementwise(
    "abs",
    1,
    _symbolic("abs"),
    np.abs,
    keeps_integers=True,
    function="abs",
    doc="|x|; the derivative at 0 is 0, as in PyTorch.",
)
_register_elementwise(
    "sign",
    1,
    _symbolic("sign"),
    np.sign,
    keeps_integers=True,
    function="sign",
    doc="-1, 0 or 1; its derivative is 0 everywhere, as in PyTorch.",
)
_register_elementwise(
    "clip",
    3,
    _symbolic("clip"),
    np.clip,
    function="clip",
    doc="x limited to [a_min, a_max]; the gradient passes only strictly inside, as in PyTorch.",
    arguments=("x", "a_min", "a_max"),
)
for _name, _eager, _word in (("maximum", np.maximum, "max"), ("minimum", np.minimum, "min")):
    _register_elementwise(
        _name,
        2,
        _symbolic(_name),
        _eager,
        keeps_integers=True,
        function=_name,
        doc=f"Elementwise {_word}; on ties the gradient is split evenly between a and b.",
    )


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
            numpy=_name,
            memory=FRESH,
        )
    )

# Masks combined (also the test of a loop a `break` can end, `gradgen.autograph`): a mask.
for _name, _eager, _word in (
    ("logical_and", np.logical_and, "and"),
    ("logical_or", np.logical_or, "or"),
):
    register(
        Op(
            name=_name,
            arity=2,
            shape_rule=broadcast_rule,
            eager=_eager,
            integer_result=lambda flags: True,
            expr=_symbolic(_name),
            numpy=_name,
            memory=FRESH,
            function=_name,
            arguments=("a", "b"),
            doc=f"Elementwise `{_word}` of two masks (comparisons), for gg.where: a mask.",
        )
    )

# NOTE: where(c, a, b) sends the gradient to a where c holds and to b elsewhere; the passes
# fuse each branch's own computation into it (guard_where), so a branch that is not taken
# never turns the gradient into nan (the log(x) at x = 0 trap).
_register_elementwise(
    "where",
    3,
    _symbolic("where"),
    np.where,
    function="where",
    doc="a where `condition` holds, else b. The gradient goes to the branch taken; a branch\n"
    "not taken never makes it nan (the gradient of where(x > 0, log(x), 0) at 0 is 0).",
    arguments=("condition", "a", "b"),
)


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
        memory=FRESH,
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
