"""The op registry: one `Op` per primitive, giving its shape rule and eager NumPy meaning.

Ops say what a primitive *is*; how to differentiate it lives in `gradgen.derivatives` and
how to print it in `gradgen.codegen.printer`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gradgen.shapes import Shape, broadcast_shapes

if TYPE_CHECKING:
    import sympy

# (input shapes, params) -> (output shape, canonical params)
ShapeRule = Callable[[list[Shape], dict[str, Any]], tuple[Shape, dict[str, Any]]]


@dataclass(frozen=True)
class Op:
    """A primitive operation: one row holds every property the compiler asks of it."""

    name: str  # the IR name, e.g. "matmul"
    arity: int  # number of array operands (-1: any)
    shape_rule: ShapeRule  # checks operand shapes and gives the result's
    eager: Callable[..., Any]  # the NumPy meaning, used when the user calls it on arrays
    integer_result: Callable[[list[bool]], bool]  # integer-ness of the result
    # Elementwise ops only: the SymPy expression of the op in terms of its operand symbols.
    expr: Callable[..., sympy.Expr] | None = None
    # Elementwise ops only: rewrites (operands, result symbol) -> {subexpr: in terms of result}
    # so the derivative reuses the saved output, e.g. sigmoid: exp(-x) = 1/s - 1.
    result_identities: Callable[..., dict[sympy.Expr, sympy.Expr]] | None = None
    # Elementwise ops only, rarely: partial derivatives given by hand, (operands, result) ->
    # one expression per operand, where sympy.diff's form is numerically worse.
    partials: Callable[..., tuple[sympy.Expr, ...]] | None = None
    # np.<numpy> computes it: the ufunc that NumPy code on tracers means, and the call a
    # structural op without a printer method of its own (`_emit_<name>`) prints as.
    numpy: str | None = None
    # Its NumPy result: FRESH (a new array later code may write into), BUFFER (a new array
    # that is the op's purpose: never merged with another), VIEW (may be a view of operand
    # 0), READ_ONLY_VIEW (a read-only view of operand 0), or UNKNOWN.
    memory: str = "unknown"
    differentiable: bool = True  # False: constant in its float operands (no rule at all)
    # Its var is a token and its results are projections of it (a loop, `ops.control`):
    # differentiated as a whole by `gradgen.loop_derivatives`, not by a row of the table.
    multiple_results: bool = False
    # It acts on trailing axes (or on each element): a batch axis in front of its operands
    # passes through it, so batching needs no rule of its own (gradgen.batching).
    leading_batch: bool = False
    # The user-facing function gg.<function>(*arguments) that applies it, with its docs.
    function: str | None = None
    arguments: tuple[str, ...] = ()
    doc: str = ""

    @property
    def elementwise(self) -> bool:
        return self.expr is not None or self.name == "ew"

    @property
    def view(self) -> bool:
        """Whether its NumPy result may be a view of operand 0."""
        return self.memory in (VIEW, READ_ONLY_VIEW)


FRESH, BUFFER, VIEW, READ_ONLY_VIEW, UNKNOWN = (
    "fresh",
    "buffer",
    "view",
    "read_only_view",
    "unknown",
)
OPS: dict[str, Op] = {}


def register(op: Op) -> Op:
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} is registered twice")
    OPS[op.name] = op
    return op


def broadcast_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    return broadcast_shapes(*shapes), params


def all_integer(flags: list[bool]) -> bool:
    return all(flags)


def never_integer(flags: list[bool]) -> bool:
    return False


def same_as_first(flags: list[bool]) -> bool:
    return flags[0]
