"""Drop `broadcast_to` where an elementwise consumer would broadcast implicitly anyway:
`d_e = 2 * e * broadcast_to(g, (N,))` becomes `d_e = 2 * e * g`. Operands that become the
same value are merged."""

from __future__ import annotations

from dataclasses import replace

from gradgen.ir import Graph, Var
from gradgen.ops import OPS
from gradgen.shapes import ShapeError, broadcast_shapes
from gradgen.symbolic import elementwise_expression


def run(graph: Graph) -> Graph:
    sources: dict[Var, Var] = {}  # broadcast result -> the value it broadcasts
    for eq in graph.equations:
        if eq.op == "broadcast_to" and isinstance(eq.inputs[0], Var):
            sources[eq.out] = eq.inputs[0]
    if not sources:
        return graph
    equations = []
    for eq in graph.equations:
        if OPS[eq.op].elementwise and any(a in sources for a in eq.vars()):
            inputs = tuple(sources.get(a, a) if isinstance(a, Var) else a for a in eq.inputs)
            shapes = [a.shape if isinstance(a, Var) else () for a in inputs]
            try:
                keeps_shape = broadcast_shapes(*shapes) == eq.out.shape
            except ShapeError:
                keeps_shape = False
            if keeps_shape:
                eq = replace(eq, inputs=inputs)
                if eq.op == "ew":  # a broadcast and its source may now both be operands
                    expr, atoms = elementwise_expression(eq)
                    eq = replace(eq, inputs=tuple(atoms), params=(("expr", expr),))
        equations.append(eq)
    return graph.replace(equations=tuple(equations))
