"""Batching rules: how each op applies to values that carry one extra leading axis.

Jacobians and Hessians push a batch of K tangents through a graph at once. Forward rules
are written for one tangent; `batch_equations` replays what a rule emitted with its
tangents batched (the rule's vmap, as JAX's `primitive_batchers` make it): an equation
reading a batched value is rewritten by its op's batching rule, the others are kept as
they are. A batched value has the batch axis first; its other axes are its unbatched
value's. Every op has a batching rule (elementwise ops share one), checked at import.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from gradgen.graph_builder import Builder, Tracer, apply
from gradgen.ir import Atom, Equation, Var
from gradgen.ops import OPS
from gradgen.shapes import Dim

# (batch size, operands, which operands are batched, **params) -> the batched result
BatchRule = Callable[..., Tracer]
BATCH_RULES: dict[str, BatchRule] = {}

_FULL = ("slice", None, None, None)


def batching(*op_names: str) -> Callable[[BatchRule], BatchRule]:
    def register(rule: BatchRule) -> BatchRule:
        for name in op_names:
            BATCH_RULES[name] = rule
        return rule

    return register


def lift(x: Tracer, ndim: int) -> Tracer:
    """A batched value with size-1 axes inserted after its batch axis, to 1 + `ndim` axes:
    it then broadcasts against unbatched values as its unbatched value of `ndim` axes would."""
    missing = ndim - (x.ndim - 1)
    if missing <= 0:
        return x
    return apply("expand_dims", x, axis=tuple(range(1, 1 + missing)))


def materialize(x: Any, size: Dim) -> Tracer:
    """An unbatched value repeated `size` times along a new leading axis."""
    return apply("broadcast_to", apply("expand_dims", x, axis=(0,)), shape=(size, *x.shape))


def _all_batched(size: Dim, args: list[Any], batched: list[bool]) -> list[Any]:
    return [
        a if b or not isinstance(a, Tracer) else materialize(a, size) for a, b in zip(args, batched)
    ]


def _shifted(axes: tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    """Reduction axes of an unbatched value of `ndim` axes, as axes of its batched value."""
    return tuple(a + 1 for a in (range(ndim) if axes is None else axes))


def batch_equations(
    builder: Builder, equations: Iterable[Equation], batched: dict[Var, Var]
) -> dict[Var, Var]:
    """Append `equations` to `builder`, each one that reads a key of `batched` (an
    unbatched stand-in -> its batched value) by its op's batching rule; returns `batched`
    with the results' batched values added."""
    for eq in equations:
        flags = [isinstance(a, Var) and a in batched for a in eq.inputs]
        if not any(flags):
            builder.equations.append(eq)
            continue
        args = [_operand(builder, a, batched) for a in eq.inputs]
        size = next(batched[a].shape[0] for a, f in zip(eq.inputs, flags) if f)  # type: ignore
        out = rule_for(eq.op)(size, args, flags, **dict(eq.params))
        if tuple(out.shape) != (size, *eq.out.shape):
            raise RuntimeError(
                f"the batching rule of {eq.op!r} gave shape {out.shape} for "
                f"{(size, *eq.out.shape)}"
            )
        batched[eq.out] = out.variable
    return batched


def _operand(builder: Builder, atom: Atom, batched: dict[Var, Var]) -> Any:
    if isinstance(atom, Var):
        return Tracer(batched.get(atom, atom), builder)
    return atom


@functools.cache
def elementwise_batching(op_name: str) -> BatchRule:
    """Every elementwise op: the batched operands lifted so they broadcast as before."""

    def rule(size: Dim, args: list[Any], batched: list[bool], **params: Any) -> Tracer:
        ndim = max(a.ndim - int(b) for a, b in zip(args, batched) if isinstance(a, Tracer))
        lifted = [lift(a, ndim) if b else a for a, b in zip(args, batched)]
        return apply(op_name, *lifted, **params)  # type: ignore[no-any-return]

    return rule


def rule_for(op_name: str) -> BatchRule:
    op = OPS[op_name]
    if op.elementwise:
        return elementwise_batching(op_name)
    if op.leading_batch:
        return _as_is(op_name)
    return BATCH_RULES[op_name]


def _reduction_of(op_name: str) -> BatchRule:
    def rule(size: Dim, args: list[Any], batched: list[bool], axis: Any, keepdims: Any) -> Tracer:
        (x,) = args
        return apply(op_name, x, axis=_shifted(axis, x.ndim - 1), keepdims=keepdims)

    return rule


