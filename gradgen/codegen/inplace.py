"""Elementwise expressions evaluated in the memory of one array, with `out=` and `+=`.

`h = np.tanh(x @ w + b)` allocates three arrays. When the matmul's result is a temporary
nobody reads again (`buffers.py` decides), it is computed under the result's name and the
rest costs nothing:

    h = x @ w
    h += b
    np.tanh(h, out=h)

The path from the expression's root down to the buffer's one occurrence (the spine) is
evaluated bottom-up in place; operands off the spine print as ordinary expressions. With no
buffer to take, the largest full-size sub-expression on a path is computed fresh and the
rest of the path in place (`d_x = np.cos(x)`, then `d_x *= y`). Each step is a NumPy ufunc
writing into the buffer, so the result keeps the buffer's dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import sympy

from gradgen.codegen.constants import reciprocal_square_root
from gradgen.codegen.symbols import MaskSymbol, ScalarSymbol, is_scalar, scalar_factor
from gradgen.shapes import Shape, ShapeError, broadcast_shapes

if TYPE_CHECKING:
    from gradgen.codegen.printer import NumPyCodePrinter

MAX_STEPS = 6  # a longer in-place block is too long to review: the expression stays whole
ShapeOf = Callable[[sympy.Expr], Shape | None]  # a sub-expression's shape, None if unknown
# A function node -> the NumPy function it prints as one call of, and the call's arguments
# (NumPyCodePrinter.ufunc_form), or None.
UfuncForm = Callable[[sympy.Expr], tuple[str, tuple[sympy.Expr, ...]] | None]


@dataclass(frozen=True)
class InPlace:
    """The statements computing an expression in place, and how many of its operations
    run in place (each one is an array not allocated)."""

    lines: list[str]  # Python statements, the first binding the target
    steps: int  # operations written into the buffer


def lower_in_place(
    expr: sympy.Expr,
    target: str,
    shape: Shape,
    shape_of: ShapeOf,
    print_expr: Callable[[sympy.Expr], str],
    ufunc_form: UfuncForm,
    buffer: str | None = None,
    spare: tuple[str, ...] = (),
    cast: bool = False,
    shallow: bool = False,
) -> InPlace | None:
    """Statements binding `target` to the value of `expr` (of `shape`). With `buffer`, in
    the memory of that dead temporary, which `expr` must read exactly once and nobody reads
    afterwards: computed under the result's name (`buffer` is `target`), or taken by the
    first step (`d_z = np.negative(t0, out=t0)`); with no buffer, in an array the first
    step allocates. None when the expression has no
    such form (a step without an in-place ufunc, a buffer read twice). A full-size operand
    off the path that reads one of the `spare` buffers (dead too, read once) is computed in
    place in that one first. With `cast` (the expression alone would not have its float
    dtype: a mask times a number), a fresh start must be float array data itself. With
    `shallow` (a user's name), a fresh start is one term or factor of the whole
    (`softplus = np.log(...)`, then `softplus += np.maximum(z, 0)`): the name never holds
    a value the user did not write, such as `np.abs(z)`."""
    if (
        isinstance(expr, sympy.Mul)
        and len(expr.args) == 2
        and expr.args[0] == -1
        and isinstance(expr.args[1], sympy.Symbol)
    ):
        return None  # `d_y = -d_e` reads better than `np.negative(d_e, out=d_e)`
    expr = _common_scales_out(expr)
    if buffer is None:
        path = _fresh_path(expr, shape, shape_of)
        if shallow and len(path) > 2:
            path = path[:1] + [(path[1][0], -1)]
        if len(path) < 2:
            return None  # one operation: nothing to do in place
        if cast and not _has_array_dtype(path[-1][0], shape_of):
            return None
        start = print_expr(path[-1][0])
        if start.isidentifier() or start.lstrip("-").replace(".", "").isdigit():
            return None  # an existing array (which must not be written), or a number
        lines = [f"{target} = {start}"]
    else:
        path = _buffer_path(expr, buffer)
        if path is None or len(path) < 2 or (shallow and buffer != target and len(path) > 2):
            return None  # under a user's name, a taken buffer is a term or factor of the whole
        lines = []
    is_full = lambda node: shape_of(node) in (shape, None)  # noqa: E731
    prelude: list[str] = []
    unused = [name for name in spare if _occurrences(expr, name) == 1]  # else read again

    def operand(term: sympy.Expr) -> str:
        """An operand's text, computed first in a spare buffer when it reads one."""
        if is_full(term) and isinstance(term, (sympy.Add, sympy.Mul, sympy.Pow, sympy.Function)):
            for name in unused:
                inner = lower_in_place(term, name, shape, shape_of, print_expr, ufunc_form, name)
                if inner is not None:
                    prelude.extend(inner.lines)
                    unused.remove(name)
                    return name
        return print_expr(term)

    dest = _Dest(target, buffer if buffer not in (None, target) else None)
    steps = _steps(path, dest, print_expr, ufunc_form, is_full, operand, prelude)
    if steps is None:
        return None
    return InPlace(lines + steps, len(steps))


def _common_scales_out(expr: sympy.Expr) -> sympy.Expr:
    """Sums whose terms share a scalar factor (up to sign) with it taken out:
    `-2*t - 2*a*b` becomes `-2*(t + a*b)`, one multiplication of the result instead of one
    per term (and no temporary for `2*a`)."""
    if not isinstance(expr, (sympy.Add, sympy.Mul, sympy.Pow, sympy.Function)):
        return expr
    # `evaluate=False` arguments, not sympy.evaluate(False): toggling that global setting
    # clears SymPy's caches, which costs a tenth of a millisecond each time.
    args = [_common_scales_out(arg) for arg in expr.args]
    if args != list(expr.args):
        expr = expr.func(*args, evaluate=False)
    if not isinstance(expr, sympy.Add):
        return expr
    scales = [scalar_factor(list(sympy.Mul.make_args(term))) for term in expr.args]
    common = scales[0]
    signs = [scale / common for scale in scales]
    if common in (1, -1) or any(sign not in (1, -1) for sign in signs):
        return expr
    terms = []
    for term, sign in zip(expr.args, signs):
        arrays = [f for f in sympy.Mul.make_args(term) if not is_scalar(f)]
        rest = arrays[0] if len(arrays) == 1 else sympy.Mul(*arrays, evaluate=False)
        terms.append(rest if sign == 1 else sympy.Mul(-1, rest, evaluate=False))
    return sympy.Mul(common, sympy.Add(*terms, evaluate=False), evaluate=False)


Path = list[tuple[sympy.Expr, int]]  # (node, index of the next node among its args), root first


def _occurrences(expr: sympy.Expr, name: str) -> int:
    return sum(1 for node in sympy.preorder_traversal(expr) if getattr(node, "name", None) == name)


def _buffer_path(expr: sympy.Expr, buffer: str) -> Path | None:
    """The path from the root to the only occurrence of the symbol `buffer`."""
    if _occurrences(expr, buffer) != 1:
        return None
    path: Path = []
    node = expr
    while getattr(node, "name", None) != buffer:
        for k, arg in enumerate(node.args):
            if any(getattr(n, "name", None) == buffer for n in sympy.preorder_traversal(arg)):
                path.append((node, k))
                node = arg
                break
        else:
            return None
    return path + [(node, -1)]


def _fresh_path(expr: sympy.Expr, shape: Shape, shape_of: ShapeOf) -> Path:
    """From the root down through full-size operations, into the largest one each time,
    to one whose result is a new float array to compute the rest in."""
    path: Path = []
    node = expr
    while True:
        children = [
            (sympy.count_ops(arg), k)
            for k, arg in enumerate(node.args)
            if _allocates_float(arg)
            and not (_part_of_parent(arg) and isinstance(node, (sympy.Add, sympy.Mul)))
            and shape_of(arg) == shape
        ]
        if not children or not isinstance(node, (sympy.Add, sympy.Mul, sympy.Pow, sympy.Function)):
            break
        _, k = max(children)
        path.append((node, k))
        node = node.args[k]
    if not _allocates_float(node):
        return []
    return path + [(node, -1)]


def _has_array_dtype(node: sympy.Expr, shape_of: ShapeOf) -> bool:
    """Whether `node`'s value has its float array operands' dtype: it reads one, and no
    mask or 0-d value but dimension sizes (Python ints, which NumPy does not promote by)."""
    symbols = node.free_symbols
    if any(isinstance(s, MaskSymbol) or type(s) is ScalarSymbol for s in symbols):
        return False
    return any(not isinstance(s, ScalarSymbol) and shape_of(s) != () for s in symbols)


def _part_of_parent(node: sympy.Expr) -> bool:
    """-x or 1/x of a name: in a sum or product it prints into it (`a - x`, `a / x`), no
    operation of its own to start from."""
    if isinstance(node, sympy.Mul) and len(node.args) == 2 and node.args[0] == -1:
        return isinstance(node.args[1], sympy.Symbol)
    return isinstance(node, sympy.Pow) and node.exp == -1 and isinstance(node.base, sympy.Symbol)


def _allocates_float(node: sympy.Expr) -> bool:
    """Whether printing `node` makes a new float array: arithmetic or a ufunc call whose
    value is float (not a bare name, not a mask, not np.where)."""
    if isinstance(node, (sympy.Heaviside, sympy.Piecewise)):
        return False  # masks and np.where: left as they print
    return isinstance(node, (sympy.Add, sympy.Mul, sympy.Pow, sympy.Function)) and _is_float(node)


def _is_float(node: sympy.Expr) -> bool:
    """Whether `node` is float data for certain: a float array operand, a float literal,
    or arithmetic on one (a comparison, a mask or a dimension size is not)."""
    if isinstance(node, (ScalarSymbol, MaskSymbol)):
        return False  # a dim (an int) or integer data
    if isinstance(node, (sympy.Symbol, sympy.Float)):
        return True
    if isinstance(node, (sympy.core.relational.Relational, sympy.Heaviside, sympy.Piecewise)):
        return False
    if isinstance(node, sympy.Pow):
        return _is_float(node.base)  # (x > 0)**2 is int8
    if isinstance(node, (sympy.Add, sympy.Mul, sympy.Function)):
        return any(_is_float(arg) for arg in node.args)
    return False


class _Dest:
    """Where the in-place steps write, one line each: into `name`. With a `buffer` (a dead
    temporary that others read before), the first step reads it and writes into its
    memory, binding `name` to the result: `d_z = np.negative(t0, out=t0)`,
    `d_t0 = np.multiply(t0, 2 / N, out=t0)`, then `d_z += y`. No line passes the buffer on
    to another name alone, and the buffer's name is not read again."""

    _UFUNCS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "**": "power"}

    def __init__(self, name: str, buffer: str | None = None) -> None:
        self.name = name
        self.buffer = buffer  # until the first step is written

    @property
    def reads(self) -> str:
        """The name the next step reads the current value by."""
        return self.buffer or self.name

    def written(self, call: str) -> str:
        """`call` (an `np.f(args` without its closing) completed with `out=`."""
        if self.buffer is None:
            return f"{call}, out={self.name})"
        buffer, self.buffer = self.buffer, None
        return f"{self.name} = {call}, out={buffer})"

    def call(self, ufunc: str, *before: str) -> str:
        """`np.<ufunc>(*before, current, out=...)`."""
        return self.written(f"np.{ufunc}({', '.join([*before, self.reads])}")

    def augment(self, op: str, operand: str) -> str:
        """`name op= operand`, or its ufunc call for the first step into a buffer."""
        if self.buffer is None:
            return f"{self.name} {op}= {operand}"
        return self.written(f"np.{self._UFUNCS[op]}({self.reads}, {operand}")


