"""Ops that move, reshape or copy data without arithmetic: transpose, broadcast_to,
expand_dims, squeeze, reshape, concatenate, cast_like, copy, stop_gradient, one_hot and
zeros_like, ones_like, zeros and ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradgen.ops.registry import (
    BUFFER,
    READ_ONLY_VIEW,
    VIEW,
    Op,
    never_integer,
    register,
    same_as_first,
)
from gradgen.shapes import (
    Shape,
    ShapeError,
    broadcast_shapes,
    dim_expr,
    dim_from_expr,
    format_shape,
    normalize_axes,
)


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
    requested = params["axis"]
    axes = normalize_axes(tuple(requested), len(shape) + len(requested))  # NumPy's rule
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


def _reshape_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    import sympy  # symbolic dims: loaded when a graph is built, not by `import gradgen`

    (shape,) = shapes
    target = list(params["shape"])
    total = sympy.Mul(*(dim_expr(d) for d in shape))
    if target.count(-1) > 1:
        raise ShapeError("only one dimension can be -1")
    known = sympy.Mul(*(dim_expr(d) for d in target if d != -1))
    if -1 in target:
        inferred = sympy.simplify(total / known)
        if not inferred.is_polynomial() or sympy.denom(inferred) != 1:
            raise ShapeError(f"cannot reshape {format_shape(shape)} to {tuple(target)}")
        target[target.index(-1)] = dim_from_expr(inferred)
    elif sympy.simplify(total - known) != 0:
        raise ShapeError(f"cannot reshape {format_shape(shape)} to {tuple(target)}")
    return tuple(target), {"shape": tuple(target)}


def _concatenate_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    import sympy

    if not shapes:
        raise ShapeError("concatenate needs at least one array")
    (axis,) = normalize_axes(params.get("axis", 0), len(shapes[0]))
    for shape in shapes[1:]:
        if len(shape) != len(shapes[0]) or any(
            a != b for i, (a, b) in enumerate(zip(shape, shapes[0])) if i != axis
        ):
            listed = ", ".join(format_shape(s) for s in shapes)
            raise ShapeError(f"shapes {listed} differ off the concatenation axis {axis}")
    size = dim_from_expr(sympy.Add(*(dim_expr(s[axis]) for s in shapes)))
    return shapes[0][:axis] + (size,) + shapes[0][axis + 1 :], {"axis": axis}


def _identity_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    return shapes[0], params


register(Op("transpose", 1, _transpose_rule, np.transpose, same_as_first, memory=VIEW))
register(
    Op(
        "broadcast_to",
        1,
        _broadcast_to_rule,
        np.broadcast_to,
        same_as_first,
        memory=READ_ONLY_VIEW,
    )
)
register(Op("expand_dims", 1, _expand_dims_rule, np.expand_dims, same_as_first, memory=VIEW))
register(Op("squeeze", 1, _squeeze_rule, np.squeeze, same_as_first, memory=VIEW))
register(Op("reshape", 1, _reshape_rule, np.reshape, same_as_first, memory=VIEW))
register(
    Op(
        "concatenate",
        -1,
        _concatenate_rule,
        lambda *arrays, axis: np.concatenate(arrays, axis=axis),
        lambda flags: all(flags),
    )
)
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
register(
    Op(
        "copy",
        1,
        _identity_rule,
        np.copy,
        same_as_first,
        numpy="copy",
        memory=BUFFER,
        leading_batch=True,
    )
)
# Integer labels -> a mask of shape labels.shape + (classes,) (data: no gradient).
register(
    Op(
        "one_hot",
        1,
        _one_hot_rule,
        lambda labels, classes: np.asarray(labels)[..., None] == np.arange(classes),
        lambda flags: True,
        differentiable=False,
    )
)
# The value passes through; no gradient flows back (PyTorch's detach).
register(
    Op(
        "stop_gradient",
        1,
        _identity_rule,
        lambda x: x,
        same_as_first,
        memory=VIEW,
        differentiable=False,
        leading_batch=True,
        function="stop_gradient",
        arguments=("x",),
        doc="x, through which no gradient flows (PyTorch's detach).",
    )
)
# zeros_like(x): the gradient of a parameter nothing depends on, in the parameter's dtype.
register(
    Op(
        "zeros_like",
        1,
        _identity_rule,
        np.zeros_like,
        never_integer,
        numpy="zeros_like",
        memory=BUFFER,
        differentiable=False,
        leading_batch=True,
    )
)
# ones_like(x): the default cotangent 1 of a one-element value (Hessians), in x's dtype.
register(
    Op(
        "ones_like",
        1,
        _identity_rule,
        np.ones_like,
        never_integer,
        numpy="ones_like",
        memory=BUFFER,
        differentiable=False,
        leading_batch=True,
    )
)


def _zeros_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    return tuple(params["shape"]), params


# zeros(like, shape): a zero block of a Jacobian or Hessian, in like's dtype; ones(like,
# shape): the cotangent 1 of a scalar value in Hessians, without computing the value.
register(
    Op(
        "zeros",
        1,
        _zeros_rule,
        lambda like, shape: np.zeros(shape, np.result_type(like)),
        never_integer,
        memory=BUFFER,
        differentiable=False,
    )
)
register(
    Op(
        "ones",
        1,
        _zeros_rule,
        lambda like, shape: np.ones(shape, np.result_type(like)),
        never_integer,
        memory=BUFFER,
        differentiable=False,
    )
)
