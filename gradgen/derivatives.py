"""THE rule table: how each op is differentiated, in both modes, one entry per op.

An entry has a reverse rule, `(grad, result, *operands, **params)` -> one cotangent per
operand (None: no gradient), and a forward rule, `(dots, result, *operands, **params)` ->
the result's tangent, where `dots[i]` is operand i's tangent or None when it is zero. Both
are written with the array operations users write, for one tangent (Jacobians batch them
with `gradgen.batching`). Most ops need less than that:

- `deflinear`: an op linear in its first operand. Forward mode re-applies it to the
  tangent; reverse mode needs only its transpose (JAX's `deflinear`).
- `defbilinear`: an op linear in each operand (matmul, outer, einsum). Forward mode is the
  product rule, one application per tangent; reverse mode gives one formula per operand.
- Elementwise ops have no entry: both rules are derived from their SymPy expressions.
- Ops whose row says `differentiable=False` (constant in their float operands: det_sign,
  stop_gradient, eye, the zeros and ones, one_hot) have none either.

The table checks itself at import: every op has an entry. Custom rules (`gg.custom_vjp`,
`gg.custom_jvp`) enter through `defrule` too.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy

from gradgen import functions as gg
from gradgen.graph_builder import Tracer, apply
from gradgen.ir import Atom, DimSize, Equation, Var
from gradgen.ops import OPS
from gradgen.ops.elementwise import operand_symbols
from gradgen.shapes import dim_expr, dim_from_expr
from gradgen.symbolic import (
    COTANGENT,
    RESULT,
    bind_operands,
    constant_operands,
    expression_partials,
    op_partials,
    renumber_operands,
)

ReverseRule = Callable[..., tuple[Any, ...]]
ForwardRule = Callable[..., Any]


@dataclass(frozen=True)
class Rule:
    """How one op is differentiated; None in both modes for a non-differentiable op."""

    reverse: ReverseRule | None  # (grad, result, *operands, **params) -> cotangents
    forward: ForwardRule | None  # (dots, result, *operands, **params) -> tangent


RULES: dict[str, Rule] = {}


def defrule(op_name: str, reverse: ReverseRule, forward: ForwardRule) -> None:
    """An op's two rules, given in full."""
    if op_name in RULES:
        raise ValueError(f"op {op_name!r} has two rules")
    RULES[op_name] = Rule(reverse, forward)


def deflinear(op_name: str, transpose: Callable[..., Any]) -> None:
    """An op linear in its first operand; its other operands (indices, a dtype's source)
    are constants. `transpose(grad, x, *rest, **params)` is the cotangent of x."""

    def forward(dots: tuple, result: Tracer, x: Any, *rest: Any, **params: Any) -> Any:
        return None if dots[0] is None else apply(op_name, dots[0], *rest, **params)

    def reverse(grad: Tracer, result: Tracer, x: Any, *rest: Any, **params: Any) -> tuple:
        differentiable = isinstance(x, Tracer) and not x.variable.integer
        cotangent = transpose(grad, x, *rest, **params) if differentiable else None
        return (cotangent, *(None for _ in rest))

    defrule(op_name, reverse, forward)


def defbilinear(op_name: str, reverse: ReverseRule) -> None:
    """An op linear in each operand: the tangent is the sum over the operands with a
    tangent of the op with that operand replaced by it (the product rule)."""

    def forward(dots: tuple, result: Tracer, *operands: Any, **params: Any) -> Any:
        parts = [
            apply(op_name, *operands[:i], dot, *operands[i + 1 :], **params)
            for i, dot in enumerate(dots)
            if dot is not None
        ]
        return _total_of(parts)

    defrule(op_name, reverse, forward)


_CONSTANT = Rule(None, None)


def rule_for(op_name: str) -> Rule:
    """The op's entry; an elementwise op's is derived from its SymPy expression, and an op
    its row declares non-differentiable has none in either mode."""
    op = OPS[op_name]
    if not op.differentiable:
        return _CONSTANT
    if op.elementwise:
        return _elementwise_rule(op_name)
    return RULES[op_name]