def _steps(
    path: Path,
    target: _Dest,
    print_expr: Callable[[sympy.Expr], str],
    ufunc_form: UfuncForm,
    is_full: Callable[[sympy.Expr], bool],
    operand: Callable[[sympy.Expr], str],
    prelude: list[str],
) -> list[str] | None:
    """The in-place statements for the nodes of `path` above its last, bottom-up;
    `is_full` tells an operand of the target's size from a smaller (broadcast) one, and
    `operand` prints the terms and factors of sums and products, after writing the
    statements that compute them (if any) into `prelude`."""
    lines: list[str] = []
    negate = reciprocal = False  # a -x or 1/x deferred to the sum or product above it
    for depth in range(len(path) - 2, -1, -1):
        node, k = path[depth]
        parent = path[depth - 1][0] if depth > 0 else None
        others = [a for j, a in enumerate(node.args) if j != k]
        # A sign is worth leaving to the sum above only if it can subtract from a term.
        signed_sum = isinstance(parent, sympy.Add) and any(
            _negative(a) is None or not is_full(a)
            for j, a in enumerate(parent.args)
            if j != path[depth - 1][1]
        )
        if isinstance(node, sympy.Mul) and others == [sympy.S.NegativeOne]:
            if signed_sum:
                negate = not negate
                continue
            lines.append(target.call("negative"))
        elif isinstance(node, sympy.Pow) and k == 0 and node.exp == -1:
            if isinstance(parent, sympy.Mul):
                reciprocal = True
                continue
            lines.append(target.call("reciprocal"))
        elif isinstance(node, sympy.Add):
            steps = _add(others, target, operand, negate, is_full)
            lines += prelude + steps
            prelude.clear()
            negate = False
        elif isinstance(node, sympy.Mul):
            # -2*t in a sum with a term: 2*t, subtracted from the term
            drop_sign = (
                signed_sum and not reciprocal and scalar_factor(others).could_extract_minus_sign()
            )
            steps = _mul(others, target, operand, reciprocal, drop_sign, is_full)
            lines += prelude + steps
            prelude.clear()
            negate ^= drop_sign
            reciprocal = False
        elif isinstance(node, sympy.Pow):
            lines.append(_pow(node, k, target, print_expr))
        elif isinstance(node, sympy.Function):
            call = _ufunc_call(node, k, target, print_expr, ufunc_form)
            if call is None:
                return None
            lines.append(call)
        else:
            return None
    if negate:
        lines.append(target.call("negative"))
    if reciprocal:
        lines.append(target.call("reciprocal"))
    return lines


