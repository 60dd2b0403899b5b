"""The NumPy-like functions users call as `gg.<name>`.

Each works on traced values (recording an equation) and on plain NumPy arrays (computing
eagerly), so a decorated function can also be run and debugged as ordinary NumPy code.
"""

from __future__ import annotations

from typing import Any

from gradgen.tracing import apply

Axis = int | tuple[int, ...] | None

__all__ = [
    "abs",
    "cos",
    "exp",
    "log",
    "matmul",
    "maximum",
    "mean",
    "minimum",
    "relu",
    "sigmoid",
    "sin",
    "sqrt",
    "sum",
    "tanh",
    "transpose",
]


def exp(x: Any) -> Any:
    """e ** x, elementwise."""
    return apply("exp", x)


def log(x: Any) -> Any:
    """Natural logarithm, elementwise."""
    return apply("log", x)


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
