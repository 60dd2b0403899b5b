"""Which arrays a result may share memory with, and how outputs are kept from sharing it.

Generated functions return arrays that share memory with no argument and no other result
(so a caller may update them in place). NumPy answers some ops with views; `base_of`
follows those back, and `owned_output` copies a result that would otherwise be a view of
memory the caller owns, or a read-only broadcast.
"""

from __future__ import annotations

import sympy

from gradgen.ir import Equation, Graph, Var
from gradgen.tracing import Builder

# Ops whose NumPy result is a view of (or, for broadcast_to, a read-only view of) operand 0.
VIEWS = frozenset(
    {"getitem", "transpose", "reshape", "squeeze", "expand_dims", "broadcast_to", "stop_gradient"}
)


def base_of(var: Var, builder: Builder) -> Var:
    """The array `var` may be a view of: followed back through view ops."""
    producers = {eq.out: eq for eq in builder.equations}
    while var in producers and producers[var].op in VIEWS:
        source = producers[var].inputs[0]
        if not isinstance(source, Var):
            break
        var = source
    return var


def _read_only(var: Var, builder: Builder) -> bool:
    """Whether `var` is (a view of) a broadcast_to result, which NumPy makes read-only."""
    producers = {eq.out: eq for eq in builder.equations}
    while var in producers and producers[var].op in VIEWS:
        if producers[var].op == "broadcast_to":
            return True
        source = producers[var].inputs[0]
        if not isinstance(source, Var):
            break
        var = source
    return False


def owned_output(builder: Builder, var: Var, caller_memory: set[Var]) -> Var:
    """`var`, or a copy of it when it is (a view of) one of `caller_memory` or a read-only
    broadcast; the returned array's base is added to `caller_memory` so later outputs do
    not share it either."""
    if base_of(var, builder) in caller_memory or _read_only(var, builder):
        var = builder.emit("copy", [var])
    caller_memory.add(base_of(var, builder))
    return var


def _source_of(eq: Equation) -> Var | None:
    """The operand whose memory `eq`'s NumPy result may be: a view's source, or the operand
    an elementwise expression reduced to (`1 * x` prints as `x`)."""
    if eq.op in VIEWS and isinstance(eq.inputs[0], Var):
        return eq.inputs[0]
    expr = eq.param("expr")
    if eq.op == "ew" and isinstance(expr, sympy.Symbol):
        index = int(expr.name[1:])  # a0, a1, ...
        operand = eq.inputs[index]
        return operand if isinstance(operand, Var) else None
    return None


def own_outputs(graph: Graph, count: int) -> Graph:
    """The graph with its first `count` outputs made fresh arrays: each one that is (a view
    of) an input or of an earlier output, or read-only, is copied. For graphs whose passes
    may have turned an output into an alias (d_value = 1 folded away: `1 * x` is `x`)."""
    producers = {eq.out: eq for eq in graph.equations}

    def trace_back(var: Var) -> tuple[Var, bool]:
        read_only = False
        while var in producers and (source := _source_of(producers[var])) is not None:
            read_only |= producers[var].op == "broadcast_to"
            var = source
        return var, read_only

    taken = set(graph.inputs)
    equations = list(graph.equations)
    outputs = list(graph.outputs)
    hints = dict(graph.hints)
    for k in range(min(count, len(outputs))):
        base, read_only = trace_back(outputs[k])
        if base in taken or read_only:
            copy = Var(next(Builder._ids), outputs[k].shape, outputs[k].integer)
            equations.append(Equation("copy", (outputs[k],), copy))
            if outputs[k] in hints and outputs[k] not in graph.inputs:
                hints[copy] = hints.pop(outputs[k])
            outputs[k] = base = copy
        taken.add(base)
    return graph.replace(equations=tuple(equations), outputs=tuple(outputs), hints=hints)
