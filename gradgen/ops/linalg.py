"""Linear algebra: `@` at every rank (batched over leading axes, NumPy's broadcasting),
outer, trace, tril, and numpy.linalg's inv, solve, det, slogdet (as its sign and log|det|)
and cholesky."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradgen.ops.registry import (
    BUFFER,
    FRESH,
    Op,
    all_integer,
    never_integer,
    register,
    same_as_first,
)
from gradgen.shapes import Shape, ShapeError, broadcast_shapes, format_shape


def _matmul_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    a, b = shapes
    if not a or not b:
        raise ShapeError(f"@ needs arrays, got shapes {format_shape(a)} and {format_shape(b)}")
    inner_b = b[0] if len(b) == 1 else b[-2]
    if a[-1] != inner_b:
        raise ShapeError(
            f"inner dimensions differ: {format_shape(a)} @ {format_shape(b)}"
            f" ({a[-1]} != {inner_b})"
        )
    batch = broadcast_shapes(a[:-2], b[:-2])
    rows = a[-2:-1]  # empty for a vector
    columns = b[-1:] if len(b) > 1 else ()
    return batch + rows + columns, params


def _outer_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    a, b = shapes
    if len(a) != 1 or len(b) != 1:
        raise ShapeError(f"outer takes two vectors, got {format_shape(a)} and {format_shape(b)}")
    return (a[0], b[0]), params


def _square(shape: Shape, op: str) -> None:
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(f"{op} needs square matrices (..., n, n), got {format_shape(shape)}")


def _square_rule(op: str, keep: int) -> Any:
    """Shape rule of an op on (..., n, n) keeping `keep` trailing axes (0: det, 2: inv)."""

    def rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
        (shape,) = shapes
        _square(shape, op)
        return shape[: len(shape) - 2 + keep], params

    return rule


def _solve_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    a, b = shapes
    _square(a, "linalg.solve")
    if len(b) == 1:
        if len(a) != 2 or b[0] != a[-1]:
            raise ShapeError(f"cannot solve {format_shape(a)} x = {format_shape(b)}")
        return b, params
    if b[-2] != a[-1]:
        raise ShapeError(f"cannot solve {format_shape(a)} x = {format_shape(b)}")
    return broadcast_shapes(a[:-2], b[:-2]) + b[-2:], params


def _trace_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    (shape,) = shapes
    if len(shape) != 2:
        raise ShapeError(f"trace takes a matrix, got {format_shape(shape)}")
    return (), params


def _eye_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    return (params["n"], params["n"]), params


register(
    Op(
        "matmul",
        2,
        _matmul_rule,
        np.matmul,
        all_integer,
        numpy="matmul",
        memory=FRESH,
        function="matmul",
        arguments=("a", "b"),
        doc="a @ b: vectors, matrices and batches of them (leading axes broadcast).",
    )
)
register(
    Op(
        "outer",
        2,
        _outer_rule,
        np.outer,
        all_integer,
        numpy="outer",
        function="outer",
        arguments=("a", "b"),
        doc="The outer product of two vectors.",
    )
)
register(
    Op(
        "trace",
        1,
        _trace_rule,
        np.trace,
        same_as_first,
        numpy="trace",
        function="trace",
        arguments=("x",),
        doc="The sum of a matrix's diagonal.",
    )
)
# eye(like) is the n x n identity in like's dtype (trace's gradient).
register(
    Op(
        "eye",
        1,
        _eye_rule,
        lambda like, n: np.eye(n, dtype=np.result_type(like)),
        never_integer,
        memory=BUFFER,
        differentiable=False,  # the operand gives only the dtype
    )
)


def _on_matrices(
    name: str, keep: int, eager: Any, numpy: str | None, shown: str, **extra: Any
) -> None:
    """An op on square matrices (..., n, n) keeping `keep` trailing axes (0: det, 2: inv),
    batched over the leading ones; `shown` names it in shape errors."""
    integer_result = extra.pop("integer_result", never_integer)
    rule = _square_rule(shown, keep)
    register(Op(name, 1, rule, eager, integer_result, numpy=numpy, leading_batch=True, **extra))


_on_matrices("inv", 2, np.linalg.inv, "linalg.inv", "linalg.inv")
_on_matrices("cholesky", 2, np.linalg.cholesky, "linalg.cholesky", "linalg.cholesky")
_on_matrices("tril", 2, np.tril, "tril", "tril", integer_result=same_as_first)
_on_matrices("det", 0, np.linalg.det, "linalg.det", "linalg.det")
_on_matrices("logabsdet", 0, lambda a: np.linalg.slogdet(a)[1], None, "linalg.slogdet")
# NOTE: det_sign is piecewise constant: zero gradient.
_on_matrices(
    "det_sign", 0, lambda a: np.linalg.slogdet(a)[0], None, "linalg.slogdet", differentiable=False
)
register(Op("solve", 2, _solve_rule, np.linalg.solve, never_integer, numpy="linalg.solve"))


def parse_einsum(subscripts: str, count: int) -> tuple[list[str], str]:
    """Explicit einsum subscripts (inputs, output) for `count` operands; the implicit form
    (no "->") outputs the letters used once, in alphabetical order, as NumPy does."""
    text = subscripts.replace(" ", "")
    if "." in text:
        raise ShapeError("the einsum primitive names every axis (gg.einsum rewrites '...')")
    inputs_text, arrow, output = text.partition("->")
    inputs = inputs_text.split(",")
    if len(inputs) != count:
        raise ShapeError(
            f"einsum subscripts {subscripts!r} name {len(inputs)} operands, got {count}"
        )
    letters = "".join(inputs)
    if not all(c.isalpha() for c in letters + output):
        raise ShapeError(f"einsum subscripts {subscripts!r} must be letters")
    if not arrow:
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    for sub in inputs:
        if len(set(sub)) != len(sub):
            raise ShapeError(f"einsum operand {sub!r} repeats a letter (gg.einsum rewrites it)")
    if set(output) - set(letters) or len(set(output)) != len(output):
        raise ShapeError(f"einsum output {output!r} is not made of the inputs' letters")
    return inputs, output


def _einsum_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    inputs, output = parse_einsum(params["subscripts"], len(shapes))
    sizes: dict[str, Any] = {}
    for sub, shape in zip(inputs, shapes):
        if len(sub) != len(shape):
            raise ShapeError(f"einsum operand {sub!r} has {len(sub)} axes, the array {len(shape)}")
        for letter, size in zip(sub, shape):
            if sizes.setdefault(letter, size) != size:
                raise ShapeError(f"einsum axis {letter!r} is {sizes[letter]} and {size}")
    explicit = ",".join(inputs) + "->" + output
    return tuple(sizes[c] for c in output), {"subscripts": explicit}


register(
    Op(
        "einsum",
        -1,
        _einsum_rule,
        lambda *operands, subscripts: np.einsum(subscripts, *operands),
        all_integer,
    )
)
