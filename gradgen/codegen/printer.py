"""Print equations as NumPy code.

Elementwise equations are SymPy expressions printed by `NumPyCodePrinter`, a subclass of
SymPy's `NumPyPrinter` that writes `np.` and the subgradient conventions; structural ops
are printed by one `_emit_<op>` method each, or as the call of their row's NumPy
function. The printers of one module record what the code uses (`Imports`), so the module
imports exactly that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import sympy
from sympy.printing.numpy import NumPyPrinter

from gradgen.codegen.constants import reciprocal_square_root, square_root
from gradgen.codegen.dtypes import FloatStep, keep_float, keeps_dtype, mask_valued
from gradgen.codegen.inplace import InPlace
from gradgen.codegen.symbols import (
    DimSymbol,
    MaskSymbol,
    ScalarMaskSymbol,
    ScalarSymbol,
    is_scalar,
    scalar_factor,
)
from gradgen.ir import Atom, DimSize, Equation, Lit, Var
from gradgen.ops import OPS
from gradgen.ops.elementwise import operand_symbols
from gradgen.shapes import Shape, broadcast_shapes, dim_expr
from gradgen.symbolic import literal, op_expression


@dataclass(frozen=True)
class Code:
    """An expression's text and whether it can be used as an operand without parentheses."""

    text: str  # Python source of the expression
    atomic: bool  # a name, a call, an attribute or a literal
    expr: sympy.Expr | None = None  # elementwise results: the unevaluated SymPy form
    matmul: bool = False  # an `a @ b` expression: needs no parentheses as a term of + or -
    guarded: bool = False  # a branch not taken may warn: run it under np.errstate
    statement: str | None = None  # whole statements, "{name}" standing for the target
    # elementwise results: the shape of each array symbol in `expr`
    leaf_shapes: tuple[tuple[sympy.Symbol, Shape], ...] = ()
    uncast: str | None = None  # when the text casts `expr` to its float dtype: the text

    def operand(self, in_sum: bool = False) -> str:
        return self.text if self.atomic or (in_sum and self.matmul) else f"({self.text})"


# Reductions, printed as np.<name>(x, axis=..., keepdims=...).
REDUCTIONS = frozenset({"sum", "mean", "prod", "max", "min"})

# Functions NumPy lacks, written once into the modules that use them: name -> source.
HELPERS = {
    "_erf": (
        "def _erf(x):\n"
        '    """The error function, elementwise: NumPy has none, so the standard library\'s\n'
        '    math.erf is applied to each element, in x\'s dtype."""\n'
        "    x = np.asarray(x)\n"
        "    return np.vectorize(math.erf, otypes=[x.dtype])(x)\n"
    ),
}
HELPERS["_accumulate"] = (
    "def _accumulate(targets, grads):\n"
    '    """Add each gradient into its target array in place (like PyTorch\'s .grad) and\n'
    '    return the targets."""\n'
    "    if len(targets) != len(grads):\n"
    '        raise ValueError(f"accumulate_into: {len(grads)} arrays needed")\n'
    "    for target, grad in zip(targets, grads):\n"
    "        if not isinstance(target, np.ndarray) or target.shape != np.shape(grad):\n"
    "            raise ValueError(\n"
    '                f"accumulate_into: {type(target).__name__} of shape {np.shape(target)} "\n'
    '                f"cannot take a gradient of shape {np.shape(grad)} in place; pass NumPy "\n'
    '                "arrays of the parameters\' shapes (0-d arrays for scalars)"\n'
    "            )\n"
    "        target += grad\n"
    "    return targets\n"
)
HELPERS["_check_shapes"] = (
    "def _check_shapes(function, names, primals, vectors):\n"
    '    """Each tangent or vector must have its parameter\'s shape (NumPy would broadcast\n'
    '    a wrong one without a word)."""\n'
    "    for name, primal, vector in zip(names, primals, vectors):\n"
    "        if np.shape(vector) != np.shape(primal):\n"
    "            raise ValueError(\n"
    '                f"{function}: {name} has shape {np.shape(vector)}, but its parameter "\n'
    '                f"has shape {np.shape(primal)}"\n'
    "            )\n"
)
HELPER_IMPORTS = {"_erf": "import math"}

# NumPy functions with a `math` twin, used when every value is a Python float (a scalar
# function): math.exp on a float is about 4x faster than np.exp, and keeps floats floats.
MATH_FUNCTIONS = {
    **{name: name for name in ("exp", "expm1", "log", "log1p", "log2", "log10", "sqrt")},
    **{name: name for name in ("sin", "cos", "tan", "sinh", "cosh", "tanh", "erf")},
    **{f"arc{name}": f"a{name}" for name in ("sin", "cos", "tan", "tan2", "sinh")},
}

# Functions printed by a method of the printer's own, as (ufunc name, its arguments).
_UFUNC_FORMS = {
    "SqrtOfSquares": lambda args: ("sqrt", args),
    "Softplus": lambda args: ("logaddexp", (sympy.Float(0.0), *args)),
    "Relu": lambda args: ("maximum", (*args, sympy.Integer(0))),
    "Abs": lambda args: ("abs", args),
}

# Order-keeping stand-ins for Max and Min (which sort their arguments) in forward code.
MAXIMUM = sympy.Function("maximum")
MINIMUM = sympy.Function("minimum")


def _unevaluated(expr: sympy.Expr, args: list[sympy.Expr]) -> sympy.Expr:
    """`expr`'s kind of node over `args`, not evaluated."""
    try:
        return expr.func(*args, evaluate=False)
    except TypeError:  # a node that takes no `evaluate` (a Piecewise's ExprCondPair)
        return expr.func(*args)


