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
    return (_restore_reduced_axes(grad, x, axis, keepdims) * _product_of_others(x, axis),)


def _product_of_others(x: Tracer, axis: Any) -> Tracer:
    """For each element of x, the product of the other elements along `axis`: P / x_i where
    there is no zero; at a zero, the product of the rest when it is the only zero; else 0."""
    is_zero = x == 0
    nonzero = gg.where(is_zero, 1.0, x)
    rest = gg.prod(nonzero, axis=axis, keepdims=True)  # the product without the zeros
    zeros = gg.sum(is_zero, axis=axis, keepdims=True)
    return gg.where(
        is_zero, gg.where(zeros == 1, rest, 0.0), gg.where(zeros == 0, rest / nonzero, 0.0)
    )


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
    share = apply("cast_like", hits, x) / ties  # a float mask: no int64 when differentiated
    return _restore_reduced_axes(grad, x, axis, keepdims) * share


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


@reverse("scatter_sum")
def scatter_sum_rule(
    grad: Tracer, result: Tracer, *values: Tracer, indices: Any, shape: Any
) -> tuple[Any, ...]:
    return tuple(apply("getitem", grad, index=index) for index in indices)


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


@reverse("ones_like")
def ones_like_rule(grad: Tracer, result: Tracer, x: Tracer) -> tuple[Any, ...]:
    return (None,)


@reverse("zeros")
@reverse("ones")
def fill_rule(grad: Tracer, result: Tracer, like: Tracer, shape: Any) -> tuple[Any, ...]:
    return (None,)  # only like's dtype is read


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
        partials = list(op_partials(eq.op, constant_operands(eq)))
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
    expr = expr.xreplace({sympy.Float(1.0): sympy.S.One})  # 1.0*g is g: a view, not new
    if expr in atoms and isinstance(atoms[expr], Var):
        return Tracer(atoms[expr], builder)  # type: ignore[arg-type]
    used = [(s, a) for s, a in atoms.items() if s in expr.free_symbols]
    body, operands = renumber_operands(expr, used)
    return Tracer(builder.emit("ew", operands, {"expr": body}), builder)


# -- forward mode ------------------------------------------------------------------------
#
# A forward rule receives `dots` (the tangent of each operand, None where it is zero),
# `result` and the operands, and returns the tangent of the result (None for zero). With
# `batched`, every tangent carries one extra leading axis (a batch of tangents at once:
# Jacobians and Hessians), which the rule keeps in front. Linear ops re-apply themselves.

ForwardRule = Callable[..., Any]
FORWARD_RULES: dict[str, ForwardRule] = {}


def forward(*op_names: str) -> Callable[[ForwardRule], ForwardRule]:
    def register(rule: ForwardRule) -> ForwardRule:
        for name in op_names:
            FORWARD_RULES[name] = rule
        return rule

    return register


def _lead(batched: bool) -> int:
    """How many batch axes lead a tangent."""
    return 1 if batched else 0


def _lift(dot: Tracer, ndim: int, batched: bool) -> Tracer:
    """A batched tangent given `ndim` axes after its batch axis (size-1 axes inserted after
    it), so it broadcasts like its primal would; unbatched tangents broadcast by themselves."""
    missing = ndim - (dot.ndim - _lead(batched))
    if not batched or missing <= 0:
        return dot
    return apply("expand_dims", dot, axis=tuple(range(1, 1 + missing)))


def _shift(axes: Any, ndim: int, batched: bool) -> Any:
    """Reduction axes of a primal of `ndim` axes, as axes of its tangent."""
    if not batched:
        return axes
    return tuple(a + 1 for a in (range(ndim) if axes is None else axes))


def _batch_shape(dot: Tracer, shape: Any, batched: bool) -> tuple[Any, ...]:
    return (dot.shape[0], *shape) if batched else tuple(shape)


def _total_of(parts: list[Tracer | None]) -> Tracer | None:
    present = [p for p in parts if p is not None]
    if not present:
        return None
    total = present[0]
    for part in present[1:]:
        total = total + part
    return total


def _zero_tangent(primal: Tracer, like_dot: Tracer, batched: bool) -> Tracer:
    """A zero tangent for `primal`, when an op needs every operand's tangent as an array."""
    return apply("zeros", primal, shape=_batch_shape(like_dot, primal.shape, batched))


