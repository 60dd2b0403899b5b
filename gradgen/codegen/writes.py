"""The memory check of a lowered program: every in-place write is into an array the
function allocated and nobody reads afterwards.

It is checked on the IR, independently of the buffer plan that chose the writes
(`buffers.py`): for each array an in-place step writes (`into`) that the statement does not
allocate itself, the var it belongs to must be

- a result of this function's own equations that is a new array (not an argument, not a
  saved value, not a view of another array, not a value another reduces to);
- float data of the statement's shape;
- not returned or saved, nor the memory of a value that is;
- read by no later statement, directly, through a value written inline, or through a view.

Nor may a statement read an array under its own result's name unless it computes in
place in that array (the name would be read while it holds another value). A violation
raises `IRError` naming the statement, as `verify` does for a pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gradgen.aliasing import memory_of, view_source
from gradgen.codegen.lowered import Lowered, LoweredProgram
from gradgen.ir import Equation, Var
from gradgen.ops import OPS
from gradgen.ops.registry import FRESH
from gradgen.verify import IRError


def check_writes(
    program: LoweredProgram, equations: Iterable[Equation], keep: Iterable[Var]
) -> None:
    """Raise IRError unless every in-place write of `program` (whose statements compute
    `equations`; `keep` must survive it) is into a dead array the function owns."""
    producers = {eq.out: eq for eq in equations}

    pinned = {memory_of(v, producers) for v in keep}
    reads = [_reads(s.eq, producers, program.inline) for s in program.statements]
    read_later: list[set[Var]] = [set() for _ in reads]
    seen: set[Var] = set()
    for k in reversed(range(len(reads))):
        read_later[k] = set(seen)
        seen |= {memory_of(v, producers) for v in reads[k]}
    for k, statement in enumerate(program.statements):
        _check_own_name(statement, reads[k], program.names)
        for var in _written(statement, reads[k], program.names):
            problem = _why_not_writable(var, statement.eq, producers, pinned, read_later[k])
            if problem is not None:
                where = program.names.get(statement.eq.out, str(statement.eq.out))
                raise IRError(f"in-place code for {where} writes {program.names[var]}: {problem}")


def _reads(eq: Equation, producers: Mapping[Var, Equation], inline: frozenset[Var]) -> set[Var]:
    """The vars statement `eq` reads, through the values written inline in it."""
    found: set[Var] = set()
    for v in eq.vars():
        found.add(v)
        if v in inline and v in producers:
            found |= _reads(producers[v], producers, inline)
    return found


def _check_own_name(statement: Lowered, reads: set[Var], names: Mapping[Var, str]) -> None:
    """A statement that reads an array under its result's name (a buffer renamed for it)
    computes in place in it: else that name is read while it holds another value
    (`h = x @ w; h = _erf(h)`)."""
    out = statement.eq.out
    if statement.in_place is not None or out not in names:
        return
    if any(v != out and names.get(v) == names[out] for v in reads):
        raise IRError(f"{names[out]} is read while it holds another value than its own")


def _written(statement: Lowered, reads: set[Var], names: Mapping[Var, str]) -> list[Var]:
    """The vars whose arrays the statement's steps write, besides one it allocates (a
    fresh start, or its region of a scatter's new array)."""
    lowered = statement.in_place
    if lowered is None:
        return []
    fresh = lowered.start is not None or statement.region_of is not None
    bound = {step.binds for step in lowered.steps if step.binds is not None}
    out = statement.eq.out
    written = []
    for name in dict.fromkeys(step.into for step in lowered.steps):
        if name == lowered.target and (fresh or name in bound):
            continue  # its own new array, or the taken buffer written by name already
        owners = [v for v in reads if v != out and names.get(v) == name]
        if len(owners) != 1:
            raise IRError(
                f"in-place code for {lowered.target} writes {name}, which is not one "
                f"array it reads ({len(owners)} are)"
            )
        written.append(owners[0])
    return written


def _why_not_writable(
    var: Var,
    eq: Equation,
    producers: Mapping[Var, Equation],
    pinned: set[Var],
    read_later: set[Var],
) -> str | None:
    producer = producers.get(var)
    if producer is None:
        return "an argument or a saved value"
    if OPS[producer.op].memory != FRESH or view_source(producer) is not None:
        return f"the result of {producer.op}, which may share another array's memory"
    if var.integer or var.shape != eq.out.shape:
        return f"of type {var.type_str()}, not {eq.out.type_str()}"
    if var in pinned:
        return "returned or saved (or a view of it is)"
    if var in read_later:
        return "read by a later statement"
    return None