def _total_of(parts: list[Any]) -> Any:
    present = [p for p in parts if p is not None]
    if not present:
        return None
    total = present[0]
    for part in present[1:]:
        total = total + part
    return total


# -- helpers the rules share


def unbroadcast(grad: Tracer, shape: tuple[Any, ...]) -> Tracer:
    """Sum `grad` over the axes broadcasting added or stretched, back to `shape`."""
    extra = grad.ndim - len(shape)
    if extra:
        grad = gg.sum(grad, axis=tuple(range(extra)))
    stretched = tuple(i for i, d in enumerate(shape) if d == 1 and grad.shape[i] != 1)
    if stretched:
        grad = gg.sum(grad, axis=stretched, keepdims=True)
    return grad


def _restore_reduced_axes(grad: Tracer, x: Tracer, axis: Any, keepdims: Any) -> Tracer:
    """A reduction's cotangent (or result) broadcast back over the reduced axes of x."""
    axes = tuple(range(x.ndim)) if axis is None else axis
    leading = axes == tuple(range(len(axes)))  # broadcasting restores leading axes itself
    if not keepdims and not leading:
        grad = apply("expand_dims", grad, axis=axes)
    return apply("broadcast_to", grad, shape=x.shape)


def _mT(t: Tracer) -> Tracer:
    """t with its last two axes swapped (the matrix transpose of a batch)."""
    if t.ndim == 2:
        return t.T
    return gg.transpose(t, axes=(*range(t.ndim - 2), t.ndim - 1, t.ndim - 2))


def _last_two(t: Tracer) -> tuple[int, int]:
    return (t.ndim - 2, t.ndim - 1)


def _per_matrix(scale: Tracer, a: Tracer) -> Tracer:
    """A per-matrix scalar (batch shape) made to broadcast against (..., n, n)."""
    return apply("expand_dims", scale, axis=_last_two(a)) if scale.ndim else scale


def _emit_ew(builder: Any, expr: sympy.Expr, atoms: dict[sympy.Symbol, Atom]) -> Tracer:
    """Emit `expr` (over symbols bound in `atoms`) as one `ew` equation, or reuse a var when
    the expression is just that var."""
    expr = expr.xreplace({sympy.Float(1.0): sympy.S.One})  # 1.0*g is g: a view, not new
    if expr in atoms and isinstance(atoms[expr], Var):
        return Tracer(atoms[expr], builder)  # type: ignore[arg-type]
    used = [(s, a) for s, a in atoms.items() if s in expr.free_symbols]
    body, operands = renumber_operands(expr, used)
    return Tracer(builder.emit("ew", operands, {"expr": body}), builder)


# -- linear algebra


def _matmul_reverse(grad: Tracer, result: Tracer, a: Tracer, b: Tracer) -> tuple[Any, ...]:
    """derivatives.yaml's `self: grad @ mat2^T`, `mat2: self^T @ grad`; a vector is a row
    (a) or a column (b) of a matrix, and broadcast batch axes are summed away."""
    if a.ndim == 1 and b.ndim == 1:
        return grad * b, grad * a
    if a.ndim <= 2 and b.ndim <= 2:  # the shortest form of each case
        if b.ndim == 1:
            return apply("outer", grad, b), a.T @ grad
        if a.ndim == 1:
            return b @ grad, apply("outer", a, grad)
        return grad @ b.T, a.T @ grad
    a2 = a if a.ndim > 1 else apply("expand_dims", a, axis=(0,))
    b2 = b if b.ndim > 1 else apply("expand_dims", b, axis=(1,))
    g2 = grad if a.ndim > 1 else apply("expand_dims", grad, axis=(grad.ndim - 1,))
    g2 = g2 if b.ndim > 1 else apply("expand_dims", g2, axis=(g2.ndim,))
    d_a = unbroadcast(g2 @ _mT(b2), a2.shape)
    d_b = unbroadcast(_mT(a2) @ g2, b2.shape)
    d_a = d_a if a.ndim > 1 else apply("squeeze", d_a, axis=(0,))
    d_b = d_b if b.ndim > 1 else apply("squeeze", d_b, axis=(1,))
    return d_a, d_b