@forward("matmul")
def matmul_jvp(dots: tuple, result: Tracer, a: Tracer, b: Tracer, batched: bool) -> Any:
    """d(a @ b) = da @ b + a @ db."""
    da, db = dots
    if not batched or (a.ndim <= 2 and b.ndim <= 2):
        parts = [da @ b if da is not None else None]
        if db is not None and batched and b.ndim == 1:  # a batch of vectors: rows of db
            parts.append(db @ (a.T if a.ndim == 2 else a))
        elif db is not None:
            parts.append(a @ db)
        return _total_of(parts)
    # Batched with stacks of matrices: vectors become a row (a) or column (b) so the batch
    # axis cannot be taken for a matrix axis, the batch axis goes in front of the operands'
    # own batch axes, and the vectors' axes are squeezed away again.
    a2 = a if a.ndim > 1 else apply("expand_dims", a, axis=(0,))
    b2 = b if b.ndim > 1 else apply("expand_dims", b, axis=(1,))
    ndim = max(a2.ndim, b2.ndim)
    parts = []
    if da is not None:
        da2 = da if a.ndim > 1 else apply("expand_dims", da, axis=(1,))
        parts.append(_lift(da2, ndim, batched) @ b2)
    if db is not None:
        db2 = db if b.ndim > 1 else apply("expand_dims", db, axis=(db.ndim,))
        parts.append(a2 @ _lift(db2, ndim, batched))
    total = _total_of(parts)
    assert total is not None
    if a.ndim == 1:
        total = apply("squeeze", total, axis=(total.ndim - 2,))
    if b.ndim == 1:
        total = apply("squeeze", total, axis=(total.ndim - 1,))
    return total


@forward("outer")
def outer_jvp(dots: tuple, result: Tracer, a: Tracer, b: Tracer, batched: bool) -> Any:
    """d outer(a, b) = outer(da, b) + outer(a, db), written as broadcast products."""
    da, db = dots
    parts = []
    if da is not None:
        parts.append(apply("expand_dims", da, axis=(da.ndim,)) * b)
    if db is not None:
        row = apply("expand_dims", db, axis=(db.ndim - 1,))
        parts.append(apply("expand_dims", a, axis=(1,)) * row)
    return _total_of(parts)


@forward("trace")
def trace_jvp(dots: tuple, result: Tracer, x: Tracer, batched: bool) -> Any:
    (dx,) = dots
    if not batched:
        return apply("trace", dx)
    return gg.sum(dx * apply("eye", x, n=x.shape[0]), axis=(1, 2))


@forward("inv")
def inv_jvp(dots: tuple, result: Tracer, a: Tracer, batched: bool) -> Any:
    """d(A^-1) = -A^-1 dA A^-1."""
    return -(result @ dots[0] @ result)


@forward("cholesky")
def cholesky_jvp(dots: tuple, result: Tracer, a: Tracer, batched: bool) -> Any:
    """dL = L phi(L^-1 dA L^-T), phi: the lower triangle with its diagonal halved."""
    inverse = apply("inv", result)
    inner = inverse @ dots[0] @ _mT(inverse)
    phi = apply("tril", inner) * (1.0 - 0.5 * apply("eye", a, n=a.shape[-1]))
    return result @ phi


@forward("solve")
def solve_jvp(dots: tuple, result: Tracer, a: Tracer, b: Tracer, batched: bool) -> Any:
    """x = A^-1 b: dx = A^-1 (db - dA x)."""
    da, db = dots
    rhs = _total_of([db, -(da @ result) if da is not None else None])
    assert rhs is not None
    if batched and b.ndim == 1:  # a batch of right-hand sides: the columns of one matrix
        return apply("solve", a, rhs.T).T
    return apply("solve", a, rhs)


def _last_two(t: Tracer) -> tuple[int, int]:
    return (t.ndim - 2, t.ndim - 1)


@forward("det")
def det_jvp(dots: tuple, result: Tracer, a: Tracer, batched: bool) -> Any:
    """d det(A) = det(A) tr(A^-1 dA)."""
    (da,) = dots
    return result * gg.sum(_mT(apply("inv", a)) * da, axis=_last_two(da))


@forward("logabsdet")
def logabsdet_jvp(dots: tuple, result: Tracer, a: Tracer, batched: bool) -> Any:
    (da,) = dots
    return gg.sum(_mT(apply("inv", a)) * da, axis=_last_two(da))


@forward("det_sign", "eye", "stop_gradient", "one_hot", "zeros_like", "ones_like", "zeros", "ones")
def zero_jvp(dots: tuple, result: Tracer, *operands: Any, batched: bool, **params: Any) -> Any:
    # NOTE: det_sign is piecewise constant; eye and the zeros read only their operand's
    # dtype; stop_gradient blocks the derivative by definition.
    return None


@forward("tril")
def tril_jvp(dots: tuple, result: Tracer, x: Tracer, batched: bool) -> Any:
    return apply("tril", dots[0])


@forward("copy")
def copy_jvp(dots: tuple, result: Tracer, x: Tracer, batched: bool) -> Any:
    return dots[0]


