"""The graph IR: variables, equations and graphs, printed one equation per line.

A `Graph` is a straight-line program in SSA form: each `Equation` binds one new `Var` from
input atoms (vars, literals, symbolic dims). A loop is one equation whose `Body` param is a
graph of its own (see `gradgen.ops.control`). `str(graph)` is the debug view and the
format the golden tests pin, e.g. `z:f[N] = matmul x w`, a body printed indented under its
equation.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from gradgen.errors import SourceLocation
from gradgen.naming import NameHint, assign_names
from gradgen.shapes import Shape, dim_names


@dataclass(frozen=True, eq=False)
class Var:
    """A value in the graph; identity is the object itself."""

    id: int  # unique within one tracing session, in creation order
    shape: Shape  # static shape, dims may be symbolic names
    integer: bool = False  # integer data (never differentiated) rather than float

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def type_str(self) -> str:
        return ("i" if self.integer else "f") + "[" + ",".join(str(d) for d in self.shape) + "]"


_ids = itertools.count()


def fresh_var(shape: Shape, integer: bool = False) -> Var:
    """A new var, its id unique in this process and increasing in creation order."""
    return Var(next(_ids), tuple(shape), integer)


@dataclass(frozen=True)
class Lit:
    """A Python number written into the program."""

    value: int | float  # the constant as the user wrote it

    def __str__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True)
class DimSize:
    """The run-time size of a named dimension (e.g. N), as an input to arithmetic."""

    name: str  # the dimension's name from the annotations

    def __str__(self) -> str:
        return self.name


Atom = Var | Lit | DimSize


@dataclass(frozen=True, eq=False)
class Equation:
    """`out = op(*inputs, **params)`."""

    op: str  # key into the op registry
    inputs: tuple[Atom, ...]  # operands in order
    out: Var  # the bound result
    params: tuple[tuple[str, object], ...] = ()  # static attributes (axis, shape, expr)
    source: SourceLocation | None = None  # the user's line that made it
    origin: Equation | None = None  # for a derivative equation: the forward step it comes from

    def param(self, key: str, default: object = None) -> object:
        return dict(self.params).get(key, default)

    def vars(self) -> Iterator[Var]:
        return (a for a in self.inputs if isinstance(a, Var))


@dataclass(frozen=True, eq=False)
class Body:
    """A graph held as an equation's param (a loop's body). Compared and hashed by
    identity, as equations' params must hash; printed as the graph's IR."""

    graph: Graph

    def __str__(self) -> str:
        return str(self.graph)


@dataclass(frozen=True)
class Graph:
    """A straight-line program: inputs, equations in order, outputs."""

    inputs: tuple[Var, ...]  # arguments, in order
    equations: tuple[Equation, ...]  # in execution order
    outputs: tuple[Var, ...]  # results, in order
    hints: Mapping[Var, NameHint] = field(default_factory=dict)  # names for generated code

    def use_counts(self) -> dict[Var, int]:
        counts: dict[Var, int] = {}
        for eq in self.equations:
            for v in eq.vars():
                counts[v] = counts.get(v, 0) + 1
        for v in self.outputs:
            counts[v] = counts.get(v, 0) + 1
        return counts

    def replace(self, **changes: object) -> Graph:
        values = {
            "inputs": self.inputs,
            "equations": self.equations,
            "outputs": self.outputs,
            "hints": self.hints,
        }
        values.update(changes)
        return Graph(**values)  # type: ignore[arg-type]

    def vars_read(self) -> set[Var]:
        """The inputs its equations or outputs read."""
        read = {v for eq in self.equations for v in eq.vars()} | set(self.outputs)
        return read & set(self.inputs)

    def substitute(self, mapping: Mapping[Var, Var]) -> Graph:
        """The same program with every use of a key var replaced by its value var."""
        if not mapping:
            return self
        equations = tuple(
            replace(
                eq, inputs=tuple(mapping.get(a, a) if isinstance(a, Var) else a for a in eq.inputs)
            )
            for eq in self.equations
        )
        outputs = tuple(mapping.get(v, v) for v in self.outputs)
        return self.replace(equations=equations, outputs=outputs)

    def __str__(self) -> str:
        names = assign_names(self)

        def show(atom: Atom) -> str:
            return names[atom] if isinstance(atom, Var) else str(atom)

        def typed(v: Var) -> str:
            return f"{names[v]}:{v.type_str()}"

        lines = ["{ lambda " + " ".join(typed(v) for v in self.inputs) + " ."]
        for eq in self.equations:
            params = " ".join(
                f"{k}={show_param(v)}" for k, v in eq.params if not isinstance(v, Body)
            )
            op = f"{eq.op}[{params}]" if params else eq.op
            args = " ".join(show(a) for a in eq.inputs)
            lines.append(f"    {typed(eq.out)} = {op} {args}".rstrip())
            for key, value in eq.params:
                if isinstance(value, Body):  # the body unlabelled, a condition labelled
                    lines += [f"      {key}:"] if key != "body" else []
                    lines += ["        " + line for line in str(value).split("\n")]
        lines.append("  in (" + ", ".join(show(v) for v in self.outputs) + ") }")
        return "\n".join(lines)


def dependency_order(equations: Sequence[Equation]) -> list[Equation]:
    """`equations` reordered so that each comes after the equations binding its operands
    and the dims it reads (a while loop binds its length), keeping their order wherever
    that already holds (a stable topological sort)."""
    producer = {eq.out: k for k, eq in enumerate(equations)}
    binder = {bound_dim(eq): k for k, eq in enumerate(equations) if bound_dim(eq) is not None}
    waiting = [0] * len(equations)
    readers: dict[int, list[int]] = {}
    for k, eq in enumerate(equations):
        sources = {producer[v] for v in eq.vars() if v in producer}
        sources |= {binder[d] for d in _dims_read(eq) if d in binder and binder[d] != k}
        for source in sources:
            waiting[k] += 1
            readers.setdefault(source, []).append(k)
    ready = [k for k, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        k = heapq.heappop(ready)
        ordered.append(equations[k])
        for reader in readers.get(k, ()):
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, reader)
    assert len(ordered) == len(equations), "the equations depend on each other in a cycle"
    return ordered


def live_vars(equations: Iterable[Equation], targets: Iterable[Var]) -> set[Var]:
    """The vars `targets` depend on through `equations`, themselves included. A dim a
    live equation reads (in its shape, or as its length) that an equation binds when it
    runs (a while loop: the number of steps it ran) makes that equation live too."""
    live = set(targets)
    dims: set[str] = set()
    for eq in reversed(list(equations)):
        binds = bound_dim(eq)
        if eq.out in live or (binds is not None and binds in dims):
            live.add(eq.out)
            live.update(eq.vars())
            dims |= _dims_read(eq)
    return live


def _dims_read(eq: Equation) -> set[str]:
    """The dims an equation's result, its length or its cap (a loop's) are made of."""
    dims = {n for d in eq.out.shape for n in dim_names(d)}
    dims |= dim_names(eq.param("max_steps"))  # type: ignore[arg-type]
    return dims | dim_names(eq.param("length"))  # type: ignore[arg-type]


def bound_dim(eq: Equation) -> str | None:
    """The dim `eq` binds when it runs: a while loop's length (the steps it ran)."""
    length = eq.param("length")
    return length if eq.param("cond") is not None and isinstance(length, str) else None


def show_param(value: object, compact: bool = True) -> str:
    """A param as IR text: tuples as (1,0) (compact) or (1, 0); no spaces when compact."""
    if isinstance(value, tuple):
        separator = "," if compact else ", "
        return "(" + separator.join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if not compact:
        return str(value)
    return str(value).replace(" ", "")