defbilinear("matmul", _matmul_reverse)
defbilinear("outer", lambda grad, result, a, b: (grad @ b, a @ grad))


def _einsum_reverse(grad: Tracer, result: Tracer, *operands: Tracer, subscripts: str) -> tuple:
    """Each operand's gradient is the einsum of grad with the other operands onto the
    operand's own letters; letters only it has are summed in the forward, so the gradient
    is broadcast along them."""
    inputs, output = subscripts.split("->")[0].split(","), subscripts.split("->")[1]
    grads = []
    for i, (sub, operand) in enumerate(zip(inputs, operands)):
        others = [s for j, s in enumerate(inputs) if j != i]
        available = set(output).union(*others)
        kept = "".join(c for c in sub if c in available)
        spec = ",".join([output, *others]) + "->" + kept
        rest = [o for j, o in enumerate(operands) if j != i]
        part = apply("einsum", grad, *rest, subscripts=spec)
        if kept != sub:
            missing = tuple(k for k, c in enumerate(sub) if c not in available)
            part = apply("expand_dims", part, axis=missing)
            part = apply("broadcast_to", part, shape=operand.shape)
        grads.append(part)
    return tuple(grads)


defbilinear("einsum", _einsum_reverse)
deflinear("trace", lambda grad, x: grad * apply("eye", x, n=x.shape[0]))
deflinear("tril", lambda grad, x: apply("tril", grad))

defrule(
    "inv",  # d(A^-1) = -A^-1 dA A^-1
    reverse=lambda grad, result, a: (-(_mT(result) @ grad @ _mT(result)),),
    forward=lambda dots, result, a: -(result @ dots[0] @ result),
)


def _cholesky_reverse(grad: Tracer, result: Tracer, a: Tracer) -> tuple[Any, ...]:
    """A = L L^T (A symmetric): with phi the lower triangle with its diagonal halved,
    S = L^-T phi(L^T grad) L^-1 and d_A = (S + S^T) / 2 (Murray 2016; PyTorch's form)."""
    inverse = apply("inv", result)
    lower = apply("tril", _mT(result) @ grad)
    phi = lower * (1.0 - 0.5 * apply("eye", lower, n=a.shape[-1]))
    s = _mT(inverse) @ phi @ inverse
    return (0.5 * (s + _mT(s)),)


def _cholesky_forward(dots: tuple, result: Tracer, a: Tracer) -> Any:
    """dL = L phi(L^-1 dA L^-T)."""
    inverse = apply("inv", result)
    inner = inverse @ dots[0] @ _mT(inverse)
    phi = apply("tril", inner) * (1.0 - 0.5 * apply("eye", a, n=a.shape[-1]))
    return result @ phi


defrule("cholesky", _cholesky_reverse, _cholesky_forward)


def _solve_reverse(grad: Tracer, result: Tracer, a: Tracer, b: Tracer) -> tuple[Any, ...]:
    """x = A^-1 b: d_b = A^-T grad, d_A = -d_b x^T."""
    d_b = apply("solve", _mT(a), grad)
    if b.ndim == 1:
        return -apply("outer", d_b, result), d_b
    return unbroadcast(-(d_b @ _mT(result)), a.shape), unbroadcast(d_b, b.shape)


def _solve_forward(dots: tuple, result: Tracer, a: Tracer, b: Tracer) -> Any:
    """dx = A^-1 (db - dA x)."""
    da, db = dots
    return apply("solve", a, _total_of([db, -(da @ result) if da is not None else None]))


defrule("solve", _solve_reverse, _solve_forward)

