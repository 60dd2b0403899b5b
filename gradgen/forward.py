"""Forward mode: extend a graph with the equations of its Jacobian-vector product.

`push_tangents` walks equations in order once, calling each op's forward rule from
`gradgen.derivatives` on the tangents of its operands (a missing tangent is zero and costs
nothing). Tangents may be batched: one extra leading axis holds many tangents at once,
which is how Jacobians and Hessians are made without a Python loop.
"""

from __future__ import annotations

from collections.abc import Iterable

from gradgen.derivatives import elementwise_jvp, forward_rule_for
from gradgen.ir import Equation, TangentHint, Var
from gradgen.ops import OPS
from gradgen.tracing import Builder, Tracer


def push_tangents(
    builder: Builder, equations: Iterable[Equation], dots: dict[Var, Var], batched: bool
) -> dict[Var, Var]:
    """Emit into `builder` the tangents of every equation's output that depends on the
    seeded `dots` (var -> its tangent); returns `dots` with those added."""
    for eq in list(equations):
        operand_dots = [dots.get(a) if isinstance(a, Var) else None for a in eq.inputs]
        if eq.out.integer or all(d is None for d in operand_dots):
            continue
        builder.origin, builder.source = eq, eq.source
        tangent = _apply_rule(builder, operand_dots, eq, batched)
        if tangent is not None:
            dots[eq.out] = tangent
            builder.hints.setdefault(tangent, TangentHint(eq.out))
    builder.origin = builder.source = None
    return dots


def _apply_rule(
    builder: Builder, dots: list[Var | None], eq: Equation, batched: bool
) -> Var | None:
    if OPS[eq.op].elementwise:
        return elementwise_jvp(builder, dots, eq, batched)
    rule = forward_rule_for(eq.op)
    assert rule is not None  # the table checks itself at import
    operands = [Tracer(a, builder) if isinstance(a, Var) else a for a in eq.inputs]
    tracers = tuple(Tracer(d, builder) if d is not None else None for d in dots)
    result = rule(tracers, Tracer(eq.out, builder), *operands, batched=batched, **dict(eq.params))
    return result.variable if isinstance(result, Tracer) else None


__all__ = ["push_tangents"]
