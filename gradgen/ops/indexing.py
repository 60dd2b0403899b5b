"""Basic indexing: ints, slices (steps, negatives), None and `...`; and its transpose,
`scatter`, which writes a gradient back into zeros of the indexed array's shape.

An index is normalized at trace time into a tuple of entries, one per output-producing
position: ("int", i), ("slice", start, stop, step) or ("new",) for None.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradgen.ops.registry import VIEW, Op, register, same_as_first
from gradgen.shapes import Dim, Shape, ShapeError, dim_expr, dim_from_expr, format_shape

Entry = tuple[Any, ...]


def normalize_index(index: Any, shape: Shape) -> tuple[Entry, ...]:
    """The index as entries covering every axis of `shape`; raises ShapeError when it is
    out of range or not a basic index."""
    items = list(index) if isinstance(index, tuple) else [index]
    if sum(item is Ellipsis for item in items) > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')")
    used = sum(1 for item in items if item is not None and item is not Ellipsis)
    if used > len(shape):
        raise ShapeError(f"too many indices ({used}) for shape {format_shape(shape)}")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at : at + 1] = [slice(None)] * (len(shape) - used)
    else:
        items += [slice(None)] * (len(shape) - used)
    entries: list[Entry] = []
    axis = 0
    for item in items:
        if item is None:
            entries.append(("new",))
            continue
        size = shape[axis]
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            i = int(item)
            if isinstance(size, int) and not -size <= i < size:
                raise ShapeError(f"index {i} is out of range for axis {axis} of size {size}")
            entries.append(("int", i % size if isinstance(size, int) else i))
        elif isinstance(item, slice):
            parts = (item.start, item.stop, item.step)
            if not all(p is None or isinstance(p, (int, np.integer)) for p in parts):
                raise ShapeError(f"slice bounds must be Python ints, got {item}")
            if item.step == 0:
                raise ShapeError("slice step cannot be zero")
            entries.append(("slice", *(None if p is None else int(p) for p in parts)))
        else:
            raise ShapeError(
                f"index {item!r} is not an int, a slice, None or '...' "
                "(gather with gg.take or gg.take_along_axis)"
            )
        axis += 1
    return tuple(entries)


def slice_length(size: Dim, start: Dim | None, stop: Dim | None, step: int | None) -> Dim:
    """Elements in size[start:stop:step]; bounds may be dims (from concatenate's rule),
    which are never negative."""
    import sympy  # symbolic dims: loaded when a graph is built, not by `import gradgen`

    if isinstance(size, int) and not isinstance(start, str) and not isinstance(stop, str):
        return len(range(*slice(start, stop, step).indices(size)))
    if isinstance(start, str) or isinstance(stop, str):
        first = 0 if start is None else dim_expr(start)
        end = dim_expr(size) if stop is None else dim_expr(stop)
        return dim_from_expr(sympy.simplify(end - first))
    n = dim_expr(size)
    step = step or 1
    if step > 0:
        first = 0 if start is None else (start if start >= 0 else n + start)
        end = n if stop is None else (stop if stop >= 0 else n + stop)
    else:
        first = n - 1 if start is None else (start if start >= 0 else n + start)
        end = -1 if stop is None else (stop if stop >= 0 else n + stop)
    length = sympy.ceiling((end - first) / step)
    return dim_from_expr(sympy.simplify(length))


def indexed_shape(shape: Shape, entries: tuple[Entry, ...]) -> Shape:
    result: list[Dim] = []
    axis = 0
    for entry in entries:
        if entry[0] == "new":
            result.append(1)
            continue
        if entry[0] == "slice":
            result.append(slice_length(shape[axis], *entry[1:]))
        axis += 1
    return tuple(result)


def _getitem_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    (shape,) = shapes
    return indexed_shape(shape, params["index"]), params


def _scatter_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    (values,) = shapes
    target = tuple(params["shape"])
    if indexed_shape(target, params["index"]) != values:
        raise ShapeError(f"cannot scatter {format_shape(values)} into {format_shape(target)}")
    return target, params


def as_numpy_index(entries: tuple[Entry, ...]) -> tuple[Any, ...]:
    return tuple(
        None if e[0] == "new" else e[1] if e[0] == "int" else slice(*e[1:]) for e in entries
    )


def _eager_scatter(values: Any, index: tuple[Entry, ...], shape: tuple[int, ...]) -> Any:
    out = np.zeros(shape, np.result_type(values))
    out[as_numpy_index(index)] = values
    return out


register(
    Op(
        "getitem",
        1,
        _getitem_rule,
        lambda x, index: np.asarray(x)[as_numpy_index(index)],
        same_as_first,
        memory=VIEW,
    )
)
register(Op("scatter", 1, _scatter_rule, _eager_scatter, same_as_first))


def _scatter_sum_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    target = tuple(params["shape"])
    if len(shapes) != len(params["indices"]):
        raise ShapeError("scatter_sum needs one index per array")
    for values, index in zip(shapes, params["indices"]):
        if indexed_shape(target, index) != values:
            raise ShapeError(f"cannot scatter {format_shape(values)} into {format_shape(target)}")
    return target, params


def _eager_scatter_sum(*values: Any, indices: tuple[Any, ...], shape: tuple[int, ...]) -> Any:
    out = np.zeros(shape, np.result_type(*values))
    for part, index in zip(values, indices):
        out[as_numpy_index(index)] += part
    return out


# scatter_sum(v1, v2, ..., indices, shape): zeros with each v_i added at its index; what the
# gradient of several slices of one array becomes (passes/merge_scatters.py): one buffer.
register(Op("scatter_sum", -1, _scatter_sum_rule, _eager_scatter_sum, same_as_first))


# -- gathering with integer data: take and take_along_axis, and their scatter-adds


def _take_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    x, indices = shapes
    axis = _axis(params["axis"], len(x))
    return x[:axis] + indices + x[axis + 1 :], {"axis": axis}


def _along_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    x, indices = shapes
    axis = _axis(params["axis"], len(x))
    if len(indices) != len(x):
        raise ShapeError(
            f"indices {format_shape(indices)} need as many axes as the array {format_shape(x)}"
        )
    rest = [d for i, d in enumerate(x) if i != axis]
    other = [d for i, d in enumerate(indices) if i != axis]
    if any(a != b and b != 1 for a, b in zip(rest, other)):
        raise ShapeError(f"indices {format_shape(indices)} do not fit {format_shape(x)}")
    return indices, {"axis": axis}


def _axis(axis: int, ndim: int) -> int:
    if not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise ShapeError(f"axis {axis} is out of range for an array with {ndim} dimensions")
    return axis % ndim


def _scatter_add_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    return tuple(params["shape"]), params


def along_axis_index(indices: Any, axis: int) -> tuple[Any, ...]:
    """The full index tuple take_along_axis reads: aranges on the other axes."""
    grids = np.indices(np.shape(indices), sparse=True)
    return tuple(indices if i == axis else grid for i, grid in enumerate(grids))


def _eager_take_add(values: Any, indices: Any, axis: int, shape: tuple[int, ...]) -> Any:
    out = np.zeros(shape, np.result_type(values))
    np.add.at(out, (slice(None),) * axis + (indices,), values)
    return out


def _eager_along_add(values: Any, indices: Any, axis: int, shape: tuple[int, ...]) -> Any:
    out = np.zeros(shape, np.result_type(values))
    np.add.at(out, along_axis_index(indices, axis), values)
    return out


register(Op("take", 2, _take_rule, lambda x, i, axis: np.take(x, i, axis=axis), same_as_first))
register(
    Op(
        "take_along_axis",
        2,
        _along_rule,
        lambda x, i, axis: np.take_along_axis(x, i, axis=axis),
        same_as_first,
    )
)
register(Op("take_add", 2, _scatter_add_rule, _eager_take_add, same_as_first))
register(Op("along_axis_add", 2, _scatter_add_rule, _eager_along_add, same_as_first))
