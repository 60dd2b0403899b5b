"""The NumPy-like functions users call as `gg.<name>`.

Each works on traced values (recording an equation) and on plain NumPy arrays (computing
eagerly), so a decorated function can also be run and debugged as ordinary NumPy code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import sympy

from gradgen.ops.elementwise import define_elementwise
from gradgen.tracing import apply

pi = math.pi
e = math.e
inf = math.inf

Axis = int | tuple[int, ...] | None

__all__ = [
    "where",
    "e",
    "elementwise",
    "inf",
    "pi",
    "abs",
    "arccos",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "clip",
    "cos",
    "cosh",
    "exp",
    "expm1",
    "log",
    "log10",
    "log1p",
    "log2",
    "matmul",
    "maximum",
    "mean",
    "minimum",
    "power",
    "reciprocal",
    "relu",
    "sigmoid",
    "sign",
    "sin",
    "sinh",
    "sqrt",
    "square",
    "sum",
    "tan",
    "tanh",
    "transpose",
]


def exp(x: Any) -> Any:
    """e ** x, elementwise."""
    return apply("exp", x)


def log(x: Any) -> Any:
    """Natural logarithm, elementwise."""
    return apply("log", x)


def expm1(x: Any) -> Any:
    """exp(x) - 1, accurate for small x."""
    return apply("expm1", x)


def log1p(x: Any) -> Any:
    """log(1 + x), accurate for small x."""
    return apply("log1p", x)


def log2(x: Any) -> Any:
    """Base-2 logarithm."""
    return apply("log2", x)


def log10(x: Any) -> Any:
    """Base-10 logarithm."""
    return apply("log10", x)


def square(x: Any) -> Any:
    """x ** 2."""
    return apply("square", x)


def reciprocal(x: Any) -> Any:
    """1 / x."""
    return apply("reciprocal", x)


def tan(x: Any) -> Any:
    return apply("tan", x)


def arcsin(x: Any) -> Any:
    return apply("arcsin", x)


def arccos(x: Any) -> Any:
    return apply("arccos", x)


def arctan(x: Any) -> Any:
    return apply("arctan", x)


def sinh(x: Any) -> Any:
    return apply("sinh", x)


def cosh(x: Any) -> Any:
    return apply("cosh", x)


def arcsinh(x: Any) -> Any:
    return apply("arcsinh", x)


def sign(x: Any) -> Any:
    """-1, 0 or 1; its derivative is 0 everywhere, as in PyTorch."""
    return apply("sign", x)


def arctan2(y: Any, x: Any) -> Any:
    """The angle of the point (x, y), elementwise."""
    return apply("arctan2", y, x)


def clip(x: Any, a_min: Any, a_max: Any) -> Any:
    """x limited to [a_min, a_max]; the gradient passes only strictly inside, as in PyTorch."""
    return apply("clip", x, a_min, a_max)


def power(a: Any, b: Any) -> Any:
    """a ** b, elementwise; b may be an array."""
    return apply("pow", a, b)


def sin(x: Any) -> Any:
    return apply("sin", x)


def cos(x: Any) -> Any:
    return apply("cos", x)


def tanh(x: Any) -> Any:
    return apply("tanh", x)


def sqrt(x: Any) -> Any:
    """Square root; its derivative at 0 is inf, as in PyTorch."""
    return apply("sqrt", x)


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)), elementwise."""
    return apply("sigmoid", x)


def relu(x: Any) -> Any:
    """max(x, 0); the derivative at 0 is 0, as in PyTorch."""
    return apply("relu", x)


def abs(x: Any) -> Any:  # noqa: A001  (NumPy's name)
    """|x|; the derivative at 0 is 0, as in PyTorch."""
    return apply("abs", x)


def maximum(a: Any, b: Any) -> Any:
    """Elementwise max; on ties the gradient is split evenly between a and b."""
    return apply("maximum", a, b)


def minimum(a: Any, b: Any) -> Any:
    """Elementwise min; on ties the gradient is split evenly between a and b."""
    return apply("minimum", a, b)


def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Sum over `axis` (all axes when None)."""
    return apply("sum", x, axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Mean over `axis` (all axes when None)."""
    return apply("mean", x, axis=axis, keepdims=keepdims)


def transpose(x: Any, axes: tuple[int, ...] | None = None) -> Any:
    """Permute axes; reverse them when `axes` is None (like `.T`)."""
    return apply("transpose", x, axes=axes)


def matmul(a: Any, b: Any) -> Any:
    """a @ b for vectors and matrices."""
    return apply("matmul", a, b)


def elementwise(name: str, definition: Callable[..., sympy.Expr]) -> Callable[..., Any]:
    """A new elementwise op from a SymPy expression, usable like a built-in:
    `softsign = gg.elementwise("softsign", lambda x: x / (1 + sympy.Abs(x)))`. Its
    derivative comes from SymPy; the generated module prints it as plain NumPy."""
    op = define_elementwise(name, definition)

    def call(*args: Any) -> Any:
        return apply(op.name, *args)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"Elementwise {name}, defined by the user with SymPy."
    return call


def where(condition: Any, a: Any, b: Any) -> Any:
    """a where `condition` holds, else b. The gradient goes to the branch taken; a branch
    not taken never makes it nan (the gradient of where(x > 0, log(x), 0) at 0 is 0)."""
    return apply("where", condition, a, b)
