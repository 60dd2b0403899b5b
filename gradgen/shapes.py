"""Shapes with symbolic dimensions, and the `Array` / `IntArray` annotations.

A dimension is an int (known size) or a str (a name such as "N", kept symbolic so the
generated code works for every size). Two named dims agree only when their names agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

Dim = int | str
Shape = tuple[Dim, ...]


class ShapeError(ValueError):
    """Shapes that do not fit an op; the tracer adds the op name and the user's line."""


def format_shape(shape: Shape) -> str:
    """`(N, 3)` style, as NumPy prints shapes."""
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(d) for d in shape) + ")"


def broadcast_shapes(*shapes: Shape) -> Shape:
    """NumPy broadcasting over symbolic dims: a dim of 1 stretches, other dims must agree."""
    ndim = max((len(s) for s in shapes), default=0)
    result: list[Dim] = []
    for axis in range(ndim):
        dims = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise ShapeError(
                "shapes " + " and ".join(format_shape(s) for s in shapes) + " do not broadcast"
            )
        result.append(dims.pop() if dims else 1)
    return tuple(result)


def normalize_axes(axis: int | tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    """Axes as sorted non-negative ints; None means every axis."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = []
    for a in axes:
        if not isinstance(a, int) or not -ndim <= a < ndim:
            raise ShapeError(f"axis {a} is out of range for an array with {ndim} dimensions")
        normalized.append(a % ndim)
    if len(set(normalized)) != len(normalized):
        raise ShapeError(f"axis {axis} repeats an axis")
    return tuple(sorted(normalized))


@dataclass(frozen=True)
class ArraySpec:
    """What an annotation says about an argument: its shape and whether it is integer data."""

    shape: Shape  # dims in order; () for a scalar
    integer: bool  # True for IntArray: data only, never differentiated

    def __str__(self) -> str:
        kind = "IntArray" if self.integer else "Array"
        return f"{kind}[{', '.join(repr(d) for d in self.shape) or '()'}]"


def _spec_from_subscript(item: object, integer: bool) -> ArraySpec:
    dims = item if isinstance(item, tuple) else (item,)
    for dim in dims:
        ok_int = isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0
        ok_name = isinstance(dim, str) and dim.isidentifier()
        if not (ok_int or ok_name):
            raise TypeError(
                f"array dimension {dim!r} must be a non-negative int or a name such as 'N'"
            )
    return ArraySpec(tuple(dims), integer)


class Array:
    """Annotation for a float array: `Array["N", "D"]`, `Array[3]`, `Array[()]` (scalar)."""

    def __class_getitem__(cls, item: object) -> ArraySpec:
        return _spec_from_subscript(item, integer=False)


class IntArray:
    """Annotation for integer data (labels, indices): `IntArray["N"]`. Never differentiated."""

    def __class_getitem__(cls, item: object) -> ArraySpec:
        return _spec_from_subscript(item, integer=True)


# -- derived dims: a slice of N has N - 1 elements, kept as canonical SymPy text ("N - 1")


def dim_expr(dim: Dim) -> Any:
    """A dim as a SymPy expression over positive-integer symbols."""
    import sympy

    if isinstance(dim, int):
        return sympy.Integer(dim)
    names = {n: sympy.Symbol(n, positive=True, integer=True) for n in dim_names(dim)}
    return sympy.sympify(dim, locals=names)


def dim_from_expr(expr: Any) -> Dim:
    """An int when the expression is a number, else its canonical text."""
    return int(expr) if expr.is_Integer else str(expr)


def dim_names(dim: Dim) -> set[str]:
    """The annotation names a dim is made of: {"N"} for "N - 1"."""
    if not isinstance(dim, str):
        return set()
    return set(re.findall(r"[A-Za-z_]\w*", dim)) - _DIM_FUNCTIONS


_DIM_FUNCTIONS = {"ceiling", "floor"}  # what slice lengths with steps are written with