defrule(
    "det",  # d det(A) = det(A) tr(A^-1 dA): d_A = grad det(A) A^-T
    reverse=lambda grad, result, a: (_per_matrix(grad * result, a) * _mT(apply("inv", a)),),
    forward=lambda dots, result, a: result
    * gg.sum(_mT(apply("inv", a)) * dots[0], axis=_last_two(a)),
)
defrule(
    "logabsdet",  # d log|det(A)| = tr(A^-1 dA)
    reverse=lambda grad, result, a: (_per_matrix(grad, a) * _mT(apply("inv", a)),),
    forward=lambda dots, result, a: gg.sum(_mT(apply("inv", a)) * dots[0], axis=_last_two(a)),
)


# -- reductions


deflinear("sum", lambda grad, x, axis, keepdims: _restore_reduced_axes(grad, x, axis, keepdims))


def _mean_transpose(grad: Tracer, x: Tracer, axis: Any, keepdims: Any) -> Tracer:
    """grad / count, broadcast back; the count is a number times named dims' sizes."""
    axes = tuple(range(x.ndim)) if axis is None else axis
    count = math.prod(x.shape[i] for i in axes if isinstance(x.shape[i], int))
    names = [DimSize(d) for i, d in enumerate(x.shape) if i in axes and isinstance(d, str)]
    scale = _emit_ew(
        grad.builder,
        COTANGENT / (count * sympy.Mul(*operand_symbols(len(names)))),
        {COTANGENT: grad.variable, **dict(zip(operand_symbols(len(names)), names))},
    )
    return _restore_reduced_axes(scale, x, axis, keepdims)


deflinear("mean", _mean_transpose)


def _product_of_others(x: Tracer, axis: Any) -> Tracer:
    """For each element of x, the product of the other elements along `axis`: P / x_i where
    there is no zero; at a zero, the product of the rest when it is the only zero; else 0.
    No division by zero happens."""
    is_zero = x == 0
    nonzero = gg.where(is_zero, 1.0, x)
    rest = gg.prod(nonzero, axis=axis, keepdims=True)  # the product without the zeros
    zeros = gg.sum(is_zero, axis=axis, keepdims=True)
    return gg.where(
        is_zero, gg.where(zeros == 1, rest, 0.0), gg.where(zeros == 0, rest / nonzero, 0.0)
    )


defrule(
    "prod",  # d prod / d x_i = the product of the other elements, also at zeros
    reverse=lambda grad, result, x, axis, keepdims: (
        _restore_reduced_axes(grad, x, axis, keepdims) * _product_of_others(x, axis),
    ),
    forward=lambda dots, result, x, axis, keepdims: gg.sum(
        _product_of_others(x, axis) * dots[0], axis=axis, keepdims=keepdims
    ),
)


def _tie_share(result: Tracer, x: Tracer, axis: Any, keepdims: Any) -> Tracer:
    """1 / (number of ties) where x equals the extreme, else 0, as a float of x's dtype."""
    hits = x == _restore_reduced_axes(result, x, axis, keepdims)
    ties = apply("cast_like", gg.sum(hits, axis=axis, keepdims=True), x)  # float32 stays
    return apply("cast_like", hits, x) / ties  # a float mask: no int64 when differentiated


for _extreme in ("max", "min"):
    # NOTE: ties share the gradient evenly, as PyTorch's max/min reductions do.
    defrule(
        _extreme,
        reverse=lambda grad, result, x, axis, keepdims: (
            _restore_reduced_axes(grad, x, axis, keepdims) * _tie_share(result, x, axis, keepdims),
        ),
        forward=lambda dots, result, x, axis, keepdims: gg.sum(
            _tie_share(result, x, axis, keepdims) * dots[0], axis=axis, keepdims=keepdims
        ),
    )


# -- shape ops (all linear)


def _inverse_permutation(axes: Any) -> tuple[int, ...]:
    return tuple(sorted(range(len(axes)), key=lambda i: axes[i]))


