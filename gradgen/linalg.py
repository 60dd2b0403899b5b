"""`gg.linalg`: linear-algebra functions with NumPy's names."""

from __future__ import annotations

from typing import Any

from gradgen.functions import Axis, sqrt
from gradgen.functions import sum as _sum

__all__ = ["norm"]


def norm(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """The 2-norm of a vector, or the Frobenius norm of a matrix, over `axis`."""
    return sqrt(_sum(x * x, axis=axis, keepdims=keepdims))