@forward("cast_like")
def cast_like_jvp(dots: tuple, result: Tracer, a: Tracer, like: Tracer, batched: bool) -> Any:
    return apply("cast_like", dots[0], like) if dots[0] is not None else None


@forward("transpose")
def transpose_jvp(dots: tuple, result: Tracer, x: Tracer, axes: Any, batched: bool) -> Any:
    if batched:
        axes = (0, *(a + 1 for a in axes))
    return gg.transpose(dots[0], axes=axes)


@forward("sum")
def sum_jvp(dots: tuple, result: Tracer, x: Tracer, axis: Any, keepdims: Any, batched: bool) -> Any:
    return gg.sum(dots[0], axis=_shift(axis, x.ndim, batched), keepdims=keepdims)


@forward("mean")
def mean_jvp(
    dots: tuple, result: Tracer, x: Tracer, axis: Any, keepdims: Any, batched: bool
) -> Any:
    return gg.mean(dots[0], axis=_shift(axis, x.ndim, batched), keepdims=keepdims)


@forward("prod")
def prod_jvp(
    dots: tuple, result: Tracer, x: Tracer, axis: Any, keepdims: Any, batched: bool
) -> Any:
    """The tangent weighted by the product of the other elements (exact at zeros)."""
    weights = _product_of_others(x, axis)
    return gg.sum(weights * dots[0], axis=_shift(axis, x.ndim, batched), keepdims=keepdims)


@forward("max", "min")
def extreme_jvp(
    dots: tuple, result: Tracer, x: Tracer, axis: Any, keepdims: Any, batched: bool
) -> Any:
    # NOTE: ties share the tangent evenly, as they share the gradient in reverse mode.
    hits = x == _restore_reduced_axes(result, x, axis, keepdims)
    ties = apply("cast_like", gg.sum(hits, axis=axis, keepdims=True), x)
    share = apply("cast_like", hits, x) / ties
    return gg.sum(share * dots[0], axis=_shift(axis, x.ndim, batched), keepdims=keepdims)


@forward("broadcast_to")
def broadcast_to_jvp(dots: tuple, result: Tracer, x: Tracer, shape: Any, batched: bool) -> Any:
    (dx,) = dots
    lifted = _lift(dx, len(shape), batched)
    return apply("broadcast_to", lifted, shape=_batch_shape(dx, shape, batched))


@forward("expand_dims")
def expand_dims_jvp(dots: tuple, result: Tracer, x: Tracer, axis: Any, batched: bool) -> Any:
    shift = _lead(batched)
    return apply("expand_dims", dots[0], axis=tuple(a + shift for a in axis))


@forward("squeeze")
def squeeze_jvp(dots: tuple, result: Tracer, x: Tracer, axis: Any, batched: bool) -> Any:
    shift = _lead(batched)
    return apply("squeeze", dots[0], axis=tuple(a + shift for a in axis))


@forward("reshape")
def reshape_jvp(dots: tuple, result: Tracer, x: Tracer, shape: Any, batched: bool) -> Any:
    return apply("reshape", dots[0], shape=_batch_shape(dots[0], shape, batched))


@forward("concatenate")
def concatenate_jvp(dots: tuple, result: Tracer, *parts: Tracer, axis: Any, batched: bool) -> Any:
    like = next(d for d in dots if d is not None)
    pieces = [d if d is not None else _zero_tangent(p, like, batched) for p, d in zip(parts, dots)]
    return apply("concatenate", *pieces, axis=axis + _lead(batched))


_FULL = ("slice", None, None, None)


@forward("getitem")
def getitem_jvp(dots: tuple, result: Tracer, x: Tracer, index: Any, batched: bool) -> Any:
    return apply("getitem", dots[0], index=(_FULL, *index) if batched else index)


@forward("scatter")
def scatter_jvp(
    dots: tuple, result: Tracer, values: Tracer, index: Any, shape: Any, batched: bool
) -> Any:
    (dv,) = dots
    index = (_FULL, *index) if batched else index
    return apply("scatter", dv, index=index, shape=_batch_shape(dv, shape, batched))


@forward("scatter_sum")
def scatter_sum_jvp(
    dots: tuple, result: Tracer, *values: Tracer, indices: Any, shape: Any, batched: bool
) -> Any:
    present = [(d, i) for d, i in zip(dots, indices) if d is not None]
    like = present[0][0]
    indices = tuple((_FULL, *i) if batched else i for _, i in present)
    shape = _batch_shape(like, shape, batched)
    return apply("scatter_sum", *(d for d, _ in present), indices=indices, shape=shape)


@forward("take")
def take_jvp(
    dots: tuple, result: Tracer, x: Tracer, indices: Tracer, axis: Any, batched: bool
) -> Any:
    return apply("take", dots[0], indices, axis=axis + _lead(batched))


