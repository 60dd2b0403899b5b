"""Which arrays a result may share memory with, and how outputs are kept from sharing it.

Generated functions return arrays that share memory with no argument and no other result
(so a caller may update them in place). NumPy answers some ops with views, and an
elementwise expression that reduced to one operand (`1 * x`) prints as that operand;
`own_outputs` follows both back and copies a result that would share memory, or that is
a read-only broadcast. Each mode calls it on the graph it builds, and the compiler again
after the passes (which may turn an output into an alias).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sympy

from gradgen.ir import Equation, Graph, Var, fresh_var
from gradgen.naming import NameHint
from gradgen.ops import OPS
from gradgen.ops.control import cond_parts, scan_parts
from gradgen.ops.registry import READ_ONLY_VIEW


def view_source(eq: Equation, producers: Mapping[Var, Equation] | None = None) -> Var | None:
    """The operand whose memory `eq`'s NumPy result may be: a view's source, the operand
    an elementwise expression reduced to (`1 * x` prints as `x`), or, given the
    `producers` of the vars, a loop's initial carry (its final carry when no step runs)
    or an operand a cond's branch gives back."""
    if eq.op == "scan_output" and producers is not None:
        loop = producers.get(eq.inputs[0])  # type: ignore[arg-type]
        if loop is None:
            return None
        index = int(eq.param("result"))  # type: ignore[arg-type]
        if loop.op == "cond":  # a branch may give back an operand
            branches = cond_parts(loop)
            operands = dict(zip(branches.inputs, branches.operands))
            for graph in (branches.true, branches.false):
                operand = operands.get(graph.outputs[index])
                if isinstance(operand, Var):
                    return operand
            return None
        parts = scan_parts(loop)
        carry = parts.carries[index] if index < len(parts.carries) else None
        return carry if isinstance(carry, Var) else None
    if OPS[eq.op].view and isinstance(eq.inputs[0], Var):
        return eq.inputs[0]
    if eq.op == "einsum" and len(eq.inputs) == 1 and isinstance(eq.inputs[0], Var):
        return eq.inputs[0]  # np.einsum("ij->ji", x) and ("ii->i", x) are views of x
    expr = eq.param("expr")
    if eq.op == "ew" and isinstance(expr, sympy.Symbol):
        index = int(expr.name[1:])  # a0, a1, ...
        operand = eq.inputs[index]
        return operand if isinstance(operand, Var) else None
    return None


def memory_of(v: Var, producers: Mapping[Var, Equation]) -> Var:
    """The var whose array `v` is: a view's (or an alias's) source, followed back through
    `producers` (each var's equation)."""
    while v in producers and (source := view_source(producers[v], producers)) is not None:
        v = source
    return v


def own_outputs(graph: Graph, count: int, copy_names: Sequence[NameHint | None] = ()) -> Graph:
    """The graph with its first `count` outputs made fresh arrays: each one that is (a view
    of) an input or of an earlier output, or read-only, is copied. The copy of output k is
    named `copy_names[k]` when given, else takes the output's own name if that is a plain
    name (the value's, a user's)."""
    producers = {eq.out: eq for eq in graph.equations}

    def trace_back(var: Var) -> tuple[Var, bool]:
        read_only = False
        while var in producers and (source := view_source(producers[var], producers)) is not None:
            read_only |= OPS[producers[var].op].memory == READ_ONLY_VIEW
            var = source
        return var, read_only

    taken = set(graph.inputs)
    equations = list(graph.equations)
    outputs = list(graph.outputs)
    hints = dict(graph.hints)
    for k in range(min(count, len(outputs))):
        base, read_only = trace_back(outputs[k])
        if base in taken or read_only:
            copy = fresh_var(outputs[k].shape, outputs[k].integer)
            equations.append(Equation("copy", (outputs[k],), copy))
            if k < len(copy_names) and copy_names[k] is not None:
                hints[copy] = copy_names[k]  # type: ignore[assignment]
            elif isinstance(hints.get(outputs[k]), str) and outputs[k] not in graph.inputs:
                hints[copy] = hints.pop(outputs[k])  # the value's (or a user's) name moves
            outputs[k] = base = copy
        taken.add(base)
    return graph.replace(equations=tuple(equations), outputs=tuple(outputs), hints=hints)
