"""`verify(graph)`: the IR's invariants, checked after every pass in the tests.

Every var is bound once, before it is used; every equation's shape is what its op's shape
rule gives; every output is bound.
"""

from __future__ import annotations

from gradgen.ir import Graph, Var
from gradgen.ops import OPS


class IRError(AssertionError):
    """The graph breaks an invariant: a compiler bug, never a user error."""


def verify(graph: Graph) -> Graph:
    """Raise IRError when `graph` is malformed; return it unchanged otherwise."""
    bound: set[Var] = set(graph.inputs)
    if len(bound) != len(graph.inputs):
        raise IRError("an input is listed twice")
    for eq in graph.equations:
        for v in eq.vars():
            if v not in bound:
                raise IRError(f"{eq.op} uses var {v.id} before it is bound")
        if eq.out in bound:
            raise IRError(f"var {eq.out.id} is bound twice")
        if eq.op not in OPS:
            raise IRError(f"unknown op {eq.op!r}")
        shapes = [a.shape if isinstance(a, Var) else () for a in eq.inputs]
        shape, params = OPS[eq.op].shape_rule(shapes, dict(eq.params))
        if shape != eq.out.shape:
            raise IRError(f"{eq.op} gives shape {shape}, the graph says {eq.out.shape}")
        bound.add(eq.out)
    for v in graph.outputs:
        if v not in bound:
            raise IRError(f"output var {v.id} is never bound")
    return graph
