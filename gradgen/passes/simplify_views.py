"""Algebraic identities on shape ops, which the chain rule tends to produce:

- transpose(transpose(x)) is one transpose, or x itself when the axes cancel;
- squeeze(sum(x, axes, keepdims=True), axes) is sum(x, axes).
"""

from __future__ import annotations

from dataclasses import replace

from gradgen.ir import Equation, Graph, Var


def run(graph: Graph) -> Graph:
    producers: dict[Var, Equation] = {}
    mapping: dict[Var, Var] = {}
    equations = []
    for eq in graph.equations:
        eq = replace(
            eq, inputs=tuple(mapping.get(a, a) if isinstance(a, Var) else a for a in eq.inputs)
        )
        source = (
            producers.get(eq.inputs[0]) if eq.inputs and isinstance(eq.inputs[0], Var) else None
        )
        if eq.op == "transpose" and source is not None and source.op == "transpose":
            inner, outer = source.param("axes"), eq.param("axes")
            axes = tuple(inner[i] for i in outer)  # type: ignore[index]
            if axes == tuple(range(len(axes))):
                mapping[eq.out] = source.inputs[0]  # type: ignore[assignment]
                continue
            eq = replace(eq, inputs=source.inputs, params=(("axes", axes),))
        elif (
            eq.op == "squeeze"
            and source is not None
            and source.op == "sum"
            and source.param("keepdims")
            and source.param("axis") == eq.param("axis")
        ):
            eq = replace(
                eq,
                op="sum",
                inputs=source.inputs,
                params=(("axis", eq.param("axis")), ("keepdims", False)),
            )
        producers[eq.out] = eq
        equations.append(eq)
    outputs = tuple(mapping.get(v, v) for v in graph.outputs)
    return graph.replace(equations=tuple(equations), outputs=outputs)
