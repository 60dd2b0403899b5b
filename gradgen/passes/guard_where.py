"""Fuse each `where`'s branches into it, before differentiation.

A single-use elementwise computation that only feeds a branch of `where(c, a, b)` becomes
part of one Piecewise expression. Its SymPy derivative then keeps each branch's partials
inside the branch (d/dx where(c, log(x), 0) = where(c, 1/x, 0)), so a branch that is not
taken can never turn the gradient into nan: the trap of masking after the chain rule,
where 0 * inf = nan, does not arise. The printer runs such statements under np.errstate.
"""

from __future__ import annotations

from gradgen.ir import Equation, Graph, Var
from gradgen.ops import OPS
from gradgen.passes.fuse_elementwise import fuse


def _is_branch_producer(eq: Equation | None, uses: dict[Var, int], outputs: set[Var]) -> bool:
    return (
        eq is not None
        and OPS[eq.op].elementwise
        and not eq.out.integer  # masks stay separate operands
        and uses.get(eq.out, 0) == 1
        and eq.out not in outputs
    )


def run(graph: Graph) -> Graph:
    equations = list(graph.equations)
    uses = graph.use_counts()
    outputs = set(graph.outputs)
    guarded = {i for i, eq in enumerate(equations) if eq.op == "where"}
    fused_away: set[Var] = set()
    changed = True
    while changed:
        changed = False
        producers = {eq.out: eq for eq in equations if eq.out not in fused_away}
        for i in sorted(guarded):
            for atom in equations[i].inputs:
                producer = producers.get(atom) if isinstance(atom, Var) else None
                if _is_branch_producer(producer, uses, outputs):
                    equations[i] = fuse(producer, equations[i])  # type: ignore[arg-type]
                    fused_away.add(atom)  # type: ignore[arg-type]
                    changed = True
                    break
    kept = tuple(eq for eq in equations if eq.out not in fused_away)
    return graph.replace(equations=kept)
