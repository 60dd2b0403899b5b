"""Reductions over axes: sum, mean, prod, max and min (axis: None, an int or a tuple;
keepdims)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradgen.ops.registry import Op, never_integer, register, same_as_first
from gradgen.shapes import Shape, normalize_axes


def reduced_shape(shape: Shape, axes: tuple[int, ...], keepdims: bool) -> Shape:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduction_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    (shape,) = shapes
    axes = normalize_axes(params.get("axis"), len(shape))
    keepdims = bool(params.get("keepdims", False))
    canonical = {"axis": None if len(axes) == len(shape) else axes, "keepdims": keepdims}
    return reduced_shape(shape, axes, keepdims), canonical


register(Op("sum", 1, _reduction_rule, np.sum, same_as_first))
register(Op("mean", 1, _reduction_rule, np.mean, never_integer))
register(Op("prod", 1, _reduction_rule, np.prod, same_as_first))
register(Op("max", 1, _reduction_rule, np.max, same_as_first))
register(Op("min", 1, _reduction_rule, np.min, same_as_first))
