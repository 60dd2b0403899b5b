"""`verify(graph)`: the IR's invariants, checked after every pass in the tests.

Every var is bound once, before it is used; every equation's shape and kind (integer or
float) are what its op's rules give; a fused elementwise expression reads only its operands;
every output is bound. A pass that breaks a type is a compiler bug, found at compile time.
"""

from __future__ import annotations

from gradgen.ir import Graph, Var
from gradgen.ops import OPS
from gradgen.ops.elementwise import operand_symbols

# Ops whose result kind is a param or the caller's choice rather than a rule of the inputs.
_ANY_KIND = frozenset({"custom_vjp", "custom_jvp"})


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
        op = OPS[eq.op]
        shapes = [a.shape if isinstance(a, Var) else () for a in eq.inputs]
        shape, params = op.shape_rule(shapes, dict(eq.params))
        if shape != eq.out.shape:
            raise IRError(f"{eq.op} gives shape {shape}, the graph says {eq.out.shape}")
        integer = op.integer_result([not isinstance(a, Var) or a.integer for a in eq.inputs])
        if eq.op not in _ANY_KIND and integer != eq.out.integer:
            kind = "integer" if integer else "float"
            raise IRError(f"{eq.op} gives {kind} data, the graph says {eq.out.type_str()}")
        if eq.op == "ew":
            unknown = eq.param("expr").free_symbols - set(operand_symbols(len(eq.inputs)))
            if unknown:
                raise IRError(f"ew reads {sorted(map(str, unknown))}, not among its operands")
        bound.add(eq.out)
    for v in graph.outputs:
        if v not in bound:
            raise IRError(f"output var {v.id} is never bound")
    return graph
