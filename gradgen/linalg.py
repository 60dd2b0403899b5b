"""`gg.linalg`: linear-algebra functions with NumPy's names."""

from __future__ import annotations

from typing import Any

from gradgen.errors import closest_name
from gradgen.functions import Axis
from gradgen.functions import sum as _sum
from gradgen.graph_builder import apply, register_numpy_functions

__all__ = ["cholesky", "det", "inv", "norm", "slogdet", "solve"]


def __getattr__(name: str) -> Any:
    close = closest_name(name, __all__)
    hint = f"; did you mean gg.linalg.{close}?" if close else ""
    raise AttributeError(f"module 'gradgen.linalg' has no attribute {name!r}{hint}")


def norm(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """The 2-norm of a vector, or the Frobenius norm of a matrix, over `axis`. NOTE: its
    gradient at zeros is 0, as in PyTorch (the square root's derivative at 0 is taken as
    0, see `sqrt_of_squares`), where the plain sqrt would give 0 * inf = nan."""
    return apply("sqrt_of_squares", _sum(apply("square", x), axis=axis, keepdims=keepdims))


def inv(a: Any) -> Any:
    """The inverse of a square matrix (or of each in a batch (..., n, n))."""
    return apply("inv", a)


def solve(a: Any, b: Any) -> Any:
    """x with a @ x = b, for a square a and a vector or matrix b."""
    return apply("solve", a, b)


def det(a: Any) -> Any:
    """The determinant of a square matrix (or of each in a batch)."""
    return apply("det", a)


def slogdet(a: Any) -> tuple[Any, Any]:
    """(sign, log|det|) of a square matrix, without overflow; the sign has no gradient."""
    return apply("det_sign", a), apply("logabsdet", a)


def cholesky(a: Any) -> Any:
    """The lower-triangular L with a = L L^T, for a symmetric positive-definite a. As in
    JAX, it factors the symmetric part (a + a^T) / 2: the gradient is then symmetric (as
    PyTorch's) and is the derivative of the function computed, so finite differences
    agree with it (NumPy's cholesky alone reads only the lower triangle)."""
    n = len(a.shape)
    swapped = apply("transpose", a, axes=(*range(n - 2), n - 1, n - 2))
    return apply("cholesky", 0.5 * (a + swapped))


register_numpy_functions("numpy.linalg", {name: globals()[name] for name in __all__})
