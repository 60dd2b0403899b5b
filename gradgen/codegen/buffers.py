"""Which arrays a statement may overwrite: the memory plan behind in-place code.

A statement's elementwise result may be computed in the memory of one of its operands (with
`out=` and `+=`, see `inplace.py`) when that operand is a buffer the function allocated
itself and nobody needs any more: the result of an elementwise expression or a matmul (not
a view, not an argument, not a value the function returns or saves), float data, read
once by this statement and by nothing after it, through no view either.

- A temporary nothing else reads takes the name of the statement's result (`h = x @ w`,
  then `np.tanh(h, out=h)`).
- A dead buffer read before is taken by the first step, which binds the result's name
  (`d_z = np.negative(t0, out=t0)`); its own name is not read again. Temporaries come
  first; a value the user named (or its gradient) is taken only after its last read,
  and only when that does more in place: `t1 = np.square(hidden, out=hidden)`, as
  careful NumPy reuses `h` (else one more array of the hidden layer's size is alive at
  the peak).

- An elementwise temporary whose one reader is a scatter that writes it into a region of
  a new array of zeros (`d_x[:-1] = d_t0`, the gradient of a slice) is computed in that
  region instead (`d_t0 = d_x[:-1]`, then `np.multiply(t0, d_t1, out=d_t0)`): no copy, and
  no array of its own.

No line passes a buffer on to another name alone, and no name is read while it holds
another value than its own. The caller's arrays and, in a backward function, the saved
arrays are never written.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from gradgen.aliasing import memory_of, view_source
from gradgen.ir import Equation, Var
from gradgen.naming import NameHint, is_named
from gradgen.ops import OPS
from gradgen.ops.registry import FRESH


@dataclass(frozen=True)
class BufferPlan:
    """For each statement, the operands whose memory it may take, temporaries first. A
    first one in `renamed` is the one it is computed in, under the name of the
    statement's result (`h = x @ w`, then `np.tanh(h, out=h)`); else any of them may be
    taken by the first step (`d_z = np.negative(t0, out=t0)`), whichever does most in
    place. Bare temporaries among the rest are spares, in which an operand's own
    sub-expression may be computed under their own name (`t4 *= t0`). An
    inlined matmul among them is printed as its own statement (`materialize`), so that its
    memory has a name."""

    reusable: dict[Equation, tuple[Var, ...]]  # statement -> dead buffers it may take
    renamed: frozenset[Var]  # buffers printed under their reader's name (each one's first)
    materialize: frozenset[Var]  # inlined vars that become statements (`h = x @ w`)
    # elementwise temporaries -> the scatter whose first region they are computed in
    destinations: dict[Var, Equation]

    def without(self, buffers: Collection[Var]) -> BufferPlan:
        """The plan with `buffers` neither renamed, printed as statements nor taken: the
        statement that was to be computed in them has no in-place form."""
        reusable = {}
        for eq, candidates in self.reusable.items():
            kept = tuple(v for v in candidates if v not in buffers)
            if kept:
                reusable[eq] = kept
        gone = frozenset(buffers)
        return BufferPlan(reusable, self.renamed - gone, self.materialize - gone, self.destinations)


def plan_buffers(
    equations: Sequence[Equation],
    inline: set[Var],
    keep: Iterable[Var],
    hints: Mapping[Var, NameHint],
) -> BufferPlan:
    """The buffers each elementwise statement of `equations` may write into; `inline` are
    the vars printed inside their reader, `keep` those that must survive the function,
    `hints` tell temporaries (no hint) from named values."""
    producers = {eq.out: eq for eq in equations}
    readers: dict[Var, list[Equation]] = {}
    for eq in equations:
        for v in eq.vars():
            readers.setdefault(v, []).append(eq)

    # The statement each equation is printed in: its own, or (inlined) its reader's.
    statement: dict[Equation, Equation] = {}
    for eq in reversed(equations):
        if eq.out in inline and readers.get(eq.out):
            statement[eq] = statement[readers[eq.out][0]]
        else:
            statement[eq] = eq
    position = {eq: k for k, eq in enumerate(equations)}

    last_read: dict[Var, int] = {}  # buffer -> position of the last statement reading it
    # (buffer, statement) -> times its memory is read there, through any view of it
    reads_at: dict[tuple[Var, Equation], int] = {}
    pinned = {memory_of(v, producers) for v in keep}
    for eq in equations:
        s = statement[eq]
        for v in eq.vars():
            base = memory_of(v, producers)
            last_read[base] = max(last_read.get(base, -1), position[s])
            reads_at[base, s] = reads_at.get((base, s), 0) + 1

    def owned(v: Var) -> bool:
        eq = producers.get(v)
        if (
            eq is None
            or v.integer
            or v.ndim == 0
            or v in pinned
            or memory_of(v, producers) is not v
        ):
            return False
        return OPS[eq.op].memory == FRESH and view_source(eq) is None  # a bare operand aliases

    reusable: dict[Equation, tuple[Var, ...]] = {}
    renamed: set[Var] = set()
    materialize: set[Var] = set()
    for eq in equations:
        if statement[eq] is not eq or not OPS[eq.op].elementwise or eq.out.integer:
            continue
        candidates = [
            v
            for v in _leaves(eq, producers, inline)
            if owned(v)
            and v.shape == eq.out.shape
            and reads_at.get((v, eq)) == 1
            and last_read[v] == position[eq]
        ]
        statements = [v for v in candidates if v not in inline]
        # A temporary read by this statement alone is computed under the result's name;
        # else the first step takes a dead buffer (`d_z = np.negative(t0, out=t0)`): a
        # temporary, else a value the code names, whose name is not read again
        # (`t1 = np.square(hidden, out=hidden)`, as careful NumPy reuses `h`). Other
        # temporaries are spares, holding sub-expressions under their own names.
        temporaries = [v for v in statements if not is_named(v, hints)]
        alone = [v for v in temporaries if len(readers[v]) == 1][:1]
        if alone:  # `t0 = x @ w; h = np.tanh(t0)`: `h = x @ w`, then in place
            renamed.add(alone[0])
        if statements:  # temporaries first: a named value is taken only for a gain
            rest = [v for v in temporaries + statements if v not in alone]
            reusable[eq] = tuple(alone + list(dict.fromkeys(rest)))
        elif candidates:  # an inlined matmul (`x @ w + b`): printed first, then added to
            reusable[eq] = (candidates[0],)
            renamed.add(candidates[0])
            materialize.add(candidates[0])
    destinations = {
        eq.inputs[0]: eq
        for eq in equations
        if eq.op in ("scatter", "scatter_sum") and _computable_in_region(eq, producers, readers)
    }
    for v in list(destinations):
        if isinstance(hints.get(v), str) or v in pinned or v in inline:
            del destinations[v]  # a user's value keeps its name whole; a kept one its memory
        elif reusable.get(producers[v], (None,))[0] in renamed:
            del destinations[v]  # computed under its own name in a buffer already
    return BufferPlan(reusable, frozenset(renamed), frozenset(materialize), destinations)


def _computable_in_region(
    scatter: Equation, producers: dict[Var, Equation], readers: dict[Var, list[Equation]]
) -> bool:
    """Whether the first operand of `scatter` may be computed in its region of the
    scatter's output: an elementwise float array statement that nothing else reads."""
    v = scatter.inputs[0]
    if not isinstance(v, Var) or v.integer or v.ndim == 0 or scatter.out.integer:
        return False
    producer = producers.get(v)
    return (
        producer is not None
        and OPS[producer.op].elementwise
        and readers.get(v) == [scatter]
        and scatter.inputs.count(v) == 1
    )


def _leaves(eq: Equation, producers: dict[Var, Equation], inline: set[Var]) -> list[Var]:
    """The vars an elementwise statement's printed expression reads by name: its operands,
    through the inlined elementwise values nested in it (an inlined matmul is a leaf)."""
    leaves: list[Var] = []
    for v in eq.vars():
        producer = producers.get(v)
        if v in inline and producer is not None and OPS[producer.op].elementwise:
            leaves += _leaves(producer, producers, inline)
        elif v not in leaves:
            leaves.append(v)
    return leaves
