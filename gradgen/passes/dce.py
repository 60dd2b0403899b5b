"""Dead-code elimination: drop equations no output depends on."""

from __future__ import annotations

from gradgen.ir import Graph, Var


def run(graph: Graph) -> Graph:
    live: set[Var] = set(graph.outputs)
    kept = []
    for eq in reversed(graph.equations):
        if eq.out in live:
            kept.append(eq)
            live.update(eq.vars())
    return graph.replace(equations=tuple(reversed(kept)))