def _negative(term: sympy.Expr) -> sympy.Expr | None:
    """-term when `term` carries a minus sign (-x, -2*x, a negative number), else None."""
    if isinstance(term, sympy.Number) and term < 0:
        return -term
    if isinstance(term, sympy.Mul) and term.args[0].is_Number and term.args[0] < 0:
        rest = term.args[1:]
        if term.args[0] == -1:
            return rest[0] if len(rest) == 1 else sympy.Mul(*rest, evaluate=False)
        return sympy.Mul(-term.args[0], *rest, evaluate=False)
    return None


def _add(
    others: list[sympy.Expr],
    target: _Dest,
    print_expr: Callable[[sympy.Expr], str],
    negate: bool,
    is_full: Callable[[sympy.Expr], bool],
) -> list[str]:
    """Add `others` to the target (to its negative when `negate`). Terms smaller than the
    target (a row, a scalar) are summed first, into one small array added once."""
    small = [t for t in others if not is_full(t)]
    full = [t for t in others if is_full(t)]
    plus = [t for t in full if _negative(t) is None]
    minus = [_negative(t) for t in full if _negative(t) is not None]
    subtract_group = bool(small) and all(_negative(t) is not None for t in small)
    if subtract_group and not negate:
        small = [_negative(t) for t in small]  # type: ignore[misc]
    group = (small[0] if len(small) == 1 else sympy.Add(*small, evaluate=False)) if small else None
    lines = []
    if negate and group is not None:  # group - target
        lines.append(target.call("subtract", print_expr(group)))
        group = None
    elif negate and plus:  # first - target
        lines.append(target.call("subtract", print_expr(plus[0])))
        plus = plus[1:]
    elif negate:
        lines.append(target.call("negative"))
    if group is not None:
        lines.append(target.augment("-" if subtract_group else "+", print_expr(group)))
    lines += [target.augment("+", print_expr(t)) for t in plus]
    lines += [target.augment("-", print_expr(t)) for t in minus]  # type: ignore[arg-type]
    return lines


