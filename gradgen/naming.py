"""Every name in generated code comes from here, deterministically.

- Inputs keep the user's argument names; forward values keep the user's local names
  (a name bound again in a loop gets `_1`, `_2`, ... in order).
- The gradient of a value `v` is `d_v`; when several contributions are summed, the parts
  are `d_v_1`, `d_v_2`, ... and the sum is `d_v`.
- The tangent of a value `v` (forward mode) is `v_dot`.
- A temporary is named after what it holds when a short name says it: `logits_max` (a
  reduction of a named value), `exp_logits` (a function of one, fused or not), `x_T` (a
  named matrix transposed); other temporaries are `t0`, `t1`, ... Nothing collides with a
  keyword, a dimension name, the modules the code uses (`np`, `math`) or the cotangent
  argument `d_value`.
  (`saved` and `value` need no reserving: the generated code only rebinds them after
  reading every argument.)
"""

from __future__ import annotations

import keyword
import re
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
    equations: Sequence[Any]  # each with an .out var, .op, .inputs and .param(key)
    hints: Mapping[Any, NameHint]


_TEMP = re.compile(r"t\d+")  # a temporary's name, which says nothing of what it holds
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
        """The next free `t<k>`."""
        while f"t{self.next_temp}" in self.taken:
            self.next_temp += 1
        self.taken.add(f"t{self.next_temp}")
        return f"t{self.next_temp}"


# Ops (and fused expressions whose outermost call is one) a temporary is named after.
CONTENT_FUNCTIONS = frozenset(
    "exp expm1 log log1p sqrt tanh sigmoid softplus relu sin cos tan abs erf".split()
)
CONTENT_REDUCTIONS = frozenset("sum mean max min prod logsumexp".split())
MAX_CONTENT_NAME = 20  # a longer name says less than `t3`


def content_name(
    eq: Any, names: Mapping[Any, str], producers: Mapping[Any, Any] | None = None
) -> str | None:
    """A name for `eq`'s result from what it holds, or None: `<x>_max` for a reduction of
    a named `x`, `exp_<x>` for a function of one, `<x>_T` for a matrix transposed,
    `<x>_one_hot` for the one-hot rows of integer labels. What a
    reduction or function is of may also be `x` shifted (`exp(logits - logits_max)` is
    `exp_logits`), looked through operands written inline (in `producers`), but not `x`
    scaled or multiplied: `exp(sin_x * y)` says nothing short. Values named t0, t1, ... or
    d_<...> (`d_x_sum` would read as a gradient) give no name, and a name of more than
    MAX_CONTENT_NAME characters is too long to help."""
    producers = producers or {}
    subject: str | None = None
    function = eq.op
    if eq.op == "ew":
        expr = eq.param("expr")
        function = type(expr).__name__.lower() if getattr(expr, "is_Function", False) else ""
        if function in CONTENT_FUNCTIONS and len(expr.args) == 1:
            subject = _shifted_subject(expr.args[0], eq.inputs, names, producers)
    elif eq.inputs:
        subject = _subject(eq.inputs[0], names, producers, depth=0)
    if subject is None:
        return None
    if eq.op in CONTENT_REDUCTIONS:
        name = f"{subject}_{eq.op}"
    elif function in CONTENT_FUNCTIONS:
        name = f"{function}_{subject}"
    elif eq.op == "transpose" and eq.param("axes") in (None, (1, 0)) and eq.out.ndim == 2:
        name = f"{subject}_T"
    elif eq.op == "one_hot":
        name = f"{subject}_one_hot"
    else:
        return None
    return name if len(name) <= MAX_CONTENT_NAME else None


def _subject(
    atom: Any, names: Mapping[Any, str], producers: Mapping[Any, Any], depth: int
) -> str | None:
    """The telling name of the value `atom` is, or is a shift of (`x - m`, `x + 1`, `-x`)."""
    if atom in names:
        name = names[atom]
        return None if _TEMP.fullmatch(name) or name.startswith("d_") else name
    producer = producers.get(atom)
    if producer is None or depth > 2:
        return None
    if producer.op in ("add", "sub", "neg"):
        return _subject(producer.inputs[0], names, producers, depth + 1)
    if producer.op == "ew":
        return _shifted_subject(producer.param("expr"), producer.inputs, names, producers)
    return None


def _shifted_subject(
    expr: Any, inputs: Sequence[Any], names: Mapping[Any, str], producers: Mapping[Any, Any]
) -> str | None:
    """The subject of an elementwise expression over `inputs` (operand symbols a0, a1,
    ...) that is one operand, or a sum of operands and numbers (its first operand)."""
    terms = expr.args if getattr(expr, "is_Add", False) else (expr,)
    symbols = []
    for term in terms:
        if getattr(term, "is_Number", False):
            continue
        if getattr(term, "is_Mul", False) and len(term.args) == 2 and term.args[0] == -1:
            term = term.args[1]
        if not getattr(term, "is_Symbol", False):
            return None  # a product or a call: not a shift
        symbols.append(term)
    if not symbols:
        return None
    index = int(str(symbols[0])[1:])  # a<k> stands for the k-th operand
    atom = inputs[index] if index < len(inputs) else None
    return _subject(atom, names, producers, depth=1)


def dimension_names(graph: Program) -> set[str]:
    """The annotation dim names the graph's shapes use (N for a derived dim N - 1)."""
    shapes = [v.shape for v in graph.inputs] + [eq.out.shape for eq in graph.equations]
    return {name for shape in shapes for d in shape for name in dim_names(d)}


def assign_names(
    graph: Program,
    skip: Collection[Hashable] = (),
    fixed: Mapping[Any, str] | None = None,
    taken: Collection[str] = (),
) -> dict[Any, str]:
    """A unique Python identifier for every var of `graph` but those in `skip` (values the
    printer writes inline, which need no name). `fixed` names given elsewhere (the code's,
    for the docstring's formula) are kept, and no other var takes one of them, nor one of
    the names `taken` (the code around a loop's body)."""
    hints = graph.hints
    ordered = list(graph.inputs) + [eq.out for eq in graph.equations]
    user_named = {v: hints[v] for v in ordered if isinstance(hints.get(v), str)}
    fixed = fixed or {}
    reserved = (RESERVED - {"d_value"}) | dimension_names(graph) | set(fixed.values())
    space = _NameSpace(reserved | set(taken))
    names: dict[Any, str] = {v: fixed[v] for v in ordered if v in fixed}
    # The cotangent argument is always `d_value`; then the user's names, so a temporary
    # never takes a name the user wrote.
    ordered.sort(key=lambda v: user_named.get(v) != "d_value")
    for v in ordered:
        if v in user_named and v not in names:
            names[v] = space.claim(user_named[v])  # type: ignore[arg-type]
    producers = {eq.out: eq for eq in graph.equations}
    for v in ordered:
        if v in names or v in skip:
            continue
        hint = hints.get(v)
        if isinstance(hint, GradHint) and hint.of in names:
            base = "d_" + names[hint.of]
            names[v] = space.numbered(base) if hint.partial else space.claim(base)
            continue
        if isinstance(hint, TangentHint) and hint.of in names:
            names[v] = space.claim(names[hint.of] + "_dot")
            continue
        content = content_name(producers[v], names, producers) if v in producers else None
        names[v] = space.claim(content) if content is not None else space.temp()
    return names


def says_nothing(name: str) -> bool:
    """Whether `name` is a bare temporary's (`t3`), which may come to hold another
    temporary value without misleading a reader (`exp_logits` may not)."""
    return _TEMP.fullmatch(name) is not None


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