def _substituted(expr: sympy.Expr, values: Mapping[sympy.Symbol, sympy.Expr]) -> sympy.Expr:
    """`expr` with its symbols replaced by `values`, unevaluated, so SymPy keeps the
    user's order and grouping; an unevaluated (a + b) + c is a + b + c (and the same for
    *): Python evaluates both left to right, so only the redundant parentheses go. (Each
    node is built with `evaluate=False`: toggling sympy.evaluate clears SymPy's caches.)"""
    if expr in values:
        return values[expr]  # type: ignore[index]
    if not expr.args:
        return expr
    args = [_substituted(a, values) for a in expr.args]
    if isinstance(expr, (sympy.Add, sympy.Mul)) and isinstance(args[0], type(expr)):
        args = list(args[0].args) + args[1:]
    return _unevaluated(expr, args)


_HARMLESS = (sympy.Abs, sympy.sign, sympy.Heaviside, sympy.Max, sympy.Min, sympy.Piecewise)


def _may_warn_unselected(expr: sympy.Expr) -> bool:
    """Whether a Piecewise branch may divide by zero, overflow or leave its domain where it
    is not selected (np.where computes every branch everywhere)."""
    for piecewise in expr.atoms(sympy.Piecewise):
        for node in sympy.preorder_traversal(piecewise):
            if isinstance(node, sympy.Function) and not isinstance(node, _HARMLESS):
                if node.func not in (MAXIMUM, MINIMUM):
                    return True
            if isinstance(node, sympy.Pow) and not (node.exp.is_integer and node.exp > 0):
                return True
    return False


def float_constants(expr: sympy.Expr) -> sympy.Expr:
    """`expr` with constants such as log(2) as floats, as it is printed: NumPy's float64
    scalars would turn float32 arrays into float64 ones (NEP 50), Python floats do not."""
    return expr.replace(
        lambda e: e.is_number and not e.is_Rational and not e.is_Float and e.is_real,
        lambda e: sympy.Float(e.evalf(20), precision=53),
    )


_COMPARISONS = (
    sympy.Heaviside,
    FloatStep,
    sympy.core.relational.Relational,
    sympy.logic.boolalg.BooleanFunction,
)


def float_literals(expr: sympy.Expr) -> sympy.Expr:
    """`expr` with the integers of its float arithmetic written as floats: `1.0 + t0`,
    `2.0 * x`, `x - 1.0`. NumPy converts a Python int operand of a float ufunc more
    slowly, and a Python float never changes a float array's dtype. Only the terms of a
    sum and the factors of a product that read float data and no integer data (whose
    arithmetic stays integer); never an exponent, nor a product's sign (`-x`)."""
    if not expr.args or isinstance(
        expr, (sympy.core.relational.Relational, sympy.logic.boolalg.BooleanFunction)
    ):
        return expr
    if isinstance(expr, sympy.Pow):
        base = float_literals(expr.base)
        return expr if base == expr.base else sympy.Pow(base, expr.exp, evaluate=False)
    args = [float_literals(arg) for arg in expr.args]
    if isinstance(expr, (sympy.Add, sympy.Mul)) and _float_data(expr):
        args = [
            sympy.Float(int(a)) if isinstance(a, sympy.Integer) and abs(a) != 1 else a for a in args
        ]
        if isinstance(expr, sympy.Add):  # a term 1 or -1 too: `1.0 - x`
            args = [sympy.Float(int(a)) if isinstance(a, sympy.Integer) else a for a in args]
    if args == list(expr.args):
        return expr
    return _unevaluated(expr, args)


def _float_data(expr: sympy.Expr) -> bool:
    """Whether `expr` reads a float array or value and no integer or boolean data (a
    mask operand, a comparison)."""
    symbols = expr.free_symbols
    if any(isinstance(s, MaskSymbol) for s in symbols) or expr.atoms(*_COMPARISONS):
        return False
    return any(
        (not isinstance(s, ScalarSymbol) or type(s) is ScalarSymbol) and not s.is_integer
        for s in symbols  # a dim's size (`8 * T`) is an integer symbol
    )


@dataclass
class Imports:
    """What the printed code needs at module level, recorded as it is printed (shared by
    the printers of one module)."""

    numpy: bool = False  # `import numpy as np`
    math: bool = False  # `import math`
    helpers: set[str] = field(default_factory=set)  # module-level helpers (HELPERS) called