deflinear("transpose", lambda grad, x, axes: gg.transpose(grad, axes=_inverse_permutation(axes)))
deflinear("broadcast_to", lambda grad, x, shape: unbroadcast(grad, x.shape))
deflinear("expand_dims", lambda grad, x, axis: apply("squeeze", grad, axis=axis))
deflinear("squeeze", lambda grad, x, axis: apply("expand_dims", grad, axis=axis))
deflinear("reshape", lambda grad, x, shape: apply("reshape", grad, shape=x.shape))
deflinear("copy", lambda grad, x: grad)
deflinear("cast_like", lambda grad, a, like: apply("cast_like", grad, a))


def _concatenate_reverse(grad: Tracer, result: Tracer, *parts: Tracer, axis: Any) -> tuple:
    """Each part gets its own stretch of grad along `axis`."""
    pieces = []
    start = sympy.Integer(0)
    for part in parts:
        stop = start + dim_expr(part.shape[axis])
        bounds = ("slice", dim_from_expr(start) or None, dim_from_expr(stop), None)
        index = tuple(("slice", None, None, None) for _ in range(axis)) + (bounds,)
        index += tuple(("slice", None, None, None) for _ in range(grad.ndim - axis - 1))
        pieces.append(apply("getitem", grad, index=index))
        start = stop
    return tuple(pieces)


def _concatenate_forward(dots: tuple, result: Tracer, *parts: Tracer, axis: Any) -> Any:
    """Linear in every part: zeros stand in for the parts without a tangent."""
    pieces = [d if d is not None else apply("zeros_like", p) for p, d in zip(parts, dots)]
    return apply("concatenate", *pieces, axis=axis)


defrule("concatenate", _concatenate_reverse, _concatenate_forward)


# -- indexing (linear; integer indices get no gradient)


def _getitem_transpose(grad: Tracer, x: Tracer, index: Any) -> Tracer:
    full = ("slice", None, None, None)
    if all(entry in (full, ("new",)) for entry in index):  # x[None, :]: only new axes
        return apply("squeeze", grad, axis=tuple(i for i, e in enumerate(index) if e[0] == "new"))
    return apply("scatter", grad, index=index, shape=x.shape)


deflinear("getitem", _getitem_transpose)
deflinear("scatter", lambda grad, values, index, shape: apply("getitem", grad, index=index))
# NOTE: repeated indices add up their gradients (np.add.at).
deflinear(
    "take",
    lambda grad, x, indices, axis: apply("take_add", grad, indices, axis=axis, shape=x.shape),
)
deflinear(
    "take_add", lambda grad, values, indices, axis, shape: apply("take", grad, indices, axis=axis)
)
deflinear(
    "take_along_axis",
    lambda grad, x, indices, axis: apply("along_axis_add", grad, indices, axis=axis, shape=x.shape),
)
deflinear(
    "along_axis_add",
    lambda grad, values, indices, axis, shape: apply("take_along_axis", grad, indices, axis=axis),
)


def _scatter_sum_forward(dots: tuple, result: Tracer, *values: Tracer, indices: Any, shape: Any):
    """Linear in every value: the values without a tangent add nothing."""
    present = [(d, i) for d, i in zip(dots, indices) if d is not None]
    return apply(
        "scatter_sum", *(d for d, _ in present), indices=tuple(i for _, i in present), shape=shape
    )


defrule(
    "scatter_sum",
    reverse=lambda grad, result, *values, indices, shape: tuple(
        apply("getitem", grad, index=index) for index in indices
    ),
    forward=_scatter_sum_forward,
)


# -- elementwise ops: both rules from the op's SymPy expression


@functools.cache
def _elementwise_rule(op_name: str) -> Rule:
    def reverse(grad: Tracer, result: Tracer, *operands: Any, **params: Any) -> tuple:
        return tuple(_elementwise_reverse(op_name, grad, result, operands, params))

    def forward(dots: tuple, result: Tracer, *operands: Any, **params: Any) -> Any:
        return _elementwise_forward(op_name, dots, result, operands, params)

    return Rule(reverse, forward)


def _as_equation(op_name: str, result: Tracer, operands: tuple, params: dict) -> Equation:
    inputs = tuple(o.variable if isinstance(o, Tracer) else o for o in operands)
    return Equation(op_name, inputs, result.variable, tuple(sorted(params.items())))


