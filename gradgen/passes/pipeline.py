"""The optimization pipeline: the passes in order, repeated until the program stops
changing (a fixed point), then the lowering passes a NumPy target adds, with `verify`
available after every pass. Every pass runs on loop bodies too (`in_bodies`): a body is
optimized like any code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from gradgen.ir import Body, Graph, Var
from gradgen.passes import (
    cse,
    dce,
    dot_products,
    fold_broadcasts,
    fuse_elementwise,
    guard_where,
    merge_scatters,
    prune_loops,
    simplify_views,
)

Pass = Callable[[Graph], Graph]


def in_bodies(run: Pass) -> Pass:
    """`run` on a graph, then on every loop body in it (bodies in bodies too)."""

    def nested(graph: Graph) -> Graph:
        graph = run(graph)
        if not any(eq.op == "scan" for eq in graph.equations):
            return graph
        equations = []
        for eq in graph.equations:
            params = tuple(
                (k, Body(nested(v.graph)) if isinstance(v, Body) else v) for k, v in eq.params
            )
            if any(new is not old for (_, new), (_, old) in zip(params, eq.params)):
                eq = replace(eq, params=params)
            equations.append(eq)
        return graph.replace(equations=tuple(equations))

    return nested


PASSES: tuple[tuple[str, Pass], ...] = (
    ("dce", dce.run),
    ("prune_loops", prune_loops.run),
    ("cse", cse.run),
    ("simplify_views", simplify_views.run),
    ("fold_broadcasts", fold_broadcasts.run),
    ("merge_scatters", merge_scatters.run),
    ("dce", dce.run),
    ("fuse_elementwise", fuse_elementwise.run),
    ("dce", dce.run),
)
MAX_ROUNDS = 4

# After optimization, for NumPy code: rewrites into the forms NumPy runs fastest.
LOWER: tuple[tuple[str, Pass], ...] = (("dot_products", dot_products.run),)

# Before differentiation: passes that change what the derivative is built from.
PREPARE: tuple[tuple[str, Pass], ...] = (("guard_where", guard_where.run),)


def prepare(graph: Graph, check: Callable[[Graph], Graph] | None = None) -> Graph:
    """Run PREPARE on a traced graph; `check` (e.g. `verify`) runs after each pass."""
    for _name, run in PREPARE:
        graph = in_bodies(run)(graph)
        if check is not None:
            check(graph)
    return graph


def optimize(graph: Graph, check: Callable[[Graph], Graph] | None = None) -> Graph:
    """Run PASSES until a fixed point; `check` (e.g. `verify`) runs after each pass."""
    for _ in range(MAX_ROUNDS):
        before = fingerprint(graph)
        for _name, run in PASSES:
            graph = in_bodies(run)(graph)
            if check is not None:
                check(graph)
        if fingerprint(graph) == before:
            break
    return graph


def fingerprint(graph: Graph) -> tuple[object, ...]:
    """The graph's program, comparable (equal exactly when the printed IR is, up to the
    names of values): far cheaper than printing it."""

    def atom(a: object) -> object:
        return a.id if isinstance(a, Var) else (type(a).__name__, a)

    def param(value: object) -> object:
        return fingerprint(value.graph) if isinstance(value, Body) else value

    return (
        tuple(v.id for v in graph.inputs),
        tuple(
            (
                eq.op,
                eq.out.id,
                tuple(atom(a) for a in eq.inputs),
                tuple((k, param(v)) for k, v in eq.params),
            )
            for eq in graph.equations
        ),
        tuple(v.id for v in graph.outputs),
    )


def optimize_and_lower(graph: Graph, check: Callable[[Graph], Graph] | None = None) -> Graph:
    """`optimize`, then LOWER once; `check` runs after each pass."""
    graph = optimize(graph, check)
    for _name, run in LOWER:
        graph = in_bodies(run)(graph)
        if check is not None:
            check(graph)
    return graph