class NumPyCodePrinter(NumPyPrinter):
    """SymPy's NumPy printer, writing `np.`, for the shipped module: statements in place
    where a buffer is free (`inplace.py`). What a printer does is its class's:
    `ReferencePrinter` (the unoptimized reference) and `FormulaPrinter` (the docstring's
    math) do less, and `PythonFloatPrinter` prints code whose every value is a Python
    float. Nothing toggles a printer's behaviour from outside."""

    in_place = True  # statements may be computed in place (`inplace.py`)
    errstate = True  # np.where's unselected branch may warn: `with np.errstate(...)`
    declared_types = True  # every statement keeps its declared shape and dtype
    methods = True  # reductions as array methods (`x.sum(axis=0)`), scalars grouped first
    float_literals = True  # `1.0 + t0`, not `1 + t0` (`float_literals`)

    def __init__(self, imports: Imports | None = None) -> None:
        super().__init__({"order": "none", "fully_qualified_modules": True})
        self.imports = imports if imports is not None else Imports()
        self._group_scalars = False  # while print_grouped runs: scalar factors first

    @property
    def helpers(self) -> set[str]:
        return self.imports.helpers

    @property
    def uses_numpy(self) -> bool:
        return self.imports.numpy

    @uses_numpy.setter
    def uses_numpy(self, value: bool) -> None:
        self.imports.numpy = value

    @property
    def uses_math(self) -> bool:
        return self.imports.math

    def python_floats(self) -> PythonFloatPrinter:
        """The printer for the same module's Python-float fast path."""
        return PythonFloatPrinter(self.imports)

    # -- names of NumPy functions
    def np(self, name: str) -> str:
        self.imports.numpy = True
        return f"np.{name}"

    def _module_format(self, fqn: str, register: bool = True) -> str:
        if fqn.startswith("numpy."):
            return self.np(fqn[len("numpy.") :])
        return super()._module_format(fqn, register)

    # -- SymPy nodes that print differently from SymPy's defaults
    def _print_Float(self, expr: sympy.Float) -> str:
        value = float(expr)
        root = square_root(value)  # `8**0.5`: ** binds tighter than any operator around it
        if root is not None:
            return root
        root = reciprocal_square_root(value)
        return f"(1 / {root})" if root is not None else repr(value)

    def doprint(self, expr: sympy.Expr, assign_to: object = None) -> str:
        expr = float_constants(expr)
        return super().doprint(float_literals(expr) if self.float_literals else expr, assign_to)

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        if isinstance(expr.base, sympy.Float) and square_root(float(expr.base)) is not None:
            exponent = self.parenthesize(expr.exp, sympy.printing.precedence.PRECEDENCE["Pow"])
            return f"({self._print(expr.base)})**{exponent}"  # not 8**0.5**2
        return self._hprint_Pow(expr, rational=rational, sqrt="numpy.sqrt")

    def _print_Heaviside(self, expr: sympy.Heaviside) -> str:
        arg, tie = expr.args
        if tie == 0:
            return f"({self._print(arg)} > 0)"
        if tie == 1:
            return f"({self._print(arg)} >= 0)"
        return f"{self.np('heaviside')}({self._print(arg)}, {float(tie)!r})"

    def _print_FloatStep(self, expr: FloatStep) -> str:
        arg, tie = expr.args
        return f"{self.np('heaviside')}({self._print(arg)}, {float(tie)!r})"

    def _print_And(self, expr: sympy.And) -> str:
        # SymPy writes np.logical_and.reduce((a, b)), which cannot broadcast a with b
        return self._nested("logical_and", expr.args)

    def _print_Or(self, expr: sympy.Or) -> str:
        return self._nested("logical_or", expr.args)

    def _print_Max(self, expr: sympy.Max) -> str:
        return self._nested("maximum", expr.args)

    def _print_Min(self, expr: sympy.Min) -> str:
        return self._nested("minimum", expr.args)

    def _print_Function(self, expr: sympy.Expr) -> str:
        if expr.func in (MAXIMUM, MINIMUM):
            return self._nested(expr.func.__name__, expr.args)
        return super()._print_Function(expr)

    def _print_Relational(self, expr: sympy.core.relational.Relational) -> str:
        left = self.parenthesize(expr.lhs, 45)
        right = self.parenthesize(expr.rhs, 45)
        return f"{left} {expr.rel_op} {right}"

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        """Nested np.where, the last branch (condition True) innermost-else."""
        text = self._print(expr.args[-1].expr)
        for branch in reversed(expr.args[:-1]):
            cond = branch.cond
            if isinstance(cond, sympy.Ne) and cond.rhs == 0:
                cond = cond.lhs  # a mask, used as it is
            text = self._branch(self._print(cond), self._print(branch.expr), text)
        return text

    def _branch(self, condition: str, taken: str, otherwise: str) -> str:
        return f"{self.np('where')}({condition}, {taken}, {otherwise})"

    def _argument(self, arg: sympy.Expr) -> str:
        """A call's argument: an operand printed in parentheses (`(x @ x)`) needs none
        here, between the call's own."""
        text = self._print(arg)
        if isinstance(arg, sympy.Symbol) and text.startswith("(") and text.endswith(")"):
            depth = 0
            for k, char in enumerate(text):
                depth += {"(": 1, ")": -1}.get(char, 0)
                if depth == 0 and k < len(text) - 1:
                    return text  # `(a) @ (b)`: the first pair closes early
            return text[1:-1]
        return text

    def _print_call(self, expr: sympy.Expr) -> str:
        """A NumPy function SymPy knows (np.exp, np.sin, ...) of its arguments."""
        known = self.known_functions[type(expr).__name__]
        arguments = ", ".join(self._argument(a) for a in expr.args)
        return f"{self._module_format(known)}({arguments})"

    def _print_SqrtOfSquares(self, expr: sympy.Expr) -> str:
        return f"{self.np('sqrt')}({self._argument(expr.args[0])})"

    def _print_Softplus(self, expr: sympy.Expr) -> str:
        # 0.0, not 0: NumPy converts a Python int operand of a float ufunc more slowly
        return f"{self.np('logaddexp')}(0.0, {self._argument(expr.args[0])})"

    def _print_erf(self, expr: sympy.Expr) -> str:
        self.helpers.add("_erf")
        self.uses_numpy = True
        return f"_erf({self._argument(expr.args[0])})"

    def _print_Relu(self, expr: sympy.Expr) -> str:
        return f"{self.np('maximum')}({self._argument(expr.args[0])}, 0)"

    def _print_Clip(self, expr: sympy.Expr) -> str:
        return f"{self.np('clip')}({', '.join(self._argument(a) for a in expr.args)})"

    def _print_Abs(self, expr: sympy.Abs) -> str:
        return f"{self.np('abs')}({self._argument(expr.args[0])})"

    def ufunc_form(self, expr: sympy.Expr) -> tuple[str, tuple[sympy.Expr, ...]] | None:
        """The NumPy function a SymPy function node prints as one call of, and the call's
        arguments in order (Softplus(x) is logaddexp(0, x)); None when it prints otherwise
        (a helper such as _erf, a comparison). In-place code writes such a call with out=."""
        name = type(expr).__name__
        args = tuple(expr.args)
        if name in _UFUNC_FORMS:
            return _UFUNC_FORMS[name](args)
        if expr.func in (MAXIMUM, MINIMUM) or isinstance(expr, (sympy.Max, sympy.Min)):
            ufunc = "maximum" if expr.func in (MAXIMUM, sympy.Max) else "minimum"
            if len(args) == 2 and args[0].is_Number and not args[1].is_Number:
                args = (args[1], args[0])  # as _nested prints it
            if len(args) > 2:  # nested: the outer call takes the inner one and the last
                args = (expr.func(*args[:-1], evaluate=False), args[-1])
            return ufunc, args
        if isinstance(expr, (FloatStep, sympy.Heaviside)) and len(args) == 2:
            arg, tie = args
            if isinstance(expr, sympy.Heaviside) and tie in (0, 1):
                return None  # printed as a comparison
            return "heaviside", (arg, sympy.Float(float(tie), precision=53))
        known = self.known_functions.get(name)
        if isinstance(known, str) and known.startswith("numpy."):
            return known[len("numpy.") :], args
        return None

    def _nested(self, name: str, args: tuple[sympy.Expr, ...]) -> str:
        if len(args) == 2 and args[0].is_Number and not args[1].is_Number:
            args = (args[1], args[0])  # np.maximum(x, 0), as people write it
        text = self._argument(args[0])
        for arg in args[1:]:
            text = f"{self.np(name)}({text}, {self._argument(arg)})"
        return text

    # -- one statement
    def expression(self, eq: Equation, operands: list[Code], float_dtype: str = "float") -> Code:
        """The right-hand side of `eq` given its operands' code; `float_dtype` is the dtype
        of a float value made of masks and numbers only (no float operand to take it from)."""
        if OPS[eq.op].elementwise:
            return self._elementwise_code(eq, operands, float_dtype)
        if eq.op == "cast_like" and any(a.ndim == 0 for a in eq.vars()):
            # Python floats and bools have no .astype or .dtype
            a, like = operands
            result_type = self.np("result_type")
            return Code(f"{self.np('asarray')}({a.text}, dtype={result_type}({like.text}))", True)
        if eq.op in REDUCTIONS:  # x.<method>(axis=..., keepdims=...) on arrays
            x = eq.inputs[0]
            method = isinstance(x, Var) and x.ndim > 0 and self.methods
            if eq.op == "mean" and method:  # ndarray.mean runs Python code: 3x a sum's cost
                total = self._reduction(
                    "sum", operands[0], eq.param("axis"), eq.param("keepdims"), method
                )
                text = f"{total.text} / {self._count(eq)}"
                return Code(text, False, guarded=operands[0].guarded)
            code = self._reduction(
                eq.op, operands[0], eq.param("axis"), eq.param("keepdims"), method
            )
            return replace(code, guarded=operands[0].guarded)
        printer = getattr(self, f"_emit_{eq.op}", None)
        if printer is not None:
            code = printer(operands, **dict(eq.params))
        else:  # the op's NumPy function on its operands, np.<numpy>(operands...)
            arguments = ", ".join(code.text for code in operands)
            code = Code(f"{self.np(str(OPS[eq.op].numpy))}({arguments})", True)
        return replace(code, guarded=any(op.guarded for op in operands))

    def _elementwise_code(self, eq: Equation, operands: list[Code], float_dtype: str) -> Code:
        symbols = operand_symbols(len(eq.inputs))
        values: dict[sympy.Symbol, sympy.Expr] = {}
        leaves: list[tuple[sympy.Symbol, Shape]] = []
        terms = _bare_terms(eq)
        for symbol, atom, code in zip(symbols, eq.inputs, operands):
            if isinstance(atom, Lit):
                values[symbol] = literal(atom.value)
            elif code.expr is not None:  # an inlined elementwise operand nests as is
                values[symbol] = code.expr
                leaves += code.leaf_shapes
            else:  # `x @ w + b`, `a - y @ z`: @ binds tighter than + and -
                values[symbol] = _operand_symbol(atom)(code.operand(symbol in terms), real=True)
                if isinstance(atom, Var):
                    leaves.append((values[symbol], atom.shape))
        # Unevaluated, so SymPy keeps the user's order and grouping: z + b, not b + z.
        if eq.op == "ew":  # (0.5 * 2) * z would print as 1.0 * z
            template = eq.param("expr").replace(
                lambda e: e.is_Float and float(e) == 1.0, lambda e: sympy.S.One
            )
        else:
            template = op_expression(eq.op).replace(sympy.Max, MAXIMUM).replace(sympy.Min, MINIMUM)
        expr = _substituted(template, values)
        if isinstance(expr, sympy.core.relational.Relational):
            return Code(self.doprint(expr), False)  # a mask: no SymPy form to nest
        if not eq.out.integer:
            expr = keep_float(expr)
        atomic = isinstance(expr, (sympy.Symbol, sympy.Function, sympy.Number))
        guarded = any(op.guarded for op in operands) or _may_warn_unselected(expr)
        grouped = eq.op == "ew" and self.methods  # the compiler's expressions
        text = self.print_grouped(expr) if grouped else self.doprint(expr)
        atomic = atomic and not text.startswith("-")
        code = Code(text, atomic, expr, guarded=guarded, leaf_shapes=tuple(leaves))
        return self._with_declared_type(eq, operands, code, float_dtype)

    def _with_declared_type(
        self, eq: Equation, operands: list[Code], code: Code, float_dtype: str
    ) -> Code:
        """`code` as an array of `eq.out`'s shape and kind. An expression that simplified
        away operands (where(m, x, x) is x, maximum(a, a) is a, x/x is 1) has only the
        shape of those it still reads, and one of masks and numbers only is not float: it is
        then written into a fresh array of the declared shape, in the dtype of a float
        operand (`float_dtype` when there is none)."""
        if not self.declared_types or code.expr is None:
            return code  # formulas (PythonFloatPrinter overrides this: floats have no shape)
        # As printed: t*log(10)/(t*log(10)) is 1, and t + 1/log(10) - t a bare number.
        printed = float_constants(code.expr)
        read = printed.free_symbols
        shape = broadcast_shapes(*(s for symbol, s in code.leaf_shapes if symbol in read))
        full = shape == eq.out.shape
        if full and (eq.out.integer or keeps_dtype(printed)):
            return code
        named = [
            (atom, op)
            for atom, op in zip(eq.inputs, operands)
            if isinstance(atom, Var) and op.text.isidentifier()
        ]
        floats = [(atom, op) for atom, op in named if not atom.integer]
        like = max(floats, key=lambda pair: pair[0].ndim, default=None)  # x.dtype over d_value
        dtype = "" if eq.out.integer else f", dtype={float_dtype}"
        if like is not None and not eq.out.integer:
            atom, op = like
            result_type = f"{self.np('result_type')}({op.text})"
            dtype = f", dtype={op.text}.dtype" if atom.ndim else f", dtype={result_type}"
        # Names whose shape is the declared one: the result is written into one like them.
        sized = [s.name for s, shape in code.leaf_shapes if shape == eq.out.shape]
        sized = [name for name in sized if name.isidentifier()]
        if full:  # computed in place, into a float buffer, it needs no cast
            text = f"{self.np('asarray')}({code.text}{dtype})"
            return replace(code, text=text, atomic=True, uncast=code.text)
        if like is not None and like[0].shape == eq.out.shape and not eq.out.integer:
            text = f"{self.np('full_like')}({like[1].text}, {code.text})"
        elif sized:
            text = f"{self.np('full_like')}({sized[0]}, {code.text}{dtype})"
        elif all(isinstance(d, int) for d in eq.out.shape):
            text = f"{self.np('full')}({self.shape(eq.out.shape)}, {code.text}{dtype})"
        else:  # the operands broadcast to the declared shape, whose named dims may be unbound
            leaves = dict.fromkeys(s.name for s, _ in code.leaf_shapes)
            shapes = ", ".join(f"{self.np('shape')}({name})" for name in leaves)
            size = f"{self.np('broadcast_shapes')}({shapes})"
            text = f"{self.np('full')}({size}, {code.text}{dtype})"
        return Code(text, True, guarded=code.guarded)

    def print_grouped(self, expr: sympy.Expr) -> str:
        """`expr` printed with the scalar factors of each product first (`_print_Mul`)."""
        self._group_scalars, before = True, self._group_scalars
        try:
            return self.doprint(expr)
        finally:
            self._group_scalars = before

    def is_atom(self, expr: sympy.Expr) -> bool:
        """Whether `expr` prints as a bare name or number (`b*1**2` is `b`)."""
        text = self.print_grouped(expr)
        return text.isidentifier() or text.lstrip("-").replace(".", "").isdigit()

    def in_place_lines(self, lowered: InPlace, formula: str) -> list[str]:
        """The statements of an expression lowered in place (`inplace.py`), one line per
        step: `h += b`, `np.tanh(h, out=h)`, `d_z = np.negative(t0, out=t0)`. A block of
        three steps or more starts with `formula` (the expression as one line) as a
        comment, when short enough to read as one."""
        target = lowered.target
        lines = [] if lowered.start is None else [f"{target} = {self.print_grouped(lowered.start)}"]
        for step in lowered.steps:
            if step.augmented is not None:
                lines.append(f"{step.into} {step.augmented}= {self.print_grouped(step.args[1])}")
                continue
            args = ", ".join(self.print_grouped(arg) for arg in step.args)
            call = f"{self.np(step.ufunc)}({args}, out={step.into})"
            lines.append(call if step.binds is None else f"{step.binds} = {call}")
        self.uses_numpy = True
        comment = f"# {target} = {formula}, in place:"
        return [comment, *lines] if len(lowered.steps) >= 3 and len(comment) <= 92 else lines

    def _count(self, eq: Equation) -> str:
        """A mean's element count as an operand of `/`: `N`, `8`, `(8 * T)`."""
        count = self.doprint(mean_count(eq))
        return count if count.isidentifier() or count.isdigit() else f"({count})"

    def _print_Add(self, expr: sympy.Add, order: object = None) -> str:
        """A mask subtracted in a sum is written `x - mask`, after a term that is not one:
        `-1 * mask` (NumPy cannot negate a bool) would be an int64 array, which turns a
        float32 sum into float64."""
        terms = list(self._as_ordered_terms(expr, order=order))
        if not any(_negated_mask(t) for t in terms):
            return super()._print_Add(expr, order)
        first = next((t for t in terms if not _negated_mask(t)), None)
        if first is not None:
            terms.remove(first)
            terms.insert(0, first)
        precedence = sympy.printing.precedence.precedence(expr)
        text = ""
        for k, term in enumerate(terms):
            if k and _negated_mask(term):
                rest = term.args[1:]
                mask = sympy.Mul(*rest, evaluate=False) if len(rest) > 1 else rest[0]
                text += " - " + self.parenthesize(mask, precedence, strict=True)
                continue
            piece = self._print(term)
            if k == 0:
                text = piece
            elif piece.startswith("-"):
                text += " - " + piece[1:]
            else:
                text += " + " + piece
        return text

    def _print_Mul(self, expr: sympy.Mul) -> str:
        """With several scalar factors (numbers, 0-d values, dims) and an array, the scalars
        go first, `2 * d_value / N * e`: Python then multiplies scalars before touching the
        array, one pass over it instead of three. A factor `1 / 8**0.5` divides:
        `d_t0 / 8**0.5`."""
        arrays = [f for f in expr.args if not is_scalar(f)]
        grouped = self._group_scalars and len(expr.args) - len(arrays) >= 2
        grouped = grouped and bool(arrays)
        divisor = None if grouped else self._root_divisor(expr)
        if divisor is not None:
            return divisor
        if not grouped:
            negated = _float_first(expr)  # `-d_value * (x > 0)`, not `-(x > 0) * d_value`
            if negated is not None:
                return "-" + self.parenthesize(negated, sympy.printing.precedence.PRECEDENCE["Mul"])
            if expr.args[0] == -1 and (expr.atoms(MaskSymbol) or mask_valued(expr.args[1])):
                # NumPy cannot negate a bool
                args = expr.args[1:]
                rest = sympy.Mul(*args, evaluate=False) if len(args) > 1 else args[0]
                precedence = sympy.printing.precedence.PRECEDENCE["Mul"]
                return f"-1 * {self.parenthesize(rest, precedence)}"
            return super()._print_Mul(expr)
        # Scalars may be regrouped (2 * d_value / N); the arrays keep their order. (Flags,
        # not sympy.evaluate(...): toggling that clears SymPy's caches, slow.)
        scalar_part = scalar_factor(expr.args)
        if isinstance(scalar_part, sympy.Float) and reciprocal_square_root(float(scalar_part)):
            return self._root_divisor(sympy.Mul(*arrays, scalar_part, evaluate=False))
        scalar_text = self._print(scalar_part)
        if isinstance(scalar_part, sympy.Add):  # evaluated, 0.9*(1 - t**2) is a sum
            scalar_text = f"({scalar_text})"
        array_part = sympy.Mul(*arrays, evaluate=False) if len(arrays) > 1 else arrays[0]
        array_text = self.parenthesize(array_part, sympy.printing.precedence.PRECEDENCE["Mul"])
        return f"{scalar_text} * {array_text}"

    def _root_divisor(self, expr: sympy.Mul) -> str | None:
        """`rest / 8**0.5` for a product with one factor that is exactly `1 / 8**0.5`."""
        roots = [
            (k, root)
            for k, f in enumerate(expr.args)
            if isinstance(f, sympy.Float) and (root := reciprocal_square_root(float(f)))
        ]
        if len(roots) != 1 or len(expr.args) < 2:
            return None
        k, root = roots[0]
        others = expr.args[:k] + expr.args[k + 1 :]
        rest = others[0] if len(others) == 1 else sympy.Mul(*others, evaluate=False)
        precedence = sympy.printing.precedence.PRECEDENCE["Mul"]
        return f"{self.parenthesize(rest, precedence)} / {root}"

    def shape(self, shape: Shape) -> str:
        dims = [str(d) if isinstance(d, int) else self.doprint(dim_expr(d)) for d in shape]
        if len(dims) == 1:
            return f"({dims[0]},)"
        return "(" + ", ".join(dims) + ")"

    def _print_ceiling(self, expr: sympy.Expr) -> str:
        return f"-({self._floor_division(-expr.args[0])})"  # exact ints

    def _print_floor(self, expr: sympy.Expr) -> str:
        return self._floor_division(expr.args[0])

    def _floor_division(self, ratio: sympy.Expr) -> str:
        """`n // d` for floor(n / d), the numerator in parentheses where it needs them."""
        numerator, denominator = sympy.fraction(sympy.together(ratio))
        mul = sympy.printing.precedence.PRECEDENCE["Mul"]
        return f"{self.parenthesize(numerator, mul)} // {self.parenthesize(denominator, mul, True)}"

    def parenthesize(self, item: Any, level: int, strict: bool = False) -> str:
        """As SymPy's, but `floor`/`ceiling` (printed with `//`) are put in parentheses as
        an operand of a product or power (`4 * (T // 4)`, not `4 * T // 4`)."""
        if isinstance(item, (sympy.floor, sympy.ceiling)):
            if level >= sympy.printing.precedence.PRECEDENCE["Add"]:  # (-4*x: 40)
                return f"({self._print(item)})"
            return self._print(item)
        return str(super().parenthesize(item, level, strict))

    def _reduction(
        self, name: str, x: Code, axis: Any, keepdims: Any, method: bool = False
    ) -> Code:
        """np.sum(x, axis=...) or, for arrays, x.sum(axis=...): the method skips NumPy's
        function dispatch, about half the cost on small arrays."""
        args = [] if method else [x.text]
        if axis is not None:
            args.append(f"axis={axis[0] if len(axis) == 1 else axis}")
        if keepdims:
            args.append("keepdims=True")
        if method:
            return Code(f"{x.operand()}.{name}({', '.join(args)})", True)
        return Code(f"{self.np(name)}({', '.join(args)})", True)

    def _emit_matmul(self, operands: list[Code]) -> Code:
        a, b = operands
        return Code(f"{a.operand()} @ {b.operand()}", False, matmul=True)

    def _emit_transpose(self, operands: list[Code], axes: Any) -> Code:
        (x,) = operands
        if tuple(axes) == tuple(reversed(range(len(axes)))):
            return Code(f"{x.operand()}.T", True)
        return Code(f"{self.np('transpose')}({x.text}, {tuple(axes)})", True)

    def _emit_broadcast_to(self, operands: list[Code], shape: Any) -> Code:
        return Code(f"{self.np('broadcast_to')}({operands[0].text}, {self.shape(shape)})", True)

    def _emit_expand_dims(self, operands: list[Code], axis: Any) -> Code:
        axis_text = axis[0] if len(axis) == 1 else tuple(axis)
        return Code(f"{self.np('expand_dims')}({operands[0].text}, {axis_text})", True)

    def _emit_squeeze(self, operands: list[Code], axis: Any) -> Code:
        axis_text = axis[0] if len(axis) == 1 else tuple(axis)
        return Code(f"{self.np('squeeze')}({operands[0].text}, {axis_text})", True)

    def _emit_one_hot(self, operands: list[Code], classes: Any) -> Code:
        return Code(f"{operands[0].operand()}[..., None] == {self.np('arange')}({classes})", False)

    def _emit_stop_gradient(self, operands: list[Code]) -> Code:
        return operands[0]  # only the derivative differs

    def _emit_custom_vjp(self, operands: list[Code], rule: Any) -> Code:
        return operands[0]  # the value is the function's result; the rule is inlined

    _emit_custom_jvp = _emit_custom_vjp

    def _emit_cast_like(self, operands: list[Code]) -> Code:
        a, like = operands
        return Code(f"{a.operand()}.astype({like.operand()}.dtype)", True)

    def index(self, entries: tuple[tuple[Any, ...], ...]) -> str:
        """NumPy index syntax for normalized entries, with dims printed as code."""
        return index_text(entries, lambda d: d if isinstance(d, int) else self.doprint(dim_expr(d)))

    def _emit_getitem(self, operands: list[Code], index: Any) -> Code:
        return Code(f"{operands[0].operand()}[{self.index(index)}]", True)

    def _zeros_then(self, values: Code, shape: Any, write: str) -> Code:
        """Two statements: zeros of `shape` in the values' dtype, then `write` into them."""
        zeros = f"{self.np('zeros')}({self.shape(shape)}, {self.np('result_type')}({values.text}))"
        return Code(zeros, True, statement=f"{{name}} = {zeros}\n{write}")

    def scatter_regions(self, eq: Equation) -> list[str]:
        """The index of each operand's region of a scatter's output: `[":-1", "1:"]`."""
        regions = [eq.param("index")] if eq.op == "scatter" else list(eq.param("indices"))
        return [self.index(index) for index in regions]  # type: ignore[arg-type]

    def scatter_destination(self, eq: Equation, name: str, view: str, values: Code) -> list[str]:
        """The output `name` of scatter `eq` allocated before its first operand (`values`)
        is computed, in the dtype NumPy gives that operand's expression (its operands'
        promoted dtype), and the operand's region bound to `view`, to be computed in:
        `d_x = np.zeros((N,), np.result_type(t0, d_t1, t2))`, `d_t0 = d_x[:-1]`."""
        leaves = dict.fromkeys((s.name, shape) for s, shape in values.leaf_shapes)
        if len(leaves) == 1 and next(iter(leaves))[1] != ():
            dtype = f"{next(iter(leaves))[0]}.dtype"
        else:
            dtype = f"{self.np('result_type')}({', '.join(name for name, _ in leaves)})"
        zeros = f"{self.np('zeros')}({self.shape(eq.param('shape'))}, {dtype})"
        return [f"{name} = {zeros}", f"{view} = {name}[{self.scatter_regions(eq)[0]}]"]

    def scatter_rest(self, eq: Equation, operands: list[Code], name: str) -> list[str]:
        """The writes of scatter `eq` after its first (computed in its region):
        `d_x[1:] += d_t1`."""
        regions = self.scatter_regions(eq)[1:]
        return [f"{name}[{region}] += {code.text}" for code, region in zip(operands[1:], regions)]

    def _emit_scatter(self, operands: list[Code], index: Any, shape: Any) -> Code:
        (values,) = operands
        return self._zeros_then(values, shape, f"{{name}}[{self.index(index)}] = {values.text}")

    def _emit_scatter_sum(self, operands: list[Code], indices: Any, shape: Any) -> Code:
        """zeros, the first part written, the others added: `d_x[1:] += d_t1`."""
        writes = [
            f"{{name}}[{self.index(index)}] {'=' if k == 0 else '+='} {code.text}"
            for k, (code, index) in enumerate(zip(operands, indices))
        ]
        return self._zeros_then(operands[0], shape, "\n".join(writes))

    def _emit_reshape(self, operands: list[Code], shape: Any) -> Code:
        return Code(f"{self.np('reshape')}({operands[0].text}, {self.shape(shape)})", True)

    def _emit_concatenate(self, operands: list[Code], axis: Any) -> Code:
        parts = ", ".join(code.text for code in operands)
        axis_text = f", axis={axis}" if axis else ""
        return Code(f"{self.np('concatenate')}(({parts},){axis_text})", True)

    def _emit_zeros(self, operands: list[Code], shape: Any, fill: str = "zeros") -> Code:
        dtype = f"{self.np('result_type')}({operands[0].text})"  # a Python float has none
        return Code(f"{self.np(fill)}({self.shape(shape)}, dtype={dtype})", True)

    def _emit_ones(self, operands: list[Code], shape: Any) -> Code:
        return self._emit_zeros(operands, shape, "ones")

    def _emit_eye(self, operands: list[Code], n: Any) -> Code:
        size = n if isinstance(n, int) else self.doprint(dim_expr(n))  # ceiling(N / 2)
        return Code(f"{self.np('eye')}({size}, dtype={operands[0].operand()}.dtype)", True)

    def _emit_einsum(self, operands: list[Code], subscripts: str) -> Code:
        arrays = ", ".join(code.text for code in operands)
        return Code(f"{self.np('einsum')}({subscripts!r}, {arrays})", True)

    def _emit_logabsdet(self, operands: list[Code]) -> Code:
        return Code(f"{self.np('linalg.slogdet')}({operands[0].text})[1]", True)

    def _emit_det_sign(self, operands: list[Code]) -> Code:
        return Code(f"{self.np('linalg.slogdet')}({operands[0].text})[0]", True)

    def _emit_take(self, operands: list[Code], axis: Any) -> Code:
        x, indices = operands
        return Code(f"{self.np('take')}({x.text}, {indices.text}, axis={axis})", True)

    def _emit_take_along_axis(self, operands: list[Code], axis: Any) -> Code:
        x, indices = operands
        return Code(f"{self.np('take_along_axis')}({x.text}, {indices.text}, axis={axis})", True)

    def _scatter_add(self, values: Code, index: str, shape: Any) -> Code:
        return self._zeros_then(
            values, shape, f"{self.np('add.at')}({{name}}, {index}, {values.text})"
        )

    def _emit_take_add(self, operands: list[Code], axis: Any, shape: Any) -> Code:
        values, indices = operands
        index = "(" + "slice(None), " * axis + f"{indices.text},)"
        return self._scatter_add(values, index, shape)

    def _emit_along_axis_add(self, operands: list[Code], axis: Any, shape: Any) -> Code:
        values, indices = operands
        grids = f"{self.np('indices')}({indices.text}.shape, sparse=True)"
        index = f"tuple({indices.text} if i == {axis} else g for i, g in enumerate({grids}))"
        return self._scatter_add(values, index, shape)


