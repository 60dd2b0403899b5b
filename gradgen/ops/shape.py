"""Ops that move or copy data without arithmetic: transpose, broadcast_to, expand_dims,
copy and zeros."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradgen.ops.registry import Op, never_integer, register, same_as_first
from gradgen.shapes import Shape, ShapeError, broadcast_shapes, format_shape


def _transpose_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    (shape,) = shapes
    axes = params.get("axes")
    axes = tuple(reversed(range(len(shape)))) if axes is None else tuple(axes)
    if sorted(axes) != list(range(len(shape))):
        raise ShapeError(f"axes {axes} are not a permutation for shape {format_shape(shape)}")
    return tuple(shape[i] for i in axes), {"axes": axes}


def _broadcast_to_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    (shape,) = shapes
    target = tuple(params["shape"])
    if len(shape) > len(target) or broadcast_shapes(shape, target) != target:
        raise ShapeError(f"cannot broadcast {format_shape(shape)} to {format_shape(target)}")
    return target, {"shape": target}


def _expand_dims_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    (shape,) = shapes
    axes = tuple(sorted(params["axis"]))
    result = list(shape)
    for axis in axes:
        result.insert(axis, 1)
    return tuple(result), {"axis": axes}


def _identity_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    return shapes[0], params


def _zeros_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    return tuple(params["shape"]), {"shape": tuple(params["shape"])}


register(Op("transpose", 1, _transpose_rule, np.transpose, same_as_first))
register(Op("broadcast_to", 1, _broadcast_to_rule, np.broadcast_to, same_as_first))
register(Op("expand_dims", 1, _expand_dims_rule, np.expand_dims, same_as_first))
register(Op("copy", 1, _identity_rule, np.copy, same_as_first))
register(Op("zeros", 0, _zeros_rule, np.zeros, never_integer))
