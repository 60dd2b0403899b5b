"""Ops that move or copy data without arithmetic: transpose, broadcast_to, expand_dims,
copy and zeros."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradgen.ops.registry import Op, never_integer, register, same_as_first
from gradgen.shapes import Shape, ShapeError, broadcast_shapes, format_shape, normalize_axes


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


def _squeeze_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    (shape,) = shapes
    axes = normalize_axes(params.get("axis"), len(shape))
    if params.get("axis") is None:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    for axis in axes:
        if shape[axis] != 1:
            raise ShapeError(f"cannot squeeze axis {axis} of shape {format_shape(shape)}")
    return tuple(d for i, d in enumerate(shape) if i not in axes), {"axis": axes}


def _one_hot_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    (shape,) = shapes
    classes = params["classes"]
    if not (isinstance(classes, str) or (isinstance(classes, int) and classes > 0)):
        raise ShapeError(f"the number of classes must be a positive int or a dim, not {classes}")
    return shape + (classes,), {"classes": classes}


def _identity_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    return shapes[0], params


def _zeros_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    return tuple(params["shape"]), {"shape": tuple(params["shape"])}


register(Op("transpose", 1, _transpose_rule, np.transpose, same_as_first))
register(Op("broadcast_to", 1, _broadcast_to_rule, np.broadcast_to, same_as_first))
register(Op("expand_dims", 1, _expand_dims_rule, np.expand_dims, same_as_first))
register(Op("squeeze", 1, _squeeze_rule, np.squeeze, same_as_first))
# cast_like(a, b): a converted to b's dtype (counts made from masks meet float32 data).
register(
    Op(
        "cast_like",
        2,
        _identity_rule,
        lambda a, b: np.asarray(a).astype(np.asarray(b).dtype),
        lambda flags: flags[1],
    )
)
register(Op("copy", 1, _identity_rule, np.copy, same_as_first))
# Integer labels -> a mask of shape labels.shape + (classes,) (data: no gradient).
register(
    Op(
        "one_hot",
        1,
        _one_hot_rule,
        lambda labels, classes: np.asarray(labels)[..., None] == np.arange(classes),
        lambda flags: True,
    )
)
# The value passes through; no gradient flows back (PyTorch's detach).
register(Op("stop_gradient", 1, _identity_rule, lambda x: x, same_as_first))
register(Op("zeros", 0, _zeros_rule, np.zeros, never_integer))