def mean_count(eq: Equation) -> sympy.Expr:
    """How many elements a mean equation averages: the product of its reduced dims."""
    (x,) = eq.vars()
    axes = eq.param("axis")
    reduced = [x.shape[a] for a in (range(x.ndim) if axes is None else axes)]  # type: ignore
    return sympy.Mul(*(dim_expr(d) for d in reduced))


def index_text(entries: tuple[tuple[Any, ...], ...], dim: Callable[[Any], str] = str) -> str:
    """NumPy index syntax for normalized entries, trailing full slices left out; `dim`
    prints a bound (a dim such as "4*floor(T/4)" is printed as code)."""
    parts = []
    for entry in entries:
        if entry[0] == "new":
            parts.append("None")
        elif entry[0] == "int":
            parts.append(str(entry[1]))
        else:
            start, stop, step = entry[1:]
            text = f"{'' if start is None else dim(start)}:{'' if stop is None else dim(stop)}"
            parts.append(text + (f":{step}" if step not in (None, 1) else ""))
    while parts and parts[-1] == ":":
        parts.pop()
    return ", ".join(parts) or ":"


def _float_first(expr: sympy.Mul) -> sympy.Mul | None:
    """For `-mask * ... * x` with no mask operand (a comparison first, a float factor
    after it), the factors after the sign with that float first: Python would negate
    the comparison's bools, which NumPy refuses; negating the float is the same product."""
    if expr.args[0] != -1 or len(expr.args) < 3 or expr.atoms(MaskSymbol):
        return None
    factors = list(expr.args[1:])
    floats = [f for f in factors if not mask_valued(f)]
    if not mask_valued(factors[0]) or not floats:
        return None
    factors.remove(floats[0])
    return sympy.Mul(floats[0], *factors, evaluate=False)


