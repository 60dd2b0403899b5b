"""The SymPy bridge: derivatives of elementwise expressions, derived once and cached.

An elementwise op is a SymPy expression in its operand symbols a0, a1, ...; its partial
derivatives are written, where that is cheaper, in terms of the op's own result `r` so the
backward pass reuses saved forward values (tanh' = 1 - r**2, sigmoid' = r*(1 - r)).
"""

from __future__ import annotations

import functools
from dataclasses import replace

import sympy

from gradgen.ir import Atom, Equation, Lit
from gradgen.ops import OPS
from gradgen.ops.elementwise import operand_symbols

RESULT = sympy.Symbol("r", real=True)  # stands for the op's own output in a derivative
COTANGENT = sympy.Symbol("g", real=True)  # stands for the incoming gradient


def literal(value: int | float) -> sympy.Expr:
    """A Python number as a SymPy number that prints back exactly."""
    return sympy.Integer(value) if isinstance(value, int) else sympy.Float(value, precision=53)


def bind_operands(
    inputs: tuple[Atom, ...],
) -> tuple[dict[sympy.Symbol, sympy.Expr], list[tuple[sympy.Symbol, Atom]]]:
    """Split an elementwise equation's inputs into literal numbers, substituted for their
    operand symbols, and the other atoms paired with theirs."""
    symbols = operand_symbols(len(inputs))
    numbers = {s: literal(a.value) for s, a in zip(symbols, inputs) if isinstance(a, Lit)}
    others = [(s, a) for s, a in zip(symbols, inputs) if not isinstance(a, Lit)]
    return numbers, others


@functools.cache
def op_expression(op_name: str) -> sympy.Expr:
    """The named elementwise op applied to its operand symbols."""
    op = OPS[op_name]
    assert op.expr is not None, f"{op_name} is not a named elementwise op"
    return op.expr(*operand_symbols(op.arity))


def constant_operands(eq: Equation) -> tuple[tuple[int, str, int | float], ...]:
    """The literal operands of an elementwise equation as (index, type name, value): the
    type name keeps 2 and 2.0 apart in caches (they are equal as Python keys)."""
    return tuple(
        (i, type(a.value).__name__, a.value) for i, a in enumerate(eq.inputs) if isinstance(a, Lit)
    )


@functools.cache
def op_partials(
    op_name: str, constants: tuple[tuple[int, str, int | float], ...] = ()
) -> tuple[sympy.Expr | None, ...]:
    """d op / d a_i for each operand, in terms of the operands and `RESULT`, with the
    operands listed in `constants` (see `constant_operands`) fixed to those numbers first
    (so x**2 differentiates to 2*x, not to the general b*x**b/x); None for a constant
    operand."""
    op = OPS[op_name]
    symbols = operand_symbols(op.arity)
    fixed = {symbols[i]: literal(value) for i, _, value in constants}
    expr = op_expression(op_name).xreplace(fixed)
    identities = op.result_identities(*symbols, RESULT) if op.result_identities else {}
    if op.partials is not None:
        given = op.partials(*symbols, RESULT)
        return tuple(None if s in fixed else p.xreplace(fixed) for s, p in zip(symbols, given))
    return tuple(None if s in fixed else _partial(expr, s, identities) for s in symbols)


@functools.cache
def expression_partials(expr: sympy.Expr, arity: int) -> tuple[sympy.Expr, ...]:
    """d expr / d a_i for a compiler-made (`ew`) expression of `arity` operands."""
    return tuple(_partial(expr, s, {}) for s in operand_symbols(arity))


def _partial(
    expr: sympy.Expr, symbol: sympy.Symbol, identities: dict[sympy.Expr, sympy.Expr]
) -> sympy.Expr:
    # Subgradients at kinks come from the functions themselves: Relu and Clip say theirs in
    # fdiff; Max and Min differentiate to SymPy's Heaviside, 1/2 at a tie.
    derivative = sympy.diff(expr, symbol)
    # NOTE: a step's derivative (sign'(x)) is 0 everywhere, as in PyTorch; SymPy leaves
    # d sign(u) unevaluated when u may be complex to it (log(a) of a real a).
    derivative = derivative.replace(
        lambda e: isinstance(e, sympy.DiracDelta)
        or isinstance(e, sympy.Derivative)
        and isinstance(e.expr, (sympy.sign, sympy.Heaviside)),
        lambda e: 0,
    )
    candidates = [derivative] + _simplified(derivative)
    in_result = derivative.subs(expr, RESULT).subs(identities)
    if in_result != derivative:
        candidates += [in_result] + _simplified(in_result)
    # A rewrite may not divide by something the plain derivative does not divide by
    # (2*e written as 2*r/e would be nan at e = 0).
    allowed = _divisors(derivative) | {RESULT}
    return min((c for c in candidates if _divisors(c) <= allowed), key=_cost)


