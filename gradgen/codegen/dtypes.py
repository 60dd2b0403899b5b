"""What kind of NumPy array a printed elementwise expression is, and the rewrite that keeps
an expression the IR declares float a float array.

NumPy arithmetic on masks is not arithmetic: `(a > 0) + (b > 0)` is a logical or, `-mask`
and `mask - mask` raise, and a product of masks is a bool array. The IR says which values
are float: `keep_float` rewrites the steps (Heaviside) that would make one a mask, and
`keeps_dtype` tells whether the printed form has its float operands' dtype (float32 stays
float32) or must be cast to it.
"""

from __future__ import annotations

import sympy

from gradgen.codegen.symbols import DimSymbol, MaskSymbol


class FloatStep(sympy.Function):
    """Heaviside(x, tie) printed as a float array (np.heaviside), in x's dtype: used where a
    comparison mask would be added, negated or returned instead of scaling a float."""


_MASK_VALUED = (
    sympy.Heaviside,
    sympy.core.relational.Relational,
    sympy.logic.boolalg.BooleanFunction,  # masks combined: And, Or
)


def _is_mask_step(expr: sympy.Expr) -> bool:
    """A Heaviside printed as a comparison (ties 0 and 1); others print as np.heaviside."""
    return isinstance(expr, sympy.Heaviside) and expr.args[1] in (0, 1)


def carries_dtype(expr: sympy.Expr) -> bool:
    """Whether the printed `expr` takes its float dtype from a float operand (float32 stays
    float32): Python float literals alone give float64, masks and integers no float."""
    if isinstance(expr, FloatStep) or isinstance(expr, sympy.Heaviside) and not _is_mask_step(expr):
        return carries_dtype(expr.args[0])  # np.heaviside(x, tie) has x's dtype
    if isinstance(expr, (MaskSymbol, DimSymbol, *_MASK_VALUED)) or not expr.args:
        return isinstance(expr, sympy.Symbol) and not isinstance(expr, (MaskSymbol, DimSymbol))
    if isinstance(expr, sympy.Piecewise):
        return any(carries_dtype(branch.expr) for branch in expr.args)
    return any(carries_dtype(arg) for arg in expr.args)


def keeps_dtype(expr: sympy.Expr) -> bool:
    """Whether the printed `expr` has the dtype of its float operands: it carries one
    (`carries_dtype`) and makes no array of numbers along the way (np.where(m, 1, 0) is an
    int64 array, np.where(m, 1.0, 0.0) a float64 one: either turns float32 into float64;
    np.where(m, x, 0) keeps x's dtype, a Python number being weak)."""
    for node in sympy.preorder_traversal(expr):
        # Printed as nested np.where, innermost the last two branches: with neither
        # carrying a dtype, that innermost np.where is an array of numbers.
        if isinstance(node, sympy.Piecewise) and not any(
            carries_dtype(branch.expr) for branch in node.args[-2:]
        ):
            return False
        if isinstance(node, sympy.Mul) and _scaled_mask(node):
            return False  # 1/3 * mask is a float64 array
    return carries_dtype(expr)


def _scaled_mask(product: sympy.Mul) -> bool:
    """A product of masks and numbers (or dims) other than a sign: its own float64 array."""
    masks = [f for f in product.args if mask_valued(f)]
    others = [f for f in product.args if not mask_valued(f)]
    numbers = all(f.is_number or f.free_symbols <= _dims(f) for f in others)
    signs = all(f in (sympy.S.One, sympy.S.NegativeOne) for f in others)
    return bool(masks) and bool(others) and numbers and not signs


def _dims(expr: sympy.Expr) -> set[sympy.Symbol]:
    return {s for s in expr.free_symbols if isinstance(s, DimSymbol)}


def mask_valued(expr: sympy.Expr) -> bool:
    """Whether the printed `expr` may be a bool array: a comparison, a mask operand, or a
    product of those (a sign included: -mask is an error in NumPy)."""
    if isinstance(expr, sympy.Heaviside):
        return _is_mask_step(expr)
    if isinstance(expr, (MaskSymbol, *_MASK_VALUED)):
        return True
    if isinstance(expr, sympy.Mul):
        factors = [a for a in expr.args if a not in (sympy.S.One, sympy.S.NegativeOne)]
        return bool(factors) and all(mask_valued(a) for a in factors)
    return False


def keep_float(expr: sympy.Expr) -> sympy.Expr:
    """`expr` with a Heaviside of each mask-valued term of a sum, and of a mask-valued
    result, printed as a float step: bool arithmetic would turn `+` into a logical or."""
    return _keep_float(expr, loose=True)


def _keep_float(expr: sympy.Expr, loose: bool) -> sympy.Expr:
    """`loose`: `expr` is a term of a sum, a negation or the result, where a mask breaks."""
    if not expr.args or isinstance(expr, (*_MASK_VALUED, MaskSymbol)):
        if loose and _is_mask_step(expr):
            return FloatStep(*expr.args)
        return expr
    if isinstance(expr, sympy.Mul):
        args = list(expr.args)
        if loose and mask_valued(expr):
            first = next((i for i, a in enumerate(args) if _is_mask_step(a)), None)
            if first is not None:  # one float step makes the product float
                args[first] = FloatStep(*args[first].args)
        return sympy.Mul(*(_keep_float(a, False) for a in args), evaluate=False)
    if isinstance(expr, sympy.Piecewise):
        pieces = [(_keep_float(b.expr, loose), b.cond) for b in expr.args]
        return sympy.Piecewise(*pieces, evaluate=False)
    # The terms of a sum, and the operands of a power or a function, are loose.
    return expr.func(*(_keep_float(a, True) for a in expr.args), evaluate=False)
