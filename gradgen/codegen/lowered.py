"""The lowered program: each statement of a straight-line graph as the back end decided
to compute it, before any text is written.

`statements.lower` makes it from the equations, `writes.check_writes` checks its memory
writes, and `statements.print_lowered` prints it. A statement is computed one of four
ways: as one expression (`h = np.tanh(x @ w + b)`), inlined into its reader (no
statement), in place (`InPlace` steps into an array that exists), or in its region of the
scatter that reads it (`d_t0 = d_x[:-1]`, then steps into `d_t0`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gradgen.codegen.inplace import InPlace
from gradgen.codegen.printer import Code
from gradgen.ir import Equation, Var


@dataclass(frozen=True)
class Lowered:
    """One statement: the equation it computes and how."""

    eq: Equation
    code: Code  # its right-hand side as one expression (operands inlined)
    in_place: InPlace | None = None  # the steps computing it in memory that exists
    region_of: Equation | None = None  # the scatter in whose first region it is computed
    # a scatter whose first region was computed there already: its other operands' code
    rest: tuple[Code, ...] | None = None


@dataclass(frozen=True)
class LoweredProgram:
    """The statements in order, the name of every var they print, and the vars written
    inside their one reader instead."""

    statements: list[Lowered]
    names: dict[Var, str]
    inline: frozenset[Var]
