"""Shrink a failing fuzz program to a small one that still fails.

Greedy, one change at a time, each kept only when the program still fails: drop a step
(its readers read a fresh argument of its shape instead), keep one term of the result,
drop an emit kind or a differentiated argument, use float64 and 0-d arrays; arguments no
step reads go. The result is the smallest program found, as its model text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace

from .programs import Program, Value, with_inputs_removed


def _reads(program: Program, name: str) -> bool:
    pattern = re.compile(rf"\b{name}\b")
    return any(pattern.search(text) for _, text in program.steps) or bool(
        pattern.search(program.result)
    )


def _without_unused_inputs(program: Program) -> Program:
    unused = {v.name for v in program.inputs if not _reads(program, v.name)}
    if len(unused) == len(program.inputs):
        unused.discard(program.inputs[0].name)
    program = with_inputs_removed(program, unused)
    if not program.wrt:
        floats = [v.name for v in program.inputs if v.kind == "f"]
        program = replace(program, wrt=tuple(floats[:1]))
    return program


def _without_step(program: Program, k: int) -> Program:
    bound, _ = program.steps[k]
    taken = {v.name for v in program.inputs}
    fresh = Value(
        next(f"x{n}" for n in range(len(taken) + 1000) if f"x{n}" not in taken), bound.shape
    )
    pattern = re.compile(rf"\b{bound.name}\b")
    steps = tuple(
        (v, pattern.sub(fresh.name, text)) for i, (v, text) in enumerate(program.steps) if i != k
    )
    return replace(
        program,
        inputs=program.inputs + (fresh,),
        steps=steps,
        result=pattern.sub(fresh.name, program.result),
    )


def _candidates(program: Program) -> Iterator[Program]:
    for k in reversed(range(len(program.steps))):
        yield _without_step(program, k)
    terms = program.result.split(" + ")
    if len(terms) > 1:
        for term in terms:
            yield replace(program, result=term)
    for kind in program.emit[1:]:
        yield replace(program, emit=tuple(e for e in program.emit if e != kind))
    if len(program.wrt) > 1:
        for name in program.wrt:
            yield replace(program, wrt=tuple(w for w in program.wrt if w != name))
    if program.dtype != "float64":
        yield replace(program, dtype="float64")
    for name, kind in program.scalars.items():
        if kind != "array":
            yield replace(program, scalars={**program.scalars, name: "array"})


def shrink(program: Program, fails: Callable[[Program], bool], budget: int = 150) -> Program:
    """The smallest program reached from `program` by `_candidates` steps for which `fails`
    stays true, within `budget` checks."""
    program = _without_unused_inputs(program)
    changed = True
    while changed and budget > 0:
        changed = False
        for candidate in _candidates(program):
            budget -= 1
            candidate = _without_unused_inputs(candidate)
            if fails(candidate):
                program, changed = candidate, True
                break
            if budget <= 0:
                break
    return program
