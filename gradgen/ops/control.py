"""Loops and branches: the `scan` and `cond` equations, and the `scan_output` projections
of their results.

A scan runs its body graph `length` times (JAX's `lax.scan`):

    loop:i[] = scan[length=T n_consts=2 n_carry=1 reverse=False body=...] w b h0 xs
    h:f[N,H] = scan_output[result=0] loop
    hs:f[T,N,H] = scan_output[result=1] loop

Its operands are the consts (read by every step: weights, data), the initial carries and
the `xs` (arrays whose leading axis of size `length` is sliced, one slice per step). The
body's inputs are the step counter `t` (an integer scalar), the consts, the carries and
the slices; its outputs are the new carries, then the `y`s of one step. The results are
the final carries, then each `y` stacked on a new leading axis. With `reverse`, the steps
run from t = length - 1 down to 0 (slice t and stacked row t still belong to step t).

A while loop is a scan with a `cond` graph (JAX's `while_loop`): before each step it is
computed from the step's inputs (the same inputs as the body's) and the loop stops when
it is false, or after `max_steps` steps. Its `length` is then a dim of its own, the number
of steps it ran (bound when it ends): the rows of anything it stacks for a backward.

A scan with `remat` (the segments of `gg.scan(..., checkpoint_every=k)`) is one whose
reverse stacks only what each step starts from (its carries) and makes everything else
its backward step reads again there, from them (JAX's `checkpoint` of a scan body).

The scan's own var is a token (an integer scalar that holds no data): every result is a
`scan_output` of it, so each equation keeps one result and every pass that follows data
dependencies (dead code, partitioning) sees the loop as one step.

A cond (JAX's `lax.cond`) runs one of two branch graphs on its operands, as `pred` says;
its results are projections too:

    branch:i[] = cond[true=... false=...] pred x w
    y:f[N] = scan_output[result=0 result_shape=(N,)] branch
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gradgen.ir import Atom, Body, Equation, Graph, Var
from gradgen.ops.registry import UNKNOWN, Op, register
from gradgen.shapes import Dim, Shape


@dataclass(frozen=True)
class ScanParts:
    """A scan equation's operands and its body's inputs and outputs, by role."""

    consts: tuple[Atom, ...]  # operands every step reads
    carries: tuple[Atom, ...]  # the initial carries
    xs: tuple[Atom, ...]  # the sliced operands
    body: Graph
    length: Dim
    reverse: bool
    cond: Graph | None = None  # a while loop's condition, over the body's inputs
    max_steps: Dim | None = None  # a while loop's cap on its steps (an int or a dim)
    remat: bool = False  # its steps are made again in the backward, not stacked

    @property
    def counter(self) -> Var:
        return self.body.inputs[0]

    @property
    def body_consts(self) -> tuple[Var, ...]:
        return self.body.inputs[1 : 1 + len(self.consts)]

    @property
    def body_carries(self) -> tuple[Var, ...]:
        start = 1 + len(self.consts)
        return self.body.inputs[start : start + len(self.carries)]

    @property
    def body_slices(self) -> tuple[Var, ...]:
        return self.body.inputs[1 + len(self.consts) + len(self.carries) :]

    @property
    def new_carries(self) -> tuple[Var, ...]:
        return self.body.outputs[: len(self.carries)]

    @property
    def ys(self) -> tuple[Var, ...]:
        return self.body.outputs[len(self.carries) :]

    def result_shapes(self) -> list[Shape]:
        """The shapes of the results, in order: the carries', then each y stacked."""
        return [v.shape for v in self.new_carries] + [(self.length, *v.shape) for v in self.ys]


def scan_parts(eq: Equation) -> ScanParts:
    """The roles of a scan equation's operands and body values."""
    body = eq.param("body")
    assert isinstance(body, Body), eq.op
    n_consts, n_carry = int(eq.param("n_consts")), int(eq.param("n_carry"))  # type: ignore[arg-type]
    cond = eq.param("cond")
    return ScanParts(
        eq.inputs[:n_consts],
        eq.inputs[n_consts : n_consts + n_carry],
        eq.inputs[n_consts + n_carry :],
        body.graph,
        eq.param("length"),  # type: ignore[arg-type]
        bool(eq.param("reverse", False)),
        cond.graph if isinstance(cond, Body) else None,
        eq.param("max_steps"),  # type: ignore[arg-type]
        bool(eq.param("remat", False)),
    )