for _name in ("sum", "mean", "prod", "max", "min"):
    BATCH_RULES[_name] = _reduction_of(_name)


@functools.cache
def _as_is(op_name: str) -> BatchRule:
    """Ops whose row says `leading_batch` take the batch axis as it is."""

    def rule(size: Dim, args: list[Any], batched: list[bool], **params: Any) -> Tracer:
        return apply(op_name, *args, **params)  # type: ignore[no-any-return]

    return rule


@batching("cast_like")
def _cast_like(size: Dim, args: list[Any], batched: list[bool]) -> Tracer:
    a, like = args
    out = apply("cast_like", a, like)  # like gives only the dtype
    return out if batched[0] else materialize(out, size)  # type: ignore[no-any-return]


def _constant_of(op_name: str) -> BatchRule:
    def rule(size: Dim, args: list[Any], batched: list[bool], **params: Any) -> Tracer:
        # The operand gives only the dtype: the result is one constant, repeated.
        (like,) = args
        return materialize(apply(op_name, like, **params), size)

    return rule


for _name in ("eye", "zeros", "ones"):
    BATCH_RULES[_name] = _constant_of(_name)


@batching("transpose")
def _transpose(size: Dim, args: list[Any], batched: list[bool], axes: Any) -> Tracer:
    return apply("transpose", args[0], axes=(0, *(a + 1 for a in axes)))  # type: ignore


@batching("broadcast_to")
def _broadcast_to(size: Dim, args: list[Any], batched: list[bool], shape: Any) -> Tracer:
    return apply("broadcast_to", lift(args[0], len(shape)), shape=(size, *shape))  # type: ignore


def _axes_of(op_name: str) -> BatchRule:
    def rule(size: Dim, args: list[Any], batched: list[bool], axis: Any) -> Tracer:
        return apply(op_name, args[0], axis=tuple(a + 1 for a in axis))  # type: ignore

    return rule


for _name in ("expand_dims", "squeeze"):
    BATCH_RULES[_name] = _axes_of(_name)


@batching("reshape")
def _reshape(size: Dim, args: list[Any], batched: list[bool], shape: Any) -> Tracer:
    return apply("reshape", args[0], shape=(size, *shape))  # type: ignore[no-any-return]


@batching("concatenate")
def _concatenate(size: Dim, args: list[Any], batched: list[bool], axis: Any) -> Tracer:
    parts = _all_batched(size, args, batched)
    return apply("concatenate", *parts, axis=axis + 1)  # type: ignore[no-any-return]


@batching("getitem")
def _getitem(size: Dim, args: list[Any], batched: list[bool], index: Any) -> Tracer:
    return apply("getitem", args[0], index=(_FULL, *index))  # type: ignore[no-any-return]


@batching("scatter")
def _scatter(size: Dim, args: list[Any], batched: list[bool], index: Any, shape: Any) -> Tracer:
    return apply(  # type: ignore[no-any-return]
        "scatter", args[0], index=(_FULL, *index), shape=(size, *shape)
    )


@batching("scatter_sum")
def _scatter_sum(
    size: Dim, args: list[Any], batched: list[bool], indices: Any, shape: Any
) -> Tracer:
    values = _all_batched(size, args, batched)
    indices = tuple((_FULL, *index) for index in indices)
    return apply(  # type: ignore[no-any-return]
        "scatter_sum", *values, indices=indices, shape=(size, *shape)
    )


def _take_of(op_name: str, along_axis: bool) -> BatchRule:
    """take, take_add (indices along one axis) and take_along_axis, along_axis_add (indices
    of the array's shape, which then get the batch axis too). Indices are integer data: only
    the first operand is ever batched."""

    def rule(size: Dim, args: list[Any], batched: list[bool], axis: Any, **params: Any) -> Tracer:
        assert not batched[1], "integer indices are never batched"
        values, indices = args
        if along_axis:
            indices = materialize(indices, size)
        if "shape" in params:
            params = {"shape": (size, *params["shape"])}
        return apply(op_name, values, indices, axis=axis + 1, **params)  # type: ignore

    return rule


BATCH_RULES["take"] = _take_of("take", False)
BATCH_RULES["take_add"] = _take_of("take_add", False)
BATCH_RULES["take_along_axis"] = _take_of("take_along_axis", True)
BATCH_RULES["along_axis_add"] = _take_of("along_axis_add", True)


