"""The lowered program: each statement of a graph as the back end decided to compute it,
before any text is written.

`statements.lower` makes it from the equations, `writes.check_writes` checks its memory
writes, and `statements.print_lowered` prints it. A statement is computed one of five
ways: as one expression (`h = np.tanh(x @ w + b)`), inlined into its reader (no
statement), in place (`InPlace` steps into an array that exists), in its region of the
scatter that reads it (`d_t0 = d_x[:-1]`, then steps into `d_t0`), or as a loop
(`LoweredLoop`: a `for` statement whose body is a lowered program of its own).
"""

from __future__ import annotations

from dataclasses import dataclass

from gradgen.codegen.inplace import InPlace
from gradgen.codegen.printer import Code
from gradgen.ir import Equation, Graph, Var


@dataclass(frozen=True)
class LoweredLoop:
    """A scan as a `for` loop over `counter`; every pair is (target name, value text)."""

    counter: str  # the step counter's name
    length: str  # the trip count's text
    reverse: bool  # `for t in reversed(range(T))`
    inits: list[tuple[str, str]]  # before the loop: each carry's name = its initial value
    stacks: list[tuple[str, str]]  # before the loop: each stacked result's allocation
    slices: list[tuple[str, str]]  # first in a step: each slice's name = its operand
    first: list[tuple[str, str]]  # then stores of step inputs: stack row t = name
    body: LoweredProgram  # the step's statements
    last: list[tuple[str, str]]  # after them, stores of the step's values: row t = name
    updates: list[tuple[str, str]]  # at the end of a step: each carry = its new value
    after: list[tuple[str, str]]  # after the loop: results named apart from their carry
    graph: Graph  # the step's graph as printed (its lines head the statements)


@dataclass(frozen=True)
class Lowered:
    """One statement: the equation it computes and how."""

    eq: Equation
    code: Code  # its right-hand side as one expression (operands inlined)
    in_place: InPlace | None = None  # the steps computing it in memory that exists
    region_of: Equation | None = None  # the scatter in whose first region it is computed
    # a scatter whose first region was computed there already: its other operands' code
    rest: tuple[Code, ...] | None = None
    loop: LoweredLoop | None = None  # a scan, as a `for` loop


@dataclass(frozen=True)
class LoweredProgram:
    """The statements in order, the name of every var they print, and the vars written
    inside their one reader instead."""

    statements: list[Lowered]
    names: dict[Var, str]
    inline: frozenset[Var]
