"""Dead-code elimination: drop equations no output depends on."""

from __future__ import annotations

from gradgen.ir import Graph, live_vars


def run(graph: Graph) -> Graph:
    live = live_vars(graph.equations, graph.outputs)
    return graph.replace(equations=tuple(eq for eq in graph.equations if eq.out in live))
