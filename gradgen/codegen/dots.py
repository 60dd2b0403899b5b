"""Full sums of products of vectors, printed as dot products.

`(100.0 * t1**2 + t2**2).sum()` makes four temporaries and five passes over memory;
`100.0 * (t1 @ t1) + t2 @ t2` makes none and reads each vector once per product, through
BLAS. The sum is split over its terms (it is linear), each term's scalar factors move out,
and a term whose array part is a product of two named vectors becomes their dot product.
Only terms of the summed vector's own shape qualify: a term that broadcasts (a (1,) vector
beside an (N,) one) would be summed once instead of N times, and `@` needs equal lengths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import sympy

from gradgen.codegen.symbols import MaskSymbol, is_scalar, scalar_factor
from gradgen.shapes import Shape, broadcast_shapes


def _factors(expr: sympy.Expr) -> list[sympy.Expr]:
    """The factors of an unevaluated product, nested products flattened and x**2 as x, x."""
    if isinstance(expr, sympy.Mul):
        return [f for arg in expr.args for f in _factors(arg)]
    if isinstance(expr, sympy.Pow) and expr.exp == 2 and not is_scalar(expr.base):
        return [expr.base, expr.base]
    return [expr]


def _terms(expr: sympy.Expr) -> list[sympy.Expr]:
    if isinstance(expr, sympy.Add):
        return [t for arg in expr.args for t in _terms(arg)]
    return [expr]


def _operand(symbol: sympy.Symbol) -> str:
    """A vector's text as an operand of @ (inlined code such as `x @ w` gets parentheses)."""
    name = symbol.name
    return name if name.replace(".", "").replace("_", "a").isalnum() else f"({name})"


def sum_as_dots(
    expr: sympy.Expr,
    print_expr: Callable[[sympy.Expr], str],
    shapes: Mapping[sympy.Symbol, Shape],
    shape: Shape,
) -> str | None:
    """The full sum of the vector expression `expr` (of `shape`; `shapes` gives each array
    symbol's) as scalar-weighted dot products and sums, or None when no term is a product
    of two named vectors (nothing to gain) or a term does not have the whole shape.

    `print_expr` prints the scalar coefficients and the terms left as `(...).sum()`.
    """
    parts: list[tuple[sympy.Expr, str, bool]] = []  # (coefficient, reduced text, a call?)
    gains = False
    for term in _terms(expr):
        factors = _factors(term)
        arrays = [f for f in factors if not is_scalar(f)]
        coefficient = scalar_factor(factors)
        leaves = [s for f in arrays for s in f.free_symbols]
        if any(s not in shapes for s in leaves):
            return None
        if broadcast_shapes(*(shapes[s] for s in leaves)) != shape:
            return None  # it broadcasts: its sum is not the sum of its elements
        named = all(type(f) is sympy.Symbol for f in arrays)  # not masks, not expressions
        if len(arrays) == 2 and named and shapes[arrays[0]] == shapes[arrays[1]] == shape:
            text, call = f"{_operand(arrays[0])} @ {_operand(arrays[1])}", False
            gains = True
        elif len(arrays) == 1 and named:
            text, call = f"{_operand(arrays[0])}.sum()", True
        elif arrays:
            product = sympy.Mul(*arrays, evaluate=False) if len(arrays) > 1 else arrays[0]
            inner = print_expr(product)
            text = f"{inner if isinstance(product, sympy.Function) else f'({inner})'}.sum()"
            call = True
        else:
            return None  # a scalar term would be summed once per element: keep the sum
        parts.append((coefficient, text, call))
    if not gains or any(isinstance(f, MaskSymbol) for f in expr.free_symbols):
        return None
    pieces = []
    for k, (coefficient, text, call) in enumerate(parts):
        sign = "-" if coefficient.could_extract_minus_sign() else "+"
        magnitude = -coefficient if sign == "-" else coefficient
        scale = print_expr(magnitude)
        scale = f"({scale})" if isinstance(magnitude, sympy.Add) else scale  # 0.9*(1 - t**2)
        alone = magnitude == 1
        body = text if alone else f"{scale} * ({text})"
        if k == 0:
            negated = f"-{body}" if alone and call else f"-({body})"  # -(a @ b), -a.sum()
            pieces.append(negated if sign == "-" else body)
        else:
            pieces.append(f"{sign} {body}")
    return " ".join(pieces)
