"""Linear algebra: matrix products of vectors and matrices (`@`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradgen.ops.registry import Op, all_integer, register
from gradgen.shapes import Shape, ShapeError, format_shape


def _matmul_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    a, b = shapes
    if not (1 <= len(a) <= 2 and 1 <= len(b) <= 2):
        raise ShapeError(
            f"@ takes vectors and matrices, got shapes {format_shape(a)} and {format_shape(b)}"
        )
    if a[-1] != b[0]:
        raise ShapeError(
            f"inner dimensions differ: {format_shape(a)} @ {format_shape(b)}"
            f" ({a[-1]} != {b[0]})"
        )
    return a[:-1] + b[1:], params


register(Op("matmul", 2, _matmul_rule, np.matmul, all_integer))


def _outer_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    a, b = shapes
    if len(a) != 1 or len(b) != 1:
        raise ShapeError(f"outer takes two vectors, got {format_shape(a)} and {format_shape(b)}")
    return (a[0], b[0]), params


register(Op("outer", 2, _outer_rule, np.outer, all_integer))