def _negated_mask(term: sympy.Expr) -> bool:
    """-mask as a term: -1 times masks only."""
    return (
        isinstance(term, sympy.Mul)
        and term.args[0] == -1
        and all(isinstance(f, MaskSymbol) for f in term.args[1:])
    )


def _bare_terms(eq: Equation) -> set[sympy.Symbol]:
    """The operand symbols that are whole terms of a sum in `eq`, alone or negated (`a1` in
    `100.0*a0 + a1` or `(a0 - a1)/N`): an operand there needs no parentheses when `@` binds
    it tighter than + and -."""
    if eq.op in ("add", "sub"):
        return set(operand_symbols(len(eq.inputs)))
    if eq.op != "ew":
        return set()
    expr = eq.param("expr")
    bare: list[sympy.Symbol] = []
    for node in sympy.preorder_traversal(expr):
        for term in node.args if isinstance(node, sympy.Add) else ():
            if isinstance(term, sympy.Mul) and len(term.args) == 2 and term.args[0] == -1:
                term = term.args[1]
            if isinstance(term, sympy.Symbol):
                bare.append(term)
    everywhere = list(sympy.preorder_traversal(expr))  # every occurrence must be a term:
    return {s for s in bare if everywhere.count(s) == bare.count(s)}  # `c*y @ z` is not


