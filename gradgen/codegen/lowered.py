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
    """A scan as a `for` loop (a while loop as `while`): its lines as text around the
    step's lowered programs."""

    before: list[str]  # the carries' initial values, the stacks, a while loop's counter
    head: str  # `for t in range(T):`, `while steps < 50:`
    condition: LoweredProgram | None  # a while loop's test, first in a step
    test: str | None  # the name of the test's result: `if not test: break`
    first: list[str]  # the slices, and the stores of a step's inputs (`h_steps[t] = h`)
    body: LoweredProgram  # the step's statements
    last: list[str]  # the stores of its values, the carries' updates, a counter's step
    after: list[str]  # stacking a while loop's rows; results named apart from their carry
    graph: Graph  # the step's graph as printed (its lines head the statements)
    cond_graph: Graph | None  # the test's graph as printed


@dataclass(frozen=True)
class LoweredBranch:
    """One side of a cond's `if`: its statements, then its results bound by name."""

    body: LoweredProgram
    graph: Graph  # the branch as printed (its lines head the statements)
    results: list[str]  # `name = value` lines binding the results it did not compute so


@dataclass(frozen=True)
class LoweredCond:
    """A cond as `if pred:` over its two branches."""

    pred: str
    true: LoweredBranch
    false: LoweredBranch


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
    branch: LoweredCond | None = None  # a cond, as an `if`


@dataclass(frozen=True)
class LoweredProgram:
    """The statements in order, the name of every var they print, and the vars written
    inside their one reader instead."""

    statements: list[Lowered]
    names: dict[Var, str]
    inline: frozenset[Var]