@batching("one_hot")
def _one_hot(size: Dim, args: list[Any], batched: list[bool], classes: Any) -> Tracer:
    raise AssertionError("integer labels are never batched")


@batching("matmul")
def _matmul(size: Dim, args: list[Any], batched: list[bool]) -> Tracer:
    """A vector becomes a row (a) or a column (b) of a matrix, the batched operands are
    lifted to the batch rank of the product, and the vectors' axes are squeezed away."""
    a, b = args
    a_ndim, b_ndim = a.ndim - int(batched[0]), b.ndim - int(batched[1])
    # The forms NumPy batches by itself (one GEMM for a batch of vectors: rows).
    if not batched[1] and b_ndim <= 2:
        return a @ b  # type: ignore[no-any-return]
    if not batched[0] and a_ndim == 1:
        return a @ b if b_ndim > 1 else b @ a  # type: ignore[no-any-return]
    if not batched[0] and a_ndim == 2 and b_ndim == 1:
        return b @ a.T  # type: ignore[no-any-return]
    a2 = a if a_ndim > 1 else apply("expand_dims", a, axis=(a.ndim - 1,))
    b2 = b if b_ndim > 1 else apply("expand_dims", b, axis=(b.ndim,))
    ndim = max(a2.ndim - int(batched[0]), b2.ndim - int(batched[1]))
    a2 = lift(a2, ndim) if batched[0] else a2
    b2 = lift(b2, ndim) if batched[1] else b2
    out = a2 @ b2
    squeezed = (() if a_ndim > 1 else (out.ndim - 2,)) + (() if b_ndim > 1 else (out.ndim - 1,))
    return apply("squeeze", out, axis=squeezed) if squeezed else out  # type: ignore


@batching("outer")
def _outer(size: Dim, args: list[Any], batched: list[bool]) -> Tracer:
    a, b = args
    return apply("expand_dims", a, axis=(a.ndim,)) * apply(  # type: ignore[no-any-return]
        "expand_dims", b, axis=(b.ndim - 1,)
    )


@batching("trace")
def _trace(size: Dim, args: list[Any], batched: list[bool]) -> Tracer:
    (x,) = args
    diagonal = x * apply("eye", x, n=x.shape[-1])
    return apply("sum", diagonal, axis=(1, 2))  # type: ignore[no-any-return]


@batching("solve")
def _solve(size: Dim, args: list[Any], batched: list[bool]) -> Tracer:
    """A batch of right-hand sides b of a fixed A is one solve with them as columns; a
    batched A solves a stack."""
    a, b = args
    b_ndim = b.ndim - int(batched[1])
    if not batched[0] and b_ndim == 1:
        return apply("solve", a, b.T).T  # type: ignore[no-any-return]
    b2 = b if b_ndim > 1 else apply("expand_dims", b, axis=(b.ndim,))
    ndim = max(a.ndim - int(batched[0]), b2.ndim - int(batched[1]))
    a2 = lift(a, ndim) if batched[0] else a
    b2 = lift(b2, ndim) if batched[1] else materialize(b2, size)
    out = apply("solve", a2, b2)
    return apply("squeeze", out, axis=(out.ndim - 1,)) if b_ndim == 1 else out  # type: ignore


@batching("einsum")
def _einsum(size: Dim, args: list[Any], batched: list[bool], subscripts: str) -> Tracer:
    """The batch axis gets a letter of its own, on the batched operands and the output."""
    inputs, output = subscripts.split("->")[0].split(","), subscripts.split("->")[1]
    letter = next(c for c in "zyxwvutsrqponmlkjihgfedcba" if c not in subscripts)
    specs = [letter + s if b else s for s, b in zip(inputs, batched)]
    spec = ",".join(specs) + "->" + letter + output
    return apply("einsum", *args, subscripts=spec)  # type: ignore[no-any-return]


def check_table() -> None:
    """Every op can be batched: elementwise ops share one rule, ops on trailing axes take
    the batch as it is, the others are listed."""
    for name, op in OPS.items():
        if op.multiple_results or name == "scan_output":
            continue  # loops: a batch of tangents goes through them whole (loop_forward)
        if not (op.elementwise or op.leading_batch) and name not in BATCH_RULES:
            raise RuntimeError(f"op {name!r} has no batching rule in gradgen.batching")


check_table()
