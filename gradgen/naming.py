"""Every name in generated code comes from here, deterministically.

- Inputs keep the user's argument names; forward values keep the user's local names
  (a name bound again in a loop gets `_1`, `_2`, ... in order).
- The gradient of a value `v` is `d_v`; when several contributions are summed, the parts
  are `d_v_1`, `d_v_2`, ... and the sum is `d_v`.
- The tangent of a value `v` (forward mode) is `v_dot`.
- True temporaries are `t0`, `t1`, ...; nothing collides with a keyword, a dimension
  name, the modules the code uses (`np`, `math`) or the cotangent argument `d_value`.
  (`saved` and `value` need no reserving: the generated code only rebinds them after
  reading every argument.)
"""

from __future__ import annotations

import keyword
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gradgen.shapes import dim_names


@dataclass(frozen=True)
class GradHint:
    """Names the gradient of `of`: `d_<name of of>`; a partial one gets a numbered suffix."""

    of: Hashable  # the primal value this is the gradient of
    partial: bool = False  # one contribution, to be summed with others


@dataclass(frozen=True)
class TangentHint:
    """Names the tangent (forward-mode derivative) of `of`: `<name of of>_dot`."""

    of: Hashable  # the primal value this is the tangent of


NameHint = str | GradHint | TangentHint


class Program(Protocol):
    """What naming reads of a graph (`gradgen.ir.Graph`): its values and their hints."""

    inputs: Sequence[Any]  # vars with a .shape
    equations: Sequence[Any]  # each with an .out var
    hints: Mapping[Any, NameHint]


RESERVED = frozenset(set(keyword.kwlist) | {"np", "math", "d_value"})


class _NameSpace:
    def __init__(self, taken: Iterable[str]) -> None:
        self.taken = set(taken)
        self.next_temp = 0

    def claim(self, base: str) -> str:
        name, k = base, 0
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def numbered(self, base: str) -> str:
        k = 1
        while f"{base}_{k}" in self.taken:
            k += 1
        self.taken.add(f"{base}_{k}")
        return f"{base}_{k}"

    def temp(self) -> str:
        while f"t{self.next_temp}" in self.taken:
            self.next_temp += 1
        self.taken.add(f"t{self.next_temp}")
        return f"t{self.next_temp}"


def dimension_names(graph: Program) -> set[str]:
    """The annotation dim names the graph's shapes use (N for a derived dim N - 1)."""
    shapes = [v.shape for v in graph.inputs] + [eq.out.shape for eq in graph.equations]
    return {name for shape in shapes for d in shape for name in dim_names(d)}


def assign_names(
    graph: Program, skip: Collection[Hashable] = (), fixed: Mapping[Any, str] | None = None
) -> dict[Any, str]:
    """A unique Python identifier for every var of `graph` but those in `skip` (values the
    printer writes inline, which need no name). `fixed` names given elsewhere (the code's,
    for the docstring's formula) are kept, and no other var takes one of them."""
    hints = graph.hints
    ordered = list(graph.inputs) + [eq.out for eq in graph.equations]
    user_named = {v: hints[v] for v in ordered if isinstance(hints.get(v), str)}
    fixed = fixed or {}
    space = _NameSpace((RESERVED - {"d_value"}) | dimension_names(graph) | set(fixed.values()))
    names: dict[Any, str] = {v: fixed[v] for v in ordered if v in fixed}
    # The cotangent argument is always `d_value`; then the user's names, so a temporary
    # never takes a name the user wrote.
    ordered.sort(key=lambda v: user_named.get(v) != "d_value")
    for v in ordered:
        if v in user_named and v not in names:
            names[v] = space.claim(user_named[v])  # type: ignore[arg-type]
    for v in ordered:
        if v in names or v in skip:
            continue
        hint = hints.get(v)
        if isinstance(hint, GradHint) and hint.of in names:
            base = "d_" + names[hint.of]
            names[v] = space.numbered(base) if hint.partial else space.claim(base)
        elif isinstance(hint, TangentHint) and hint.of in names:
            names[v] = space.claim(names[hint.of] + "_dot")
        else:
            names[v] = space.temp()
    return names


def is_named(var: Hashable, hints: Mapping[Any, NameHint]) -> bool:
    """Whether a reader looks for this value by name: a user's variable or its gradient.
    Other values (temporaries, parts of a summed gradient) may be fused or written inline."""
    hint = hints.get(var)
    if isinstance(hint, str):
        return True
    if isinstance(hint, GradHint) and not hint.partial:
        return is_named(hint.of, hints)
    if isinstance(hint, TangentHint):
        return is_named(hint.of, hints)
    return False
