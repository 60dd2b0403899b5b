"""Fuse each `where`'s branches into it, before differentiation.

The elementwise computation feeding a branch of `where(c, a, b)` becomes part of one
Piecewise expression (recomputed there when other code also reads it). Its SymPy
derivative then keeps each branch's partials inside the branch (d/dx where(c, log(x), 0) =
where(c, 1/x, 0)), so a branch that is not taken can never turn the gradient into nan:
the trap of masking after the chain rule, where 0 * inf = nan, does not arise. The printer
runs such statements under np.errstate. Fusion stops at MAX_OPS operations; a branch
computed from a longer elementwise chain is guarded only that far.
"""

from __future__ import annotations

import sympy

from gradgen.ir import Equation, Graph, Var
from gradgen.ops import OPS
from gradgen.passes import dce
from gradgen.symbolic import fuse

MAX_OPS = 40


def _fusable(eq: Equation | None, outputs: set[Var]) -> bool:
    return (
        eq is not None
        and OPS[eq.op].elementwise
        and not eq.out.integer  # masks stay separate operands
        and eq.out not in outputs
    )


def run(graph: Graph) -> Graph:
    equations = list(graph.equations)
    outputs = set(graph.outputs)
    producers = {eq.out: eq for eq in equations}
    for i, eq in enumerate(equations):
        if eq.op != "where":
            continue
        changed = True
        while changed:
            changed = False
            for atom in equations[i].inputs:
                producer = producers.get(atom) if isinstance(atom, Var) else None
                if not _fusable(producer, outputs):
                    continue
                candidate = fuse(producer, equations[i])  # type: ignore[arg-type]
                if sympy.count_ops(candidate.param("expr")) <= MAX_OPS:
                    equations[i] = candidate
                    changed = True
                    break
        producers[equations[i].out] = equations[i]
    return dce.run(graph.replace(equations=tuple(equations)))
