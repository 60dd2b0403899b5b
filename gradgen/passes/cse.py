"""Common-subexpression elimination: an equation that repeats an earlier one (same op,
same inputs, same params) is dropped and its uses read the earlier result. Ops whose
purpose is a fresh buffer (memory BUFFER: copy, the zeros and ones) are never merged.
A name hint about a dropped value (`d_t6`, the gradient of a repeat of `t1`) is about the
earlier one afterwards, one part of its gradient."""

from __future__ import annotations

from dataclasses import replace

from gradgen.ir import Atom, Equation, Graph, Var
from gradgen.naming import GradHint, NameHint
from gradgen.ops import OPS
from gradgen.ops.registry import BUFFER


def run(graph: Graph) -> Graph:
    seen: dict[tuple[object, ...], Var] = {}
    mapping: dict[Var, Var] = {}
    hints = dict(graph.hints)
    kept: list[Equation] = []
    for eq in graph.equations:
        inputs = tuple(mapping.get(a, a) if isinstance(a, Var) else a for a in eq.inputs)
        key = (eq.op, tuple(_key(a) for a in inputs), eq.params)
        earlier = None if OPS[eq.op].memory == BUFFER else seen.get(key)
        if earlier is None:
            seen[key] = eq.out
            kept.append(replace(eq, inputs=inputs))
            continue
        mapping[eq.out] = earlier
        if earlier not in hints and eq.out in hints:
            hints[earlier] = hints[eq.out]
    return graph.replace(
        equations=tuple(kept),
        outputs=tuple(mapping.get(v, v) for v in graph.outputs),
        hints={v: _about_kept(hint, mapping) for v, hint in hints.items()},
    )


def _about_kept(hint: NameHint, mapping: dict[Var, Var]) -> NameHint:
    """`hint` about the value kept in place of the dropped one it was about; a gradient
    of a dropped value is one part of the kept value's gradient."""
    of = getattr(hint, "of", None)
    if of not in mapping:
        return hint
    if isinstance(hint, GradHint):
        return GradHint(mapping[of], partial=True)
    return replace(hint, of=mapping[of])  # type: ignore[type-var]


def _key(atom: Atom) -> object:
    return ("var", atom.id) if isinstance(atom, Var) else (type(atom).__name__, repr(atom))
