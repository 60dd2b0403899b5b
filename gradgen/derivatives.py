"""THE table of reverse-mode rules: how the gradient of each op's inputs is made.

A rule receives `grad` (the cotangent of the op's output), `result` (the output) and the op's
inputs as traced values, and returns one cotangent per input (None where there is none);
it is written with the same array operations users write. Elementwise ops have no entry:
their rules are derived from their SymPy expressions (`elementwise_rule`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import sympy

from gradgen import functions as gg
from gradgen.ir import Atom, DimSize, Equation, Lit, Var
from gradgen.ops import OPS
from gradgen.ops.elementwise import operand_symbols
from gradgen.shapes import dim_expr, dim_from_expr
from gradgen.symbolic import (
    COTANGENT,
    RESULT,
    bind_operands,
    expression_partials,
    op_partials,
    renumber_operands,
)
from gradgen.tracing import Builder, Tracer, apply

Rule = Callable[..., tuple[Any, ...]]
REVERSE_RULES: dict[str, Rule] = {}


def reverse(op_name: str) -> Callable[[Rule], Rule]:
    def register(rule: Rule) -> Rule:
        REVERSE_RULES[op_name] = rule
        return rule

    return register


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


def _batched_matmul_rule(grad: Tracer, a: Tracer, b: Tracer) -> tuple[Any, ...]:
    """A vector operand is promoted to a matrix (a row for a, a column for b), the matrix
    rule applied, and broadcast batch axes summed away."""
    a2 = a if a.ndim > 1 else apply("expand_dims", a, axis=(0,))
    b2 = b if b.ndim > 1 else apply("expand_dims", b, axis=(1,))
    g2 = grad
    if a.ndim == 1:
        g2 = apply("expand_dims", g2, axis=(g2.ndim - 1,))
    if b.ndim == 1:
        g2 = apply("expand_dims", g2, axis=(g2.ndim,))
    d_a = unbroadcast(g2 @ _mT(b2), a2.shape)
    d_b = unbroadcast(_mT(a2) @ g2, b2.shape)
    if a.ndim == 1:
        d_a = apply("squeeze", d_a, axis=(0,))
    if b.ndim == 1:
        d_b = apply("squeeze", d_b, axis=(1,))
    return d_a, d_b


@reverse("matmul")
def matmul_rule(grad: Tracer, result: Tracer, a: Tracer, b: Tracer) -> tuple[Any, ...]:
    if a.ndim > 2 or b.ndim > 2:
        return _batched_matmul_rule(grad, a, b)
    if a.ndim == 2 and b.ndim == 2:
        return grad @ b.T, a.T @ grad
    if a.ndim == 2:  # matrix @ vector
        return apply("outer", grad, b), a.T @ grad
    if b.ndim == 2:  # vector @ matrix
        return b @ grad, apply("outer", a, grad)
    return grad * b, grad * a  # vector @ vector


@reverse("outer")
def outer_rule(grad: Tracer, result: Tracer, a: Tracer, b: Tracer) -> tuple[Any, ...]:
    return grad @ b, a @ grad


@reverse("trace")
def trace_rule(grad: Tracer, result: Tracer, x: Tracer) -> tuple[Any, ...]:
    return (grad * apply("eye", x, n=x.shape[0]),)


@reverse("eye")
def eye_rule(grad: Tracer, result: Tracer, like: Tracer, n: Any) -> tuple[Any, ...]:
    return (None,)  # only like's dtype is used


@reverse("inv")
def inv_rule(grad: Tracer, result: Tracer, a: Tracer) -> tuple[Any, ...]:
    return (-(_mT(result) @ grad @ _mT(result)),)


@reverse("einsum")
def einsum_rule(grad: Tracer, result: Tracer, *operands: Tracer, subscripts: str) -> tuple:
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


@reverse("cholesky")
def cholesky_rule(grad: Tracer, result: Tracer, a: Tracer) -> tuple[Any, ...]:
    """A = L L^T (A symmetric): with phi the lower triangle with its diagonal halved,
    S = L^-T phi(L^T grad) L^-1 and d_A = (S + S^T) / 2 (Murray 2016; PyTorch's form)."""
    inverse = apply("inv", result)
    lower = apply("tril", _mT(result) @ grad)
    phi = lower * (1.0 - 0.5 * apply("eye", lower, n=a.shape[-1]))
    s = _mT(inverse) @ phi @ inverse
    return (0.5 * (s + _mT(s)),)


@reverse("tril")
def tril_rule(grad: Tracer, result: Tracer, x: Tracer) -> tuple[Any, ...]:
    return (apply("tril", grad),)


@reverse("solve")
def solve_rule(grad: Tracer, result: Tracer, a: Tracer, b: Tracer) -> tuple[Any, ...]:
    """x = A^-1 b: d_b = A^-T grad, d_A = -d_b x^T."""
    d_b = apply("solve", _mT(a), grad)
    if b.ndim == 1:
        return -apply("outer", d_b, result), d_b
    return unbroadcast(-(d_b @ _mT(result)), a.shape), unbroadcast(d_b, b.shape)


def _per_matrix(scale: Tracer, a: Tracer) -> Tracer:
    """A per-matrix scalar (batch shape) made to broadcast against (..., n, n)."""
    return apply("expand_dims", scale, axis=(a.ndim - 2, a.ndim - 1)) if scale.ndim else scale


@reverse("det")
def det_rule(grad: Tracer, result: Tracer, a: Tracer) -> tuple[Any, ...]:
    """d det(A) = det(A) tr(A^-1 dA): d_A = grad det(A) A^-T."""
    return (_per_matrix(grad * result, a) * _mT(apply("inv", a)),)


@reverse("logabsdet")
def logabsdet_rule(grad: Tracer, result: Tracer, a: Tracer) -> tuple[Any, ...]:
    return (_per_matrix(grad, a) * _mT(apply("inv", a)),)


@reverse("det_sign")
def det_sign_rule(grad: Tracer, result: Tracer, a: Tracer) -> tuple[Any, ...]:
    return (None,)  # NOTE: piecewise constant: zero gradient


@reverse("transpose")
def transpose_rule(grad: Tracer, result: Tracer, x: Tracer, axes: Any) -> tuple[Any, ...]:
    inverse = tuple(sorted(range(len(axes)), key=lambda i: axes[i]))
    return (gg.transpose(grad, axes=inverse),)


@reverse("sum")
def sum_rule(grad: Tracer, result: Tracer, x: Tracer, axis: Any, keepdims: Any) -> tuple[Any, ...]:
    return (_restore_reduced_axes(grad, x, axis, keepdims),)


@reverse("mean")
def mean_rule(grad: Tracer, result: Tracer, x: Tracer, axis: Any, keepdims: Any) -> tuple[Any, ...]:
    axes = tuple(range(x.ndim)) if axis is None else axis
    count = math.prod(x.shape[i] for i in axes if isinstance(x.shape[i], int))
    names = [DimSize(d) for i, d in enumerate(x.shape) if i in axes and isinstance(d, str)]
    scale = _emit_ew(
        grad.builder,
        COTANGENT / (count * sympy.Mul(*operand_symbols(len(names)))),
        {COTANGENT: grad.variable, **dict(zip(operand_symbols(len(names)), names))},
    )
    return (_restore_reduced_axes(scale, x, axis, keepdims),)


@reverse("prod")
def prod_rule(grad: Tracer, result: Tracer, x: Tracer, axis: Any, keepdims: Any) -> tuple:
    """d prod / d x_i = product of the other elements, also where elements are zero: P / x_i
    where there is no zero; at a zero, the product of the rest when it is the only zero;
    else 0. No division by zero happens."""
    is_zero = x == 0
    nonzero = gg.where(is_zero, 1.0, x)
    rest = gg.prod(nonzero, axis=axis, keepdims=True)  # the product without the zeros
    zeros = gg.sum(is_zero, axis=axis, keepdims=True)
    others = gg.where(
        is_zero, gg.where(zeros == 1, rest, 0.0), gg.where(zeros == 0, rest / nonzero, 0.0)
    )
    return (_restore_reduced_axes(grad, x, axis, keepdims) * others,)


@reverse("max")
def max_rule(grad: Tracer, result: Tracer, x: Tracer, axis: Any, keepdims: Any) -> tuple[Any, ...]:
    # NOTE: ties share the gradient evenly, as PyTorch's max/min reductions do.
    return (_to_extremes(grad, result, x, axis, keepdims),)


@reverse("min")
def min_rule(grad: Tracer, result: Tracer, x: Tracer, axis: Any, keepdims: Any) -> tuple[Any, ...]:
    return (_to_extremes(grad, result, x, axis, keepdims),)


def _to_extremes(grad: Tracer, result: Tracer, x: Tracer, axis: Any, keepdims: Any) -> Tracer:
    """grad, restored to x's shape, where x equals the extreme, divided among the ties."""
    hits = x == _restore_reduced_axes(result, x, axis, keepdims)
    ties = apply("cast_like", gg.sum(hits, axis=axis, keepdims=True), x)  # float32 stays
    return _restore_reduced_axes(grad, x, axis, keepdims) * hits / ties


@reverse("stop_gradient")
def stop_gradient_rule(grad: Tracer, result: Tracer, x: Tracer) -> tuple[Any, ...]:
    return (None,)


@reverse("broadcast_to")
def broadcast_to_rule(grad: Tracer, result: Tracer, x: Tracer, shape: Any) -> tuple[Any, ...]:
    return (unbroadcast(grad, x.shape),)


@reverse("expand_dims")
def expand_dims_rule(grad: Tracer, result: Tracer, x: Tracer, axis: Any) -> tuple[Any, ...]:
    return (apply("squeeze", grad, axis=axis),)


@reverse("squeeze")
def squeeze_rule(grad: Tracer, result: Tracer, x: Tracer, axis: Any) -> tuple[Any, ...]:
    return (apply("expand_dims", grad, axis=axis),)


@reverse("one_hot")
def one_hot_rule(grad: Tracer, result: Tracer, labels: Tracer, classes: Any) -> tuple[Any, ...]:
    return (None,)  # integer labels have no gradient


@reverse("cast_like")
def cast_like_rule(grad: Tracer, result: Tracer, a: Tracer, like: Tracer) -> tuple[Any, ...]:
    return (apply("cast_like", grad, a) if not a.variable.integer else None, None)


@reverse("getitem")
def getitem_rule(grad: Tracer, result: Tracer, x: Tracer, index: Any) -> tuple[Any, ...]:
    full = ("slice", None, None, None)
    if all(entry in (full, ("new",)) for entry in index):  # x[None, :]: only new axes
        return (
            apply("squeeze", grad, axis=tuple(i for i, e in enumerate(index) if e[0] == "new")),
        )
    return (apply("scatter", grad, index=index, shape=x.shape),)


@reverse("scatter")
def scatter_rule(
    grad: Tracer, result: Tracer, values: Tracer, index: Any, shape: Any
) -> tuple[Any, ...]:
    return (apply("getitem", grad, index=index),)


@reverse("reshape")
def reshape_rule(grad: Tracer, result: Tracer, x: Tracer, shape: Any) -> tuple[Any, ...]:
    return (apply("reshape", grad, shape=x.shape),)


@reverse("concatenate")
def concatenate_rule(grad: Tracer, result: Tracer, *parts: Tracer, axis: Any) -> tuple[Any, ...]:
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


@reverse("take")
def take_rule(grad: Tracer, result: Tracer, x: Tracer, indices: Tracer, axis: Any) -> tuple:
    # NOTE: repeated indices add up their gradients (np.add.at).
    return apply("take_add", grad, indices, axis=axis, shape=x.shape), None


@reverse("take_add")
def take_add_rule(
    grad: Tracer, result: Tracer, values: Tracer, indices: Tracer, axis: Any, shape: Any
) -> tuple[Any, ...]:
    return apply("take", grad, indices, axis=axis), None


@reverse("take_along_axis")
def take_along_axis_rule(
    grad: Tracer, result: Tracer, x: Tracer, indices: Tracer, axis: Any
) -> tuple[Any, ...]:
    return apply("along_axis_add", grad, indices, axis=axis, shape=x.shape), None


@reverse("along_axis_add")
def along_axis_add_rule(
    grad: Tracer, result: Tracer, values: Tracer, indices: Tracer, axis: Any, shape: Any
) -> tuple[Any, ...]:
    return apply("take_along_axis", grad, indices, axis=axis), None


@reverse("copy")
def copy_rule(grad: Tracer, result: Tracer, x: Tracer) -> tuple[Any, ...]:
    return (grad,)


@reverse("zeros_like")
def zeros_like_rule(grad: Tracer, result: Tracer, x: Tracer) -> tuple[Any, ...]:
    return (None,)


def elementwise_rule(builder: Builder, grad: Var, eq: Equation) -> list[Var | None]:
    """grad * d op / d a_i for each float input, summed back to the input's shape."""
    symbols = operand_symbols(len(eq.inputs))
    numbers, others = bind_operands(eq.inputs)
    partials: list[Any]
    if eq.op == "ew":
        expr = eq.param("expr").xreplace(numbers)
        partials = [
            None if s in numbers else p
            for s, p in zip(symbols, expression_partials(expr, len(eq.inputs)))
        ]
    else:
        constants = tuple((i, a.value) for i, a in enumerate(eq.inputs) if isinstance(a, Lit))
        partials = list(op_partials(eq.op, constants))
    atoms: dict[sympy.Symbol, Atom] = {COTANGENT: grad, RESULT: eq.out}
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
    grads: list[Var | None] = []
    for atom, partial in zip(eq.inputs, partials):
        if not isinstance(atom, Var) or atom.integer or partial is None or partial == 0:
            grads.append(None)
            continue
        # grad * where(c, p, q) as where(c, grad * p, grad * q): the branches then have
        # grad's dtype (np.where of Python numbers alone would be float64).
        contribution = _emit_ew(builder, sympy.piecewise_fold(COTANGENT * partial), atoms)
        grads.append(unbroadcast(contribution, atom.shape).variable)
    return grads


def _emit_ew(builder: Builder, expr: sympy.Expr, atoms: dict[sympy.Symbol, Atom]) -> Tracer:
    """Emit `expr` (over symbols bound in `atoms`) as one `ew` equation, or reuse a var when
    the expression is just that var."""
    if expr in atoms and isinstance(atoms[expr], Var):
        return Tracer(atoms[expr], builder)  # type: ignore[arg-type]
    used = [(s, a) for s, a in atoms.items() if s in expr.free_symbols]
    body, operands = renumber_operands(expr, used)
    return Tracer(builder.emit("ew", operands, {"expr": body}), builder)


def rule_for(op_name: str) -> Rule | None:
    return REVERSE_RULES.get(op_name)


def _check_table() -> None:
    """Every differentiable op has a rule: elementwise ops derive theirs, others are listed."""
    for name, op in OPS.items():
        if not op.elementwise and name not in REVERSE_RULES:
            raise RuntimeError(f"op {name!r} has no reverse-mode rule in gradgen.derivatives")


_check_table()
