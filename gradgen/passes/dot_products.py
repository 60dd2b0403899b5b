"""Full sums of products of vectors become dot products.

`sum(100.0*t1**2 + t2**2)` makes four temporaries and five passes over memory;
`100.0*(t1 @ t1) + t2 @ t2` makes none and reads each vector once per product, through
BLAS. A full `sum` (or `mean`) of a vector is split over its terms (it is linear), through
the additions, subtractions, negations and products that compute it and that nothing else
reads; each term's scalar factors (numbers, 0-d values) move out, and a term that is the
product of two vectors of the summed shape becomes their `matmul`, one that is a single
vector its `sum`. The rewrite happens only when every term has one of those two forms and
at least one is a product, so the new equations (the dots and sums, and one `ew`
combining them into the original result) always compute the same value with fewer
passes. A term that broadcasts (a (1,) vector beside an (N,) one) would be summed once
instead of N times: it stops the rewrite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy

from gradgen.ir import Atom, DimSize, Equation, Graph, Lit, Var, fresh_var
from gradgen.naming import is_named
from gradgen.ops import OPS
from gradgen.ops.elementwise import operand_symbols
from gradgen.passes import dce
from gradgen.shapes import Shape
from gradgen.symbolic import elementwise_expression

# Ops whose value a term may be expanded through: sums and products of their operands.
_LINEAR = frozenset({"add", "sub", "neg"})
_PRODUCT = frozenset({"mul", "neg"})


# The producer of a vector the rewrite may look through, or None.
Expandable = Callable[[Atom], Equation | None]


@dataclass
class _Term:
    """coefficient * scalars * product(vectors): one term of the summed vector."""

    coefficient: sympy.Expr = sympy.S.One  # a number
    scalars: list[Atom] = field(default_factory=list)  # 0-d values and dims multiplied in
    vectors: list[Var] = field(default_factory=list)  # full-size factors


def run(graph: Graph) -> Graph:
    uses = graph.use_counts()
    producers = {eq.out: eq for eq in graph.equations}
    outputs = set(graph.outputs)

    def expandable(atom: Atom) -> Equation | None:
        """The producer of a vector only this sum reads and nobody knows by name."""
        if not isinstance(atom, Var) or atom.integer or atom not in producers:
            return None
        if uses.get(atom) != 1 or atom in outputs or is_named(atom, graph.hints):
            return None
        return producers[atom]

    equations: list[Equation] = []
    changed = False
    for eq in graph.equations:
        rewritten = _rewrite(eq, expandable)
        if rewritten is None:
            equations.append(eq)
        else:
            equations += rewritten
            changed = True
    if not changed:
        return graph
    return dce.run(graph.replace(equations=tuple(equations)))


def _rewrite(eq: Equation, expandable: Expandable) -> list[Equation] | None:
    """The equations computing `eq` (a full sum or mean of a vector) as dot products, or
    None when it is not one or has no product term."""
    vector = eq.inputs[0] if eq.inputs else None
    if (
        eq.op not in ("sum", "mean")
        or not isinstance(vector, Var)
        or vector.ndim != 1
        or vector.integer
        or eq.param("keepdims")
    ):
        return None
    count = vector.shape[0]
    if eq.op == "mean" and not (isinstance(count, int) or str(count).isidentifier()):
        return None  # a derived size (N - 1): no atom to divide by
    terms = _terms(vector, _Term(), vector.shape, expandable, depth=0)
    if terms is None or not any(len(t.vectors) == 2 for t in terms):
        return None
    if any(len(t.vectors) not in (1, 2) for t in terms):
        return None
    parts: list[Equation] = []
    operands: list[Atom] = []
    pieces: list[sympy.Expr] = []
    symbols = operand_symbols(len(terms) + sum(len(t.scalars) for t in terms) + 1)
    for term in terms:
        out = fresh_var(())
        op = "matmul" if len(term.vectors) == 2 else "sum"
        params = () if op == "matmul" else (("axis", None), ("keepdims", False))
        parts.append(Equation(op, tuple(term.vectors), out, params, eq.source, eq.origin))
        factor = symbols[len(operands)]
        operands.append(out)
        for scalar in term.scalars:
            factor = factor * symbols[len(operands)]
            operands.append(scalar)
        pieces.append(term.coefficient * factor)
    # Unevaluated, so the terms print in the user's order.
    total = sympy.Add(*pieces, evaluate=False) if len(pieces) > 1 else pieces[0]
    if eq.op == "mean":
        total = total / symbols[len(operands)]
        operands.append(Lit(count) if isinstance(count, int) else DimSize(str(count)))
    combine = Equation("ew", tuple(operands), eq.out, (("expr", total),), eq.source, eq.origin)
    return parts + [combine]


def _terms(
    atom: Var, scale: _Term, shape: Shape, expandable: Expandable, depth: int
) -> list[_Term]:
    """The terms of `scale` times the vector `atom` (of the summed `shape`): expanded
    through the sums and products only this sum reads when every term then is a product
    of at most two whole vectors and scalars, else `atom` as one factor."""
    whole = [_Term(scale.coefficient, list(scale.scalars), [*scale.vectors, atom])]
    producer = expandable(atom) if depth < 8 else None
    if producer is None or not OPS[producer.op].elementwise or producer.out.shape != shape:
        return whole
    expr, atoms = elementwise_expression(producer)
    if producer.op not in _LINEAR | _PRODUCT | {"ew"} and not _is_square(expr):
        return whole
    if any(isinstance(node, sympy.Function) for node in sympy.preorder_traversal(expr)):
        return whole
    if len(sympy.Add.make_args(expr)) > 1 and scale.vectors:
        return whole  # (a + b) * c would be two products for one
    expanded = _expand(expr, atoms, scale, shape, expandable, depth)
    if expanded is None or any(not 1 <= len(t.vectors) <= 2 for t in expanded):
        return whole
    return expanded


def _expand(
    expr: sympy.Expr,
    atoms: list[Atom],
    scale: _Term,
    shape: Shape,
    expandable: Expandable,
    depth: int,
) -> list[_Term] | None:
    """`scale` times the elementwise `expr` over `atoms`, term by term; None when a
    factor is not a whole operand (a quotient, a sub-expression), or broadcasts."""
    symbols = operand_symbols(len(atoms))
    found: list[_Term] = []
    for term in sympy.Add.make_args(expr):
        current = [_Term(scale.coefficient, list(scale.scalars), list(scale.vectors))]
        for factor, power in _factors(term):
            if factor.is_Number:
                for t in current:
                    t.coefficient *= factor**power
                continue
            if factor not in symbols or power not in (1, 2):
                return None
            operand = atoms[symbols.index(factor)]
            if isinstance(operand, DimSize) or (isinstance(operand, Var) and operand.ndim == 0):
                for t in current:
                    t.scalars += [operand] * power
                continue
            if not isinstance(operand, Var) or operand.shape != shape or operand.integer:
                return None  # it broadcasts, or is a mask
            if power == 2:
                for t in current:
                    t.vectors += [operand, operand]
                continue
            current = [
                inner for t in current for inner in _terms(operand, t, shape, expandable, depth + 1)
            ]
        found += current
    return found


def _is_square(expr: sympy.Expr) -> bool:
    return isinstance(expr, sympy.Pow) and expr.exp == 2


def _factors(term: sympy.Expr) -> list[tuple[sympy.Expr, int]]:
    """A product's factors with their powers (-x is -1 and x)."""
    factors: list[tuple[sympy.Expr, int]] = []
    for factor in sympy.Mul.make_args(term):
        if isinstance(factor, sympy.Pow) and factor.exp.is_Integer and factor.exp > 0:
            factors.append((factor.base, int(factor.exp)))
        else:
            factors.append((factor, 1))
    return factors