def cond_over(cond: Graph | None, body: Graph) -> Graph | None:
    """A while loop's condition reading the inputs of `body` (a body with inputs added or
    dropped; the condition's own inputs must be among them)."""
    if cond is None:
        return None
    assert set(cond.vars_read()) <= set(body.inputs), "the condition lost an input"
    return Graph(body.inputs, cond.equations, cond.outputs, cond.hints)


def with_loop_results(equations: Iterable[Equation], values: set[Var]) -> set[Var]:
    """`values` and every result of a loop whose token is among them: a loop computes all
    its results where it runs (the residuals for a backward too)."""
    return values | {
        eq.out for eq in equations if eq.op == "scan_output" and eq.inputs[0] in values
    }


def scan_params(
    body: Graph,
    length: Dim,
    n_consts: int,
    n_carry: int,
    reverse: bool,
    cond: Graph | None = None,
    max_steps: Dim | None = None,
    remat: bool = False,
) -> dict:
    """The params of a scan equation (sorted into the equation by `Builder.emit`); with
    `cond`, a while loop's; with `remat`, a loop whose reverse stacks only each step's
    carries and makes the rest of the step again in the backward (`checkpoint_every`)."""
    params: dict[str, Any] = {
        "body": Body(body),
        "length": length,
        "n_consts": n_consts,
        "n_carry": n_carry,
        "reverse": reverse,
    }
    if cond is not None:
        params["cond"] = Body(cond_over(cond, body))  # type: ignore[arg-type]
        params["max_steps"] = max_steps
    if remat:
        params["remat"] = True
    return params


@dataclass(frozen=True)
class CondParts:
    """A cond equation's operands and branches: `pred` chooses the branch run on the
    operands (the user's, then the values the branches close over). Both branches take
    the same input vars, one per operand, and give results of the same types."""

    pred: Atom
    operands: tuple[Atom, ...]
    true: Graph
    false: Graph

    @property
    def inputs(self) -> tuple[Var, ...]:
        return self.true.inputs

    def result_shapes(self) -> list[Shape]:
        return [v.shape for v in self.true.outputs]


def cond_parts(eq: Equation) -> CondParts:
    """The roles of a cond equation's operands and branches."""
    true, false = eq.param("true"), eq.param("false")
    assert isinstance(true, Body) and isinstance(false, Body), eq.op
    return CondParts(eq.inputs[0], eq.inputs[1:], true.graph, false.graph)


def cond_params(true: Graph, false: Graph) -> dict:
    return {"true": Body(true), "false": Body(false)}


def result_shapes(eq: Equation) -> list[Shape]:
    """The shapes of a loop's or a cond's results, in order."""
    return cond_parts(eq).result_shapes() if eq.op == "cond" else scan_parts(eq).result_shapes()


def _scan_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    return (), params  # the token; `verify` checks the body against the operands


def _output_rule(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    return tuple(params["result_shape"]), params


def _no_eager(*args: Any, **params: Any) -> Any:
    raise TypeError("a scan equation has no eager meaning: gg.scan runs eagerly itself")


register(
    Op("scan", -1, _scan_rule, _no_eager, lambda flags: True, memory=UNKNOWN, multiple_results=True)
)
register(
    Op("cond", -1, _scan_rule, _no_eager, lambda flags: True, memory=UNKNOWN, multiple_results=True)
)
# The result of a loop may be its initial carry (no step ran): memory it does not own.
register(
    Op(
        "scan_output",
        1,
        _output_rule,
        _no_eager,
        lambda flags: False,
        memory=UNKNOWN,
        differentiable=False,  # its gradient flows through the scan's own rule
    )
)
