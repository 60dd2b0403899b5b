"""Fuse chains of derivative equations into one SymPy expression.

An elementwise derivative result that nobody reads by name (the gradient of a temporary, or
one part of a summed gradient), used exactly once, by another elementwise equation, is
substituted into that consumer (unless the consumer reads it more than once and it calls
a function: that would compute it twice); SymPy then simplifies the combined expression. The user's
forward equations are left as written (the printer nests them without reordering), and
user-named values keep their gradients, so the code still reads step by step. Expressions
are capped at MAX_OPS operations to keep compile time and line length bounded.
"""

from __future__ import annotations

import sympy

from gradgen.ir import Equation, Graph, Var
from gradgen.naming import is_named
from gradgen.ops import OPS
from gradgen.ops.elementwise import operand_symbols
from gradgen.shapes import broadcast_shapes
from gradgen.symbolic import elementwise_expression, fuse, operand_occurrences

MAX_OPS = 24


def run(graph: Graph) -> Graph:
    uses = graph.use_counts()
    outputs = set(graph.outputs)
    current: dict[Var, Equation] = {}  # var -> its (possibly already fused) equation
    equations: list[Equation] = []
    fused_away: set[Var] = set()
    for eq in graph.equations:
        if OPS[eq.op].elementwise and not eq.out.integer:
            for atom in eq.inputs:
                producer = current.get(atom) if isinstance(atom, Var) else None
                if (
                    producer is not None
                    and producer.origin is not None  # a derivative equation
                    and uses.get(atom, 0) == 1
                    and atom not in outputs
                    and not is_named(atom, graph.hints)
                    and (_cheap(producer) or operand_occurrences(eq, atom) == 1)
                ):
                    candidate = fuse(producer, eq)
                    if sympy.count_ops(candidate.param("expr")) <= MAX_OPS and _keeps_shape(
                        candidate
                    ):
                        eq = candidate
                        fused_away.add(atom)
            current[eq.out] = eq
        equations.append(eq)
    kept = tuple(e for e in equations if e.out not in fused_away)
    return graph.replace(equations=kept)


def _keeps_shape(eq: Equation) -> bool:
    """Whether the fused expression still makes a new array of the output's shape (2*t*g /
    (2*t) simplifies to g, which may have lost the axes t carried, and would be g itself)."""
    if isinstance(eq.param("expr"), sympy.Symbol):
        return False  # a bare operand would print as an alias of it, not a new array
    used = eq.param("expr").free_symbols  # type: ignore[attr-defined]
    symbols = operand_symbols(len(eq.inputs))
    shapes = [a.shape for s, a in zip(symbols, eq.inputs) if isinstance(a, Var) and s in used]
    return broadcast_shapes(*shapes) == eq.out.shape if shapes else eq.out.shape == ()


def _cheap(eq: Equation) -> bool:
    """Arithmetic only (no function call): cheap enough to compute twice."""
    expr, _ = elementwise_expression(eq)
    return not any(isinstance(node, sympy.Function) for node in sympy.preorder_traversal(expr))
