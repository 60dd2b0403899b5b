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

Lowering decides and the printer prints: `lower_in_place` returns the steps as data
(`Step`: a ufunc, its operands as SymPy expressions, the memory it writes), and
`NumPyCodePrinter.in_place_lines` writes each one as `h += b` or `np.tanh(h, out=h)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import sympy

from gradgen.codegen.constants import reciprocal_root
from gradgen.codegen.symbols import MaskSymbol, ScalarSymbol, is_scalar, scalar_factor
from gradgen.shapes import Shape, ShapeError, broadcast_shapes
from gradgen.verify import IRError

MAX_STEPS = 6  # a longer in-place block is too long to review: the expression stays whole
ShapeOf = Callable[[sympy.Expr], Shape | None]  # a sub-expression's shape, None if unknown
# A function node -> the NumPy function it prints as one call of, and the call's arguments
# (NumPyCodePrinter.ufunc_form), or None.
UfuncForm = Callable[[sympy.Expr], tuple[str, tuple[sympy.Expr, ...]] | None]
# Whether the printer writes an expression as a bare name or number (b*1**2 is `b`):
# an existing array, which must not be written, or a constant (NumPyCodePrinter.is_atom).
IsAtom = Callable[[sympy.Expr], bool]


AUGMENTED = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "power": "**"}


@dataclass(frozen=True)
class Step:
    """One operation written into memory that exists: `ufunc(*args, out=into)`. An
    argument that is the symbol named `into` reads the value computed so far (printed
    `into += b` when it is the first of a binary operator's two). `binds` names the
    result when that name is not `into`'s: the first step into a taken buffer,
    `d_z = np.negative(t0, out=t0)`."""

    ufunc: str  # a NumPy ufunc's name: "add", "tanh", "logaddexp"
    args: tuple[sympy.Expr, ...]
    into: str  # the array written
    binds: str | None = None

    @property
    def augmented(self) -> str | None:
        """The operator of `into op= arg`, when the step prints as one."""
        op = AUGMENTED.get(self.ufunc)
        reads_into = len(self.args) == 2 and getattr(self.args[0], "name", None) == self.into
        return op if op is not None and reads_into and self.binds is None else None


@dataclass(frozen=True)
class InPlace:
    """An expression computed in place: `target = start` (when the memory is fresh),
    then the steps, each one an array not allocated."""

    target: str  # the name bound to the value
    start: sympy.Expr | None  # the first, allocating operation; None in a dead buffer
    steps: list[Step]


def lower_in_place(
    expr: sympy.Expr,
    target: str,
    shape: Shape,
    shape_of: ShapeOf,
    ufunc_form: UfuncForm,
    is_atom: IsAtom,
    buffer: str | None = None,
    spare: tuple[str, ...] = (),
    cast: bool = False,
    shallow: bool = False,
) -> InPlace | None:
    """The steps binding `target` to the value of `expr` (of `shape`). With `buffer`, in
    the memory of that dead temporary, which `expr` must read exactly once and nobody reads
    afterwards: computed under the result's name (`buffer` is `target`), or taken by the
    first step (`d_z = np.negative(t0, out=t0)`); with no buffer, in an array the first
    operation allocates. None when the expression has no
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
    start: sympy.Expr | None = None
    if buffer is None:
        path = _fresh_path(expr, shape, shape_of)
        if shallow and len(path) > 2:
            path = path[:1] + [(path[1][0], -1)]
        if len(path) < 2:
            return None  # one operation: nothing to do in place
        if cast and not _has_array_dtype(path[-1][0], shape_of):
            return None
        start = path[-1][0]
        if is_atom(start):
            return None  # an existing array (which must not be written), or a number
    else:
        path = _buffer_path(expr, buffer)
        if path is None or len(path) < 2 or (shallow and buffer != target and len(path) > 2):
            return None  # under a user's name, a taken buffer is a term or factor of the whole
    is_full = lambda node: shape_of(node) in (shape, None)  # noqa: E731
    prelude: list[Step] = []
    unused = [name for name in spare if _occurrences(expr, name) == 1]  # else read again

    def operand(term: sympy.Expr) -> sympy.Expr:
        """An operand, computed first in a spare buffer when it reads one."""
        if is_full(term) and isinstance(term, (sympy.Add, sympy.Mul, sympy.Pow, sympy.Function)):
            for name in unused:
                inner = lower_in_place(term, name, shape, shape_of, ufunc_form, is_atom, name)
                if inner is not None:
                    prelude.extend(inner.steps)
                    unused.remove(name)
                    return _symbol(name)
        return term

    dest = _Dest(target, buffer if buffer not in (None, target) else None)
    steps = _steps(path, dest, ufunc_form, is_full, operand, prelude)
    if steps is None:
        return None
    return InPlace(target, start, steps)


def _lower_into(
    expr: sympy.Expr, target: str, shape: Shape, shape_of: ShapeOf, ufunc_form: UfuncForm
) -> InPlace | None:
    """`lower_in_place` into `target`, an array of the right shape and dtype already (a
    view of the region of a scatter's output the value is written to): the fresh path,
    its first operation written into the target as well (`np.multiply(t0, d_t1, out=d_t0)`,
    then `d_t0 += t2`); None when that one has no ufunc form."""
    expr = _common_scales_out(expr)
    path = _fresh_path(expr, shape, shape_of)
    if not path:
        return None
    dest = _Dest(target)
    first = _first_step(path[-1][0], dest, ufunc_form)
    if first is None:
        return None
    is_full = lambda node: shape_of(node) in (shape, None)  # noqa: E731
    steps = _steps(path, dest, ufunc_form, is_full, lambda term: term, [])
    return None if steps is None else InPlace(target, None, [first, *steps])


def _first_step(node: sympy.Expr, dest: _Dest, ufunc_form: UfuncForm) -> Step | None:
    """`node` (an operation on operands that exist) as one ufunc writing into `dest`:
    `np.multiply(a, b, out=dest)`, `np.cos(x, out=dest)`; None when it is not one."""
    args = node.args
    if isinstance(node, sympy.Pow):
        unary = {2: "square", sympy.S.Half: "sqrt", -1: "reciprocal"}
        for exponent, ufunc in unary.items():
            if node.exp == exponent:
                return dest.step(ufunc, node.base)
        return dest.step("power", node.base, node.exp)
    if isinstance(node, sympy.Mul) and len(args) == 2:
        if args[0] == -1:
            return dest.step("negative", args[1])
        for k, arg in enumerate(args):
            if isinstance(arg, sympy.Pow) and arg.exp == -1:
                return dest.step("divide", args[1 - k], arg.base)
        return dest.step("multiply", *args)
    if isinstance(node, sympy.Add) and len(args) == 2:
        for k, arg in enumerate(args):
            negated = _negative(arg)
            if negated is not None:
                return dest.step("subtract", args[1 - k], negated)
        return dest.step("add", *args)
    if isinstance(node, sympy.Function):
        try:
            form = ufunc_form(node)
        except (TypeError, ValueError):
            return None
        if form is not None and _makes_floats(form[0]):
            return dest.step(form[0], *form[1])
    return None


def _makes_floats(name: str) -> bool:
    """Whether `np.<name>` is a ufunc with a float loop (`dd->d`): on float operands it
    makes floats, where a comparison (`dd->?`) makes masks. np.maximum and np.abs have
    a bool loop as well, which float operands never select."""
    ufunc = getattr(np, name, None)
    if not isinstance(ufunc, np.ufunc):
        return False
    return "d" * ufunc.nin + "->" + "d" * ufunc.nout in ufunc.types


def _float_numbers(operand: sympy.Expr) -> sympy.Expr:
    """An integer operand of a step written as a float (`t *= -2.0`): the step's result
    is float either way, and NumPy converts a Python int operand of a float ufunc more
    slowly. (The printer writes the integers inside float sums and products as floats.)"""
    return sympy.Float(int(operand)) if isinstance(operand, sympy.Integer) else operand


def _symbol(name: str) -> sympy.Symbol:
    """The symbol an in-place step reads an array by."""
    return sympy.Symbol(name, real=True)


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
    if common.is_zero or common in (1, -1):  # (a term `0.0 * w` has no scale to take out)
        return expr
    signs = [scale / common for scale in scales]
    if any(sign not in (1, -1) for sign in signs):
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
    if isinstance(
        node,
        (
            sympy.core.relational.Relational,
            sympy.logic.boolalg.BooleanFunction,
            sympy.Heaviside,
            sympy.Piecewise,
        ),
    ):
        return False
    if isinstance(node, sympy.Pow):
        return _is_float(node.base)  # (x > 0)**2 is int8
    if isinstance(node, (sympy.Add, sympy.Mul, sympy.Function)):
        return any(_is_float(arg) for arg in node.args)
    return False


class _Dest:
    """Where the in-place steps write: into `name`. With a `buffer` (a dead temporary
    that others read before), the first step reads it and writes into its memory,
    binding `name` to the result: `d_z = np.negative(t0, out=t0)`,
    `d_t0 = np.multiply(t0, 2 / N, out=t0)`, then `d_z += y`. No step passes the buffer
    on to another name alone, and the buffer's name is not read again."""

    def __init__(self, name: str, buffer: str | None = None) -> None:
        self.name = name
        self.buffer = buffer  # until the first step is written

    @property
    def current(self) -> sympy.Symbol:
        """The symbol the next step reads the value computed so far by."""
        return _symbol(self.buffer or self.name)

    def step(self, ufunc: str, *args: sympy.Expr) -> Step:
        """`ufunc(*args)` written into the destination, integers in the operands written
        as floats (`_float_numbers`; a power's exponent stays as written)."""
        operands = args[:1] if ufunc == "power" else args
        args = tuple(_float_numbers(a) for a in operands) + args[len(operands) :]
        if self.buffer is None:
            return Step(ufunc, args, self.name)
        buffer, self.buffer = self.buffer, None
        return Step(ufunc, args, buffer, binds=self.name)

    def call(self, ufunc: str, *before: sympy.Expr) -> Step:
        """`ufunc(*before, current)`."""
        return self.step(ufunc, *before, self.current)

    def augment(self, ufunc: str, operand: sympy.Expr) -> Step:
        """`ufunc(current, operand)`: `name op= operand`."""
        return self.step(ufunc, self.current, operand)


def _steps(
    path: Path,
    target: _Dest,
    ufunc_form: UfuncForm,
    is_full: Callable[[sympy.Expr], bool],
    operand: Callable[[sympy.Expr], sympy.Expr],
    prelude: list[Step],
) -> list[Step] | None:
    """The in-place steps for the nodes of `path` above its last, bottom-up; `is_full`
    tells an operand of the target's size from a smaller (broadcast) one, and `operand`
    gives the terms and factors of sums and products, after adding the steps that compute
    them (if any) to `prelude`."""
    steps: list[Step] = []
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
            steps.append(target.call("negative"))
        elif isinstance(node, sympy.Pow) and k == 0 and node.exp == -1:
            if isinstance(parent, sympy.Mul):
                reciprocal = True
                continue
            steps.append(target.call("reciprocal"))
        elif isinstance(node, sympy.Add):
            added = _add(others, target, operand, negate, is_full)
            steps += prelude + added
            prelude.clear()
            negate = False
        elif isinstance(node, sympy.Mul):
            # -2*t in a sum with a term: 2*t, subtracted from the term
            drop_sign = (
                signed_sum and not reciprocal and scalar_factor(others).could_extract_minus_sign()
            )
            multiplied = _mul(others, target, operand, reciprocal, drop_sign, is_full)
            steps += prelude + multiplied
            prelude.clear()
            negate ^= drop_sign
            reciprocal = False
        elif isinstance(node, sympy.Pow):
            steps.append(_pow(node, k, target))
        elif isinstance(node, sympy.Function):
            call = _ufunc_call(node, k, target, ufunc_form)
            if call is None:
                return None
            steps.append(call)
        else:
            return None
    if negate:
        steps.append(target.call("negative"))
    if reciprocal:
        steps.append(target.call("reciprocal"))
    return steps


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
    operand: Callable[[sympy.Expr], sympy.Expr],
    negate: bool,
    is_full: Callable[[sympy.Expr], bool],
) -> list[Step]:
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
    steps = []
    if negate and group is not None:  # group - target
        steps.append(target.call("subtract", operand(group)))
        group = None
    elif negate and plus:  # first - target
        steps.append(target.call("subtract", operand(plus[0])))
        plus = plus[1:]
    elif negate:
        steps.append(target.call("negative"))
    if group is not None:
        steps.append(target.augment("subtract" if subtract_group else "add", operand(group)))
    steps += [target.augment("add", operand(t)) for t in plus]
    steps += [target.augment("subtract", operand(t)) for t in minus]  # type: ignore[arg-type]
    return steps


def _mul(
    others: list[sympy.Expr],
    target: _Dest,
    operand: Callable[[sympy.Expr], sympy.Expr],
    reciprocal: bool,
    drop_sign: bool,
    is_full: Callable[[sympy.Expr], bool],
) -> list[Step]:
    """Multiply the target by `others` (divide `others` by it when `reciprocal`). Factors
    smaller than the target are multiplied together first, with the scalars; `drop_sign`
    multiplies by -scale instead, leaving the sign to the sum above."""
    if reciprocal:  # others / target
        numerator = others[0] if len(others) == 1 else sympy.Mul(*others, evaluate=False)
        return [target.call("divide", operand(numerator))]
    arrays = [f for f in others if not is_scalar(f)]
    steps = []
    for factor in (f for f in arrays if is_full(f)):
        if isinstance(factor, sympy.Pow) and factor.exp == -1:
            steps.append(target.augment("divide", operand(factor.base)))
        else:
            steps.append(target.augment("multiply", operand(factor)))
    scale = scalar_factor(others)
    if drop_sign:
        scale = -scale
    group = ([scale] if scale != 1 else []) + [f for f in arrays if not is_full(f)]
    if group == [-1]:
        steps.append(target.call("negative"))
    elif len(group) == 1 and isinstance(group[0], sympy.Pow) and group[0].exp == -1:
        steps.append(target.augment("divide", operand(group[0].base)))
    elif (
        len(group) == 1
        and isinstance(group[0], sympy.Float)
        and (root := reciprocal_root(float(group[0])))
    ):
        steps.append(target.augment("divide", sympy.Float(root)))  # `/= 8**0.5`, as written
    elif group:
        factor = group[0] if len(group) == 1 else sympy.Mul(*group, evaluate=False)
        steps.append(target.augment("multiply", operand(factor)))
    return steps


def _pow(node: sympy.Pow, k: int, target: _Dest) -> Step:
    if k == 1:  # base ** target
        return target.call("power", node.base)
    if node.exp == 2:
        return target.call("square")
    if node.exp == sympy.S.Half:
        return target.call("sqrt")
    return target.augment("power", node.exp)


def _ufunc_call(node: sympy.Expr, k: int, target: _Dest, ufunc_form: UfuncForm) -> Step | None:
    """`f(..., out=target)` when `node` prints as one call of a NumPy ufunc that makes
    floats (with the target in the place of its argument k)."""
    args = list(node.args)
    args[k] = target.current
    try:
        form = ufunc_form(node.func(*args, evaluate=False))
    except (TypeError, ValueError):
        return None
    if form is None:
        return None
    name, operands = form
    if not _makes_floats(name):
        return None  # not a ufunc, or one that makes masks
    return target.step(name, *operands)


def in_region(
    expr: sympy.Expr,
    target: str,
    shape: Shape,
    shapes: Mapping[sympy.Symbol, Shape],
    ufunc_form: UfuncForm,
) -> InPlace | None:
    """The steps that compute `expr` in `target`, an array of its shape and dtype that
    exists already (a scatter's region: `lower_in_place` with `preallocated`); None when
    there are none or more than MAX_STEPS. `shapes` and `ufunc_form` as in
    `best_in_place`."""
    found = _lower_into(expr, target, shape, _shape_of(shapes), ufunc_form)
    if found is None or len(found.steps) > MAX_STEPS:
        return None
    return verify_steps(found, shape, shapes)


def _shape_of(shapes: Mapping[sympy.Symbol, Shape]) -> ShapeOf:
    """A sub-expression's shape from its array symbols' `shapes`; None if unknown."""

    def shape_of(node: sympy.Expr) -> Shape | None:
        try:
            return broadcast_shapes(
                *(() if isinstance(s, ScalarSymbol) else shapes[s] for s in node.free_symbols)
            )
        except (KeyError, ShapeError):
            return None

    return shape_of


def best_in_place(
    expr: sympy.Expr,
    target: str,
    shape: Shape,
    buffers: tuple[str, ...],
    spares: tuple[str, ...],
    shapes: Mapping[sympy.Symbol, Shape],
    ufunc_form: UfuncForm,
    is_atom: IsAtom,
    cast: bool = False,
    shallow: bool = False,
    named: frozenset[str] = frozenset(),
) -> InPlace | None:
    """The steps that compute `expr` in place: in the memory of `target` itself when
    `buffers` starts with it (a dead temporary computed under the result's name), else in
    whichever of the dead `buffers` (each read once by `expr`, taken by the first step) or
    of an array the first operation allocates (with `cast` and `shallow`, see
    `lower_in_place`) does most in place, a buffer on a tie; None when none works, or
    when it takes more than MAX_STEPS steps. Sub-expressions may be computed in the dead
    temporaries named `spares`. `shapes` gives each array symbol of `expr` its shape (the
    printed code's `leaf_shapes`); `ufunc_form` and `is_atom` say how the printer writes a
    node. A buffer in `named` (the user's value, or its gradient)
    is taken only for a chain of two steps or more: `y = x + attended` reads as the user
    wrote it, and saves one array at most."""

    shape_of = _shape_of(shapes)

    def lower(into: str | None) -> InPlace | None:
        others = tuple(name for name in spares if name != into)
        found = lower_in_place(
            expr, target, shape, shape_of, ufunc_form, is_atom, into, others, cast, shallow
        )
        return found if found is not None and len(found.steps) <= MAX_STEPS else None

    if buffers[:1] == (target,):
        return lower(target)
    # the result's name is free: take a buffer, or start fresh
    options = [lower(name) for name in buffers] + [lower(None)]
    options = [
        None if option is not None and buffer in named and len(option.steps) < 2 else option
        for option, buffer in zip(options, [*buffers, None])
    ]
    found = [option for option in options if option is not None]
    if not found:
        return None
    return verify_steps(max(found, key=lambda option: len(option.steps)), shape, shapes)


def verify_steps(lowered: InPlace, shape: Shape, shapes: Mapping[sympy.Symbol, Shape]) -> InPlace:
    """Raise IRError unless every step keeps the shape and kind of the memory it writes:
    each is a NumPy ufunc with a float loop, whose operands broadcast into `shape` (the
    arrays written have it; `shapes` gives the others'), and a fresh start has `shape`
    itself. Return `lowered` unchanged otherwise."""
    names = {name for step in lowered.steps for name in (step.into, step.binds) if name}
    known = _shape_of({**shapes, **{_symbol(name): shape for name in names | {lowered.target}}})
    if lowered.start is not None and known(lowered.start) != shape:
        raise IRError(f"in-place code for {lowered.target} starts at shape {known(lowered.start)}")
    for step in lowered.steps:
        ufunc = getattr(np, step.ufunc, None)
        if not isinstance(ufunc, np.ufunc) or not any(t.endswith("->d") for t in ufunc.types):
            raise IRError(f"in-place step np.{step.ufunc} is not a ufunc with a float loop")
        for arg in step.args:
            arg_shape = known(arg)
            if arg_shape is None or broadcast_shapes(shape, arg_shape) != tuple(shape):
                raise IRError(f"np.{step.ufunc} into {step.into} reads shape {arg_shape}")
    return lowered