@forward("take_add")
def take_add_jvp(
    dots: tuple,
    result: Tracer,
    values: Tracer,
    indices: Tracer,
    axis: Any,
    shape: Any,
    batched: bool,
) -> Any:
    dv = dots[0]
    shape = _batch_shape(dv, shape, batched)
    return apply("take_add", dv, indices, axis=axis + _lead(batched), shape=shape)


def _batched_indices(indices: Tracer, dot: Tracer, batched: bool) -> Tracer:
    """Indices along an axis, repeated for each tangent of a batch."""
    if not batched:
        return indices
    lifted = apply("expand_dims", indices, axis=(0,))
    return apply("broadcast_to", lifted, shape=(dot.shape[0], *indices.shape))


@forward("take_along_axis")
def take_along_axis_jvp(
    dots: tuple, result: Tracer, x: Tracer, indices: Tracer, axis: Any, batched: bool
) -> Any:
    dx, _ = dots
    index = _batched_indices(indices, dx, batched)
    return apply("take_along_axis", dx, index, axis=axis + _lead(batched))


@forward("along_axis_add")
def along_axis_add_jvp(
    dots: tuple,
    result: Tracer,
    values: Tracer,
    indices: Tracer,
    axis: Any,
    shape: Any,
    batched: bool,
) -> Any:
    dv, _ = dots
    index = _batched_indices(indices, dv, batched)
    shape = _batch_shape(dv, shape, batched)
    return apply("along_axis_add", dv, index, axis=axis + _lead(batched), shape=shape)


@forward("einsum")
def einsum_jvp(
    dots: tuple, result: Tracer, *operands: Tracer, subscripts: str, batched: bool
) -> Any:
    """The product rule: one einsum per operand with a tangent, that operand replaced by it
    (a batch axis gets a letter of its own)."""
    inputs, output = subscripts.split("->")[0].split(","), subscripts.split("->")[1]
    batch = next(c for c in "zyxwvutsrqponmlkjihgfedcba" if c not in subscripts)
    parts = []
    for i, dot in enumerate(dots):
        if dot is None:
            continue
        specs = [batch + s if j == i and batched else s for j, s in enumerate(inputs)]
        spec = ",".join(specs) + "->" + (batch if batched else "") + output
        arrays = [dot if j == i else o for j, o in enumerate(operands)]
        parts.append(apply("einsum", *arrays, subscripts=spec))
    return _total_of(parts)


def elementwise_jvp(
    builder: Builder, dots: list[Var | None], eq: Equation, batched: bool
) -> Var | None:
    """sum_i d op / d a_i * (tangent of a_i), as one elementwise expression."""
    symbols = operand_symbols(len(eq.inputs))
    numbers, others = bind_operands(eq.inputs)
    if eq.op == "ew":
        expr = eq.param("expr").xreplace(numbers)
        partials: list[Any] = list(expression_partials(expr, len(eq.inputs)))
    else:
        partials = list(op_partials(eq.op, constant_operands(eq)))
    atoms: dict[sympy.Symbol, Atom] = {RESULT: eq.out}
    atoms.update(others)
    total = sympy.Integer(0)
    for i, (dot, partial) in enumerate(zip(dots, partials)):
        if dot is None or partial is None or symbols[i] in numbers:
            continue
        tangent = sympy.Symbol(f"dot{i}", real=True)
        atoms[tangent] = _lift(Tracer(dot, builder), eq.out.ndim, batched).variable
        total = total + partial * tangent
    # 1.0 * dot prints as dot (x * 1.0): then it is that var, which aliasing must see.
    total = sympy.piecewise_fold(total).xreplace({sympy.Float(1.0): sympy.S.One})
    if total == 0:
        return None
    tangent = _emit_ew(builder, total, atoms)
    # Made only of operands smaller than the output (a + b with b's tangent alone), the
    # tangent is broadcast to the output's shape, as the output itself is.
    shape = _batch_shape(tangent, eq.out.shape, batched)
    if tuple(tangent.shape) != shape:
        tangent = apply("broadcast_to", tangent, shape=shape)
    return tangent.variable


def rule_for(op_name: str) -> Rule | None:
    return REVERSE_RULES.get(op_name)


def forward_rule_for(op_name: str) -> ForwardRule | None:
    return FORWARD_RULES.get(op_name)


def _check_table() -> None:
    """Every differentiable op has a rule in both modes: elementwise ops derive theirs,
    others are listed."""
    for name, op in OPS.items():
        for mode, table in (("reverse", REVERSE_RULES), ("forward", FORWARD_RULES)):
            if not op.elementwise and name not in table:
                raise RuntimeError(f"op {name!r} has no {mode}-mode rule in gradgen.derivatives")


_check_table()