_SIMPLIFY_AT_MOST = 40  # operations; sympy.simplify's time grows steeply beyond


def _simplified(expr: sympy.Expr) -> list[sympy.Expr]:
    """`sympy.simplify(expr)` as a candidate, when that is bounded: only for a small
    expression with no Piecewise (simplify's piecewise and trig rewrites together ran
    for minutes on a 55-operation huber loss of an arctan2, fuzz seed 44822)."""
    if expr.has(sympy.Piecewise) or sympy.count_ops(expr) > _SIMPLIFY_AT_MOST:
        return []
    return [sympy.simplify(expr)]


def _divisors(expr: sympy.Expr) -> set[sympy.Symbol]:
    return set(sympy.denom(sympy.together(expr)).free_symbols)


def _cost(expr: sympy.Expr) -> tuple[int, int]:
    """Transcendental calls first (they dominate run time), then arithmetic ops; a
    piecewise form (np.select) costs most, being slow and hard to read."""
    calls = sum(
        10 if isinstance(e, sympy.Piecewise) else 1
        for e in sympy.preorder_traversal(expr)
        if isinstance(e, sympy.Function)
    )
    return calls, int(sympy.count_ops(expr))


def renumber_operands(
    expr: sympy.Expr, operands: list[tuple[sympy.Symbol, Atom]]
) -> tuple[sympy.Expr, list[Atom]]:
    """Give each distinct atom one operand symbol a0, a1, ... in order of first use, even
    when several symbols of `expr` stand for it; returns (expression, atoms)."""
    atoms: list[Atom] = []
    for _, atom in operands:
        if atom not in atoms:
            atoms.append(atom)
    targets = operand_symbols(len(atoms))
    renaming = {symbol: targets[atoms.index(atom)] for symbol, atom in operands}
    return expr.xreplace(renaming), atoms  # xreplace is simultaneous: no clashes


def elementwise_expression(eq: Equation) -> tuple[sympy.Expr, list[Atom]]:
    """An elementwise equation as (expression over a0, a1, ..., its distinct non-literal
    inputs in order), literals written into the expression."""
    expr = eq.param("expr") if eq.op == "ew" else op_expression(eq.op)
    numbers, operands = bind_operands(eq.inputs)
    return renumber_operands(expr.xreplace(numbers), operands)


def operand_occurrences(eq: Equation, atom: Atom) -> int:
    """How many times an elementwise equation's expression reads `atom` (x*(1 - x**2)
    reads x twice: writing a computation in place of x would compute it twice)."""
    expr, atoms = elementwise_expression(eq)
    if atom not in atoms:
        return 0
    symbol = operand_symbols(len(atoms))[atoms.index(atom)]
    return sum(1 for node in sympy.preorder_traversal(expr) if node == symbol)


def fuse(producer: Equation, consumer: Equation) -> Equation:
    """`consumer` with `producer` substituted into it, as one `ew` equation."""
    inner, inner_atoms = elementwise_expression(producer)
    outer, outer_atoms = elementwise_expression(consumer)
    n_outer = len(outer_atoms)
    shifted = dict(
        zip(
            operand_symbols(len(inner_atoms)),
            (sympy.Symbol(f"_i{i}", real=True) for i in range(len(inner_atoms))),
        )
    )
    inner = inner.xreplace(shifted)
    operands: list[tuple[sympy.Symbol, Atom]] = []
    for symbol, atom in zip(operand_symbols(n_outer), outer_atoms):
        if atom is producer.out:
            outer = outer.xreplace({symbol: inner})
        else:
            operands.append((symbol, atom))
    operands += [(sympy.Symbol(f"_i{i}", real=True), a) for i, a in enumerate(inner_atoms)]
    expr, atoms = renumber_operands(outer, operands)
    return replace(
        consumer,
        op="ew",
        inputs=tuple(atoms),
        params=(("expr", expr),),
        origin=consumer.origin,  # a sum of gradient parts (origin None) stays one
    )