def _partials(eq: Equation) -> list[Any]:
    """d op / d a_i for each operand slot (None for a literal number)."""
    numbers, _ = bind_operands(eq.inputs)
    if eq.op == "ew":
        expr = eq.param("expr").xreplace(numbers)
        symbols = operand_symbols(len(eq.inputs))
        partials = expression_partials(expr, len(eq.inputs))
        return [None if s in numbers else p for s, p in zip(symbols, partials)]
    return list(op_partials(eq.op, constant_operands(eq)))


def _elementwise_reverse(
    op_name: str, grad: Tracer, result: Tracer, operands: tuple, params: dict
) -> list[Tracer | None]:
    """grad * d op / d a_i for each float operand, summed back to the operand's shape."""
    eq = _as_equation(op_name, result, operands, params)
    _, others = bind_operands(eq.inputs)
    partials = _partials(eq)
    atoms: dict[sympy.Symbol, Atom] = {COTANGENT: grad.variable, RESULT: eq.out}
    atoms.update(others)
    # A value in several operand slots (x * x) gets one contribution: the partials' sum.
    first: dict[Var, int] = {}
    for slot, (atom, partial) in enumerate(zip(eq.inputs, partials)):
        if isinstance(atom, Var) and partial is not None:
            if atom in first:
                partials[first[atom]] = partials[first[atom]] + partial
                partials[slot] = None
            else:
                first[atom] = slot
    grads: list[Tracer | None] = []
    for atom, partial in zip(eq.inputs, partials):
        if not isinstance(atom, Var) or atom.integer or partial is None or partial == 0:
            grads.append(None)
            continue
        # grad * where(c, p, q) as where(c, grad * p, grad * q): the branches then have
        # grad's dtype (np.where of Python numbers alone would be float64).
        contribution = _emit_ew(grad.builder, sympy.piecewise_fold(COTANGENT * partial), atoms)
        grads.append(unbroadcast(contribution, atom.shape))
    return grads


def _elementwise_forward(
    op_name: str, dots: tuple, result: Tracer, operands: tuple, params: dict
) -> Tracer | None:
    """sum_i d op / d a_i * (tangent of a_i), as one elementwise expression."""
    eq = _as_equation(op_name, result, operands, params)
    numbers, others = bind_operands(eq.inputs)
    symbols = operand_symbols(len(eq.inputs))
    atoms: dict[sympy.Symbol, Atom] = {RESULT: eq.out}
    atoms.update(others)
    total = sympy.Integer(0)
    for i, (dot, partial) in enumerate(zip(dots, _partials(eq))):
        if dot is None or partial is None or symbols[i] in numbers:
            continue
        tangent = sympy.Symbol(f"dot{i}", real=True)
        atoms[tangent] = dot.variable
        total = total + partial * tangent
    # 1.0 * dot prints as dot (x * 1.0): then it is that var, which aliasing must see.
    total = sympy.piecewise_fold(total).xreplace({sympy.Float(1.0): sympy.S.One})
    if total == 0:
        return None
    tangent = _emit_ew(result.builder, total, atoms)
    # Made only of operands smaller than the output (a + b with b's tangent alone), the
    # tangent is broadcast to the output's shape, as the output itself is.
    if tuple(tangent.shape) != tuple(eq.out.shape):
        tangent = apply("broadcast_to", tangent, shape=eq.out.shape)
    return tangent


def check_table() -> None:
    """Every op has an entry (elementwise ops derive theirs); called at import, and again
    by modules that register ops of their own."""
    for name, op in OPS.items():
        structural = op.elementwise or op.multiple_results  # rules of their own
        if op.differentiable and not structural and name not in RULES:
            raise RuntimeError(f"op {name!r} has no rule in gradgen.derivatives")
        if not op.differentiable and name in RULES:
            raise RuntimeError(f"op {name!r} is not differentiable but has a rule")


check_table()