def _operand_symbol(atom: Atom) -> type[sympy.Symbol]:
    """The SymPy symbol class an operand prints through (scalar, mask, dim or array)."""
    if isinstance(atom, DimSize):
        return DimSymbol
    mask = isinstance(atom, Var) and atom.integer
    if isinstance(atom, Var) and atom.shape == ():
        return ScalarMaskSymbol if mask else ScalarSymbol
    return MaskSymbol if mask else sympy.Symbol


def atom_code(atom: Atom, names: Mapping[Var, str]) -> Code:
    if isinstance(atom, Var):
        return Code(names[atom], True)
    if isinstance(atom, DimSize):
        return Code(atom.name, atom.name.isidentifier())  # a derived dim: (N - 1)
    return Code(repr(atom.value), atom.value >= 0)


for _name in NumPyPrinter._kf:  # SymPy's known functions, but the printer's own methods
    if f"_print_{_name}" not in vars(NumPyCodePrinter):
        setattr(NumPyCodePrinter, f"_print_{_name}", NumPyCodePrinter._print_call)


class PythonFloatPrinter(NumPyCodePrinter):
    """Code whose every value is a Python float (the scalar fast path): `math` functions,
    the builtins max, min and abs, float literals, `x if c else y`, and no arrays to keep
    in shape or dtype. It records imports in the module's shared `Imports`."""

    in_place = False  # floats are immutable

    def np(self, name: str) -> str:
        if name in MATH_FUNCTIONS:
            self.imports.math = True
            return f"math.{MATH_FUNCTIONS[name]}"
        if name in ("maximum", "minimum", "abs"):
            return name[:3]  # the builtins max, min and abs
        return super().np(name)

    def _print_Integer(self, expr: sympy.Integer) -> str:
        return repr(float(expr))  # 1.0 + t skips an int-to-float conversion: 2x faster

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        if expr.exp == 2 and isinstance(expr.base, sympy.Symbol):
            base = self._print(expr.base)  # on floats x * x is a multiply, x**2 a pow() call
            return f"({base} * {base})"  # parenthesized: it stands where x**2 binds tightly
        return super()._print_Pow(expr, rational)

    def _print_FloatStep(self, expr: FloatStep) -> str:
        arg, tie = expr.args
        if tie in (0, 1):
            return f"(1.0 if {self._print(arg)} {'>' if tie == 0 else '>='} 0 else 0.0)"
        return super()._print_FloatStep(expr)

    def _branch(self, condition: str, taken: str, otherwise: str) -> str:
        return f"({taken} if {condition} else {otherwise})"  # only the branch taken runs

    def _print_erf(self, expr: sympy.Expr) -> str:
        return f"{self.np('erf')}({self._print(expr.args[0])})"  # math.erf on a float

    def _with_declared_type(
        self, eq: Equation, operands: list[Code], code: Code, float_dtype: str
    ) -> Code:
        return code  # Python floats have no shape or dtype to keep


class ReferencePrinter(NumPyCodePrinter):
    """The unoptimized reference the tests compare shipped code with: every statement one
    expression, nothing in place."""

    in_place = False


class FormulaPrinter(NumPyCodePrinter):
    """The traced computation as math, for the module's docstring: `exp(x)`, not
    `np.exp(x)`; `sum(x, axis=0)`; no casts, guards or in-place steps."""

    in_place = False
    errstate = False
    declared_types = False
    methods = False
    float_literals = False  # the math as written: `1 + t0`

    def np(self, name: str) -> str:
        return name

    def _print_Softplus(self, expr: sympy.Expr) -> str:
        return f"logaddexp(0, {self._print(expr.args[0])})"

    def _print_erf(self, expr: sympy.Expr) -> str:
        return f"erf({self._print(expr.args[0])})"
