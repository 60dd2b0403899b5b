"""Sum the gradients of several slices of one array into one buffer.

The gradient of `x[:-1]` and `x[1:]` is a zero array per slice, each with its part written
in, then added up: three full arrays for Rosenbrock. A sum of such scatters (each read
only by the sum) becomes one `scatter_sum`: one zero array, each part added at its slice,
and parts at the same slice added first:

    d_x = np.zeros((N,), ...)
    d_x[:-1] = t3 + d_t0
    d_x[1:] += d_t1

Parts at one slice that are all gradients of one value (the slice, read twice) add up to
its gradient, named after it (`d_t0`).
"""

from __future__ import annotations

from dataclasses import replace

from gradgen.ir import Atom, Equation, Graph, Var, fresh_var
from gradgen.naming import GradHint, NameHint
from gradgen.ops.elementwise import operand_symbols

_SCATTERS = frozenset({"scatter", "scatter_sum"})


def run(graph: Graph) -> Graph:
    uses = graph.use_counts()
    producers: dict[Var, Equation] = {}
    merged: set[Var] = set()
    equations: list[Equation] = []
    hints = dict(graph.hints)
    for eq in graph.equations:
        parts = _summed_scatters(eq, producers, uses)
        if parts is not None:
            new = _merge(eq, parts, hints)
            equations.extend(new[:-1])
            eq = new[-1]
            merged.update(p.out for p in parts)
        producers[eq.out] = eq
        equations.append(eq)
    if not merged:
        return graph
    kept = tuple(e for e in equations if e.out not in merged)
    return graph.replace(equations=kept, hints=hints)


def _summed_scatters(
    eq: Equation, producers: dict[Var, Equation], uses: dict[Var, int]
) -> list[Equation] | None:
    """The two scatters `eq` adds (a + b, same shape, each read only here), or None."""
    if not _is_sum_of_two(eq):
        return None
    parts = [producers.get(a) for a in eq.inputs if isinstance(a, Var)]
    if len(parts) != 2 or any(p is None or p.op not in _SCATTERS for p in parts):
        return None
    if any(uses.get(p.out, 0) != 1 or p.out.shape != eq.out.shape for p in parts):  # type: ignore[union-attr]
        return None
    return parts  # type: ignore[return-value]


def _is_sum_of_two(eq: Equation) -> bool:
    if eq.op == "add":
        return len(eq.inputs) == 2
    if eq.op == "ew" and len(eq.inputs) == 2:
        a0, a1 = operand_symbols(2)
        return eq.param("expr") == a0 + a1
    return False


def _pieces(eq: Equation) -> list[tuple[Atom, tuple]]:
    if eq.op == "scatter":
        return [(eq.inputs[0], eq.param("index"))]  # type: ignore[list-item]
    return list(zip(eq.inputs, eq.param("indices")))  # type: ignore[call-overload]


def _merge(total: Equation, parts: list[Equation], hints: dict[Var, NameHint]) -> list[Equation]:
    """New equations: the sums of parts written to the same index, then the scatter_sum
    that replaces `total` (binding total's var). A sum of gradients of one value is its
    gradient in `hints`, and its terms parts of it."""
    by_index: dict[tuple, list[Atom]] = {}
    for part in parts:
        for values, index in _pieces(part):
            by_index.setdefault(index, []).append(values)
    equations: list[Equation] = []
    operands: list[Atom] = []
    for values in by_index.values():
        summed = values[0]
        for other in values[1:]:
            assert isinstance(summed, Var)
            out = fresh_var(summed.shape)
            equations.append(Equation("add", (summed, other), out, (), total.source, total.origin))
            summed = out
        if len(values) > 1:
            _name_the_total(values, summed, hints)
        operands.append(summed)
    shape = (("indices", tuple(by_index)), ("shape", total.out.shape))
    equations.append(replace(total, op="scatter_sum", inputs=tuple(operands), params=shape))
    return equations


def _name_the_total(values: list[Atom], total: Atom, hints: dict[Var, NameHint]) -> None:
    """When every one of `values` is a gradient of one value, `total` (their sum) is its
    gradient and each of them a part of it."""
    grads = [hints.get(v) for v in values if isinstance(v, Var)]
    if len(grads) != len(values) or not isinstance(total, Var):
        return
    of = {g.of for g in grads if isinstance(g, GradHint)}
    if len(of) != 1 or not all(isinstance(g, GradHint) for g in grads):
        return
    (primal,) = of
    for v in values:
        hints[v] = GradHint(primal, partial=True)  # type: ignore[index]
    hints[total] = GradHint(primal)


__all__ = ["run"]