def _mul(
    others: list[sympy.Expr],
    target: _Dest,
    print_expr: Callable[[sympy.Expr], str],
    reciprocal: bool,
    drop_sign: bool,
    is_full: Callable[[sympy.Expr], bool],
) -> list[str]:
    """Multiply the target by `others` (divide `others` by it when `reciprocal`). Factors
    smaller than the target are multiplied together first, with the scalars; `drop_sign`
    multiplies by -scale instead, leaving the sign to the sum above."""
    if reciprocal:  # others / target
        numerator = others[0] if len(others) == 1 else sympy.Mul(*others, evaluate=False)
        return [target.call("divide", print_expr(numerator))]
    arrays = [f for f in others if not is_scalar(f)]
    lines = []
    for factor in (f for f in arrays if is_full(f)):
        if isinstance(factor, sympy.Pow) and factor.exp == -1:
            lines.append(target.augment("/", print_expr(factor.base)))
        else:
            lines.append(target.augment("*", print_expr(factor)))
    scale = scalar_factor(others)
    if drop_sign:
        scale = -scale
    group = ([scale] if scale != 1 else []) + [f for f in arrays if not is_full(f)]
    if group == [-1]:
        lines.append(target.call("negative"))
    elif len(group) == 1 and isinstance(group[0], sympy.Pow) and group[0].exp == -1:
        lines.append(target.augment("/", print_expr(group[0].base)))
    elif (
        len(group) == 1
        and isinstance(group[0], sympy.Float)
        and (root := reciprocal_square_root(float(group[0])))
    ):
        lines.append(target.augment("/", root))  # `/= 8**0.5`, as the user divided
    elif group:
        factor = group[0] if len(group) == 1 else sympy.Mul(*group, evaluate=False)
        lines.append(target.augment("*", print_expr(factor)))
    return lines


