"""Forward mode: extend a graph with the equations of its Jacobian-vector product.

`push_tangents` walks equations in order once, calling each op's forward rule from
`gradgen.derivatives` on the tangents of its operands (a missing tangent is zero and costs
nothing). Tangents may be batched: one extra leading axis holds many tangents at once,
which is how Jacobians and Hessians are made without a Python loop. Rules are written for
one tangent; a batch goes through what the rule emitted by `gradgen.batching`.
"""

from __future__ import annotations

from collections.abc import Iterable

from gradgen.batching import batch_equations, materialize
from gradgen.derivatives import rule_for
from gradgen.graph_builder import Builder, Tracer
from gradgen.ir import Equation, Var, dependency_order
from gradgen.loop_forward import jvp_cond, jvp_scan
from gradgen.naming import TangentHint
from gradgen.ops import OPS


def push_tangents(
    builder: Builder, equations: Iterable[Equation], dots: dict[Var, Var], batched: bool = False
) -> dict[Var, Var]:
    """Emit into `builder` the tangents of every equation's output that depends on the
    seeded `dots` (var -> its tangent); returns `dots` with those added. With `batched`,
    every tangent has one more leading axis than its value: a batch of tangents."""
    loops = False
    for eq in list(equations):
        if OPS[eq.op].multiple_results:  # a loop: its results' tangents, computed with them
            extend = jvp_cond if eq.op == "cond" else jvp_scan
            extend(builder, eq.out, dots, batched, push_tangents)
            loops = True
            continue
        operand_dots = [dots.get(a) if isinstance(a, Var) else None for a in eq.inputs]
        if eq.out.integer or all(d is None for d in operand_dots):
            continue
        builder.origin, builder.source = eq, eq.source
        if batched:
            tangent = _apply_batched(builder, operand_dots, eq)
        else:
            tangent = _apply_rule(builder, operand_dots, eq)
        if tangent is not None:
            dots[eq.out] = tangent
            builder.hints.setdefault(tangent, TangentHint(eq.out))
    builder.origin = builder.source = None
    if loops:  # a loop extended where it stands may read tangents made after it
        builder.equations[:] = dependency_order(builder.equations)
    return dots


def _apply_rule(builder: Builder, dots: list[Var | None], eq: Equation) -> Var | None:
    rule = rule_for(eq.op).forward
    if rule is None:  # a non-differentiable op
        return None
    operands = [Tracer(a, builder) if isinstance(a, Var) else a for a in eq.inputs]
    tracers = tuple(Tracer(d, builder) if d is not None else None for d in dots)
    result = rule(tracers, Tracer(eq.out, builder), *operands, **dict(eq.params))
    return result.variable if isinstance(result, Tracer) else None


def _apply_batched(builder: Builder, dots: list[Var | None], eq: Equation) -> Var | None:
    """The rule run on unbatched stand-ins for the batched tangents, and what it emitted
    replayed with the batches in their place."""
    start = len(builder.equations)
    stand_ins = [builder.new_var(d.shape[1:]) if d is not None else None for d in dots]
    tangent = _apply_rule(builder, stand_ins, eq)
    emitted = builder.equations[start:]
    del builder.equations[start:]
    if tangent is None:
        return None
    batches = {s: d for s, d in zip(stand_ins, dots) if s is not None and d is not None}
    batch_equations(builder, emitted, batches)
    if tangent in batches:
        return batches[tangent]
    # A tangent computed from no tangent: one value for the whole batch.
    size = next(d for d in dots if d is not None).shape[0]
    return materialize(Tracer(tangent, builder), size).variable


__all__ = ["push_tangents"]