def _pow(node: sympy.Pow, k: int, target: _Dest, print_expr: Callable[[sympy.Expr], str]) -> str:
    if k == 1:  # base ** target
        return target.call("power", print_expr(node.base))
    if node.exp == 2:
        return target.call("square")
    if node.exp == sympy.S.Half:
        return target.call("sqrt")
    return target.augment("**", print_expr(node.exp))


def _ufunc_call(
    node: sympy.Expr,
    k: int,
    target: _Dest,
    print_expr: Callable[[sympy.Expr], str],
    ufunc_form: UfuncForm,
) -> str | None:
    """`np.f(..., out=target)` when `node` prints as one call of a NumPy ufunc that makes
    floats (with the target in the place of its argument k)."""
    args = list(node.args)
    args[k] = sympy.Symbol(target.reads, real=True)
    try:
        form = ufunc_form(node.func(*args, evaluate=False))
    except (TypeError, ValueError):
        return None
    if form is None:
        return None
    name, operands = form
    ufunc = getattr(np, name, None)
    if not isinstance(ufunc, np.ufunc) or any(t.endswith("->?") for t in ufunc.types):
        return None  # not a ufunc, or one that makes masks
    return target.written(f"np.{name}({', '.join(print_expr(a) for a in operands)}")


def in_place_text(
    expr: sympy.Expr,
    target: str,
    shape: Shape,
    buffers: tuple[str, ...],
    spares: tuple[str, ...],
    shapes: Mapping[sympy.Symbol, Shape],
    printer: NumPyCodePrinter,
    formula: str,
    cast: bool = False,
    shallow: bool = False,
    named: frozenset[str] = frozenset(),
) -> list[str] | None:
    """The statements (one line each) that compute `expr` in place: in the memory of
    `target` itself when `buffers` starts with it (a dead temporary computed under the
    result's name), else in whichever of the dead `buffers` (each read once by `expr`,
    taken by the first step) or of an array the first step allocates (with `cast` and
    `shallow`, see `lower_in_place`) does most in place, a buffer on a tie; None when none
    works, or when it takes more than MAX_STEPS steps. Sub-expressions may be computed in
    the dead temporaries named `spares`. `shapes` gives each array symbol of `expr` its
    shape (the printed code's `leaf_shapes`). A block of three steps or more starts with
    `formula` (the expression as one line) as a comment, when short enough to read as
    one. A buffer in `named` (the user's value, or its gradient) is taken only for a
    chain of two steps or more: `y = x + attended` reads as the user wrote it, and saves
    one array at most."""

    def shape_of(node: sympy.Expr) -> Shape | None:
        try:
            return broadcast_shapes(
                *(() if isinstance(s, ScalarSymbol) else shapes[s] for s in node.free_symbols)
            )
        except (KeyError, ShapeError):
            return None

    def lower(into: str | None) -> InPlace | None:
        others = tuple(name for name in spares if name != into)
        found = lower_in_place(
            expr,
            target,
            shape,
            shape_of,
            printer.print_grouped,
            printer.ufunc_form,
            into,
            others,
            cast,
            shallow,
        )
        return found if found is not None and found.steps <= MAX_STEPS else None

    if buffers[:1] == (target,):
        best = lower(target)
    else:  # the result's name is free: take a buffer, or start fresh
        options = [lower(name) for name in buffers] + [lower(None)]
        options = [
            None if option is not None and buffer in named and option.steps < 2 else option
            for option, buffer in zip(options, [*buffers, None])
        ]
        found = [option for option in options if option is not None]
        best = max(found, key=lambda option: option.steps) if found else None
    if best is None:
        return None
    printer.uses_numpy = True
    comment = f"# {target} = {formula}, in place:"
    lines = [comment, *best.lines] if best.steps >= 3 and len(comment) <= 92 else best.lines
    return lines
