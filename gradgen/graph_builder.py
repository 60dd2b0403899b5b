"""Building graphs: a `Builder` collects equations, and `Tracer` values record into it.

A `Tracer` behaves like a NumPy array (operators, `.T`, `.sum()`), but every operation on it
appends an `Equation` to its `Builder`, shape-checked, with the user's file and line. The
user's model code runs on tracers (`gradgen.tracing`), and so do the derivative rules
(`gradgen.derivatives`): both write array code, which this module turns into equations.
The NumPy-named functions on tracers (np.mean(t), t.var()) dispatch by name to the functions
`gradgen.functions` and `gradgen.linalg` register here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from gradgen.errors import GradgenError, SourceLocation, closest_name, user_location
from gradgen.ir import Atom, DimSize, Equation, Lit, Var, fresh_var
from gradgen.naming import NameHint
from gradgen.ops import OPS
from gradgen.ops.indexing import normalize_index
from gradgen.shapes import Shape, ShapeError, dim_names, format_shape

# How ops are named in messages: the operator the user typed, else `gg.<name>`.
OPERATOR_SYMBOLS = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div": "/",
    "pow": "**",
    "neg": "unary -",
    "matmul": "@",
    "transpose": "gg.transpose (or .T)",
    "inv": "gg.linalg.inv",
    "cholesky": "gg.linalg.cholesky",
    "solve": "gg.linalg.solve",
    "det": "gg.linalg.det",
    "logabsdet": "gg.linalg.slogdet",
    "det_sign": "gg.linalg.slogdet",
    "getitem": "indexing",
}

_BRANCH_HINT = (
    "the value is only known when the generated code runs. An `if`, `while` or `for i in "
    "range(n)` statement on a traced value becomes gg.cond, gg.while_loop or "
    "gg.fori_loop (a `break` too), unless its block has a return or continue, or a break "
    "inside a with or try (or the function closes over an enclosing function's "
    "variables): move the return after the statement. "
    "`and`, `or` and `not` on traced values are not converted; elementwise choices are "
    "gg.where(condition, a, b)."
)


# The NumPy-named functions on tracers, by NumPy namespace ("numpy", "numpy.linalg"): name
# -> the gradgen function (filled by `register_numpy_functions`).
NUMPY_FUNCTIONS: dict[str, dict[str, Callable[..., Any]]] = {"numpy": {}, "numpy.linalg": {}}


def register_numpy_functions(namespace: str, functions: Mapping[str, Callable[..., Any]]) -> None:
    """Make `functions` what np.<name> (or np.linalg.<name>) means on tracers."""
    NUMPY_FUNCTIONS[namespace].update(functions)


def _numpy_function(name: str, namespace: str = "numpy") -> Callable[..., Any]:
    return NUMPY_FUNCTIONS[namespace][name]


def op_display_name(op: str) -> str:
    return OPERATOR_SYMBOLS.get(op, f"gg.{op}")


class Builder:
    """Collects equations for one graph; makes the vars and checks shapes as it goes."""

    def __init__(self, user_files: frozenset[str], parent: Builder | None = None) -> None:
        self.user_files = user_files  # files whose frames count as the user's code
        self.equations: list[Equation] = []  # in the order they were made
        # names for the generated code (a loop body's builder shares its parent's)
        self.hints: dict[Var, NameHint] = parent.hints if parent is not None else {}
        self.origin: Equation | None = None  # while differentiating: the forward step
        self.source: SourceLocation | None = None  # fixed source while differentiating
        # A loop body's builder: the enclosing one, and for each of its values the body
        # reads (closed over, as weights are), the body's input standing for it.
        self.parent = parent
        self.captured: dict[Var, Var] = {}
        self.depth: int = parent.depth + 1 if parent is not None else 0
        self.made_dims = 0  # (the root's) dims made by `fresh_dim`

    def fresh_dim(self, base: str) -> str:
        """A dim name no other in this trace has, nor an argument or a dim of one:
        `base`, then `base2`, `base3`... (the number of steps a while loop runs)."""
        root = self
        while root.parent is not None:
            root = root.parent
        taken = {name for name in root.hints.values() if isinstance(name, str)}
        taken |= {n for v in root.hints for d in v.shape for n in dim_names(d)}
        while True:
            root.made_dims += 1
            name = base if root.made_dims == 1 else f"{base}{root.made_dims}"
            if name not in taken:
                return name

    def encloses(self, other: Builder) -> bool:
        """Whether `other` is this builder or a loop body's builder inside it."""
        while other is not None and other is not self:
            other = other.parent  # type: ignore[assignment]
        return other is self

    def lift(self, var: Var, owner: Builder) -> Var:
        """The var standing in this builder for `var` of the enclosing builder `owner`
        (the var itself when `owner` is this builder): a body input, made on first use."""
        if owner is self:
            return var
        assert self.parent is not None
        outer = self.parent.lift(var, owner)
        if outer not in self.captured:
            inner = self.new_var(outer.shape, outer.integer)
            if outer in self.hints:
                self.hints[inner] = self.hints[outer]
            self.captured[outer] = inner
        return self.captured[outer]

    def new_var(self, shape: Shape, integer: bool = False) -> Var:
        return fresh_var(shape, integer)

    def location(self) -> SourceLocation | None:
        return self.source or user_location(self.user_files)

    def emit(self, op_name: str, inputs: list[Atom], params: dict[str, Any] | None = None) -> Var:
        """Append `out = op(*inputs, **params)` after checking shapes; return `out`."""
        op = OPS[op_name]
        if op.arity >= 0 and len(inputs) != op.arity:
            raise GradgenError(
                f"{op_display_name(op_name)} takes {op.arity} array arguments, "
                f"got {len(inputs)}.",
                self.location(),
                "see the op's signature in the README's list of supported ops.",
            )
        shapes = [a.shape if isinstance(a, Var) else () for a in inputs]
        try:
            shape, canonical = op.shape_rule(shapes, dict(params or {}))
        except ShapeError as error:
            shown = [format_shape(s) for s in shapes if s]
            if not all(text in str(error) for text in shown):
                error = ShapeError(f"{error}; argument shapes {', '.join(shown)}")
            raise GradgenError(
                f"shape mismatch in {op_display_name(op_name)}: {error}.",
                self.location(),
                "check the annotations of the arguments; named dims such as 'N' match "
                "only the same name.",
            ) from None
        integer = op.integer_result(
            [a.integer if isinstance(a, Var) else isinstance(a.value, int) for a in _arrays(inputs)]
        )
        out = self.new_var(shape, integer)
        self.equations.append(
            Equation(
                op_name,
                tuple(inputs),
                out,
                tuple(sorted(canonical.items())),
                self.location(),
                self.origin,
            )
        )
        return out

    def atom(self, value: object) -> Atom:
        """The IR atom for an operand: a traced value or a Python number."""
        if isinstance(value, Tracer):
            if value.builder is not self and value.builder.encloses(self):
                return self.lift(value.variable, value.builder)  # a loop body closes over it
            if value.builder is not self:
                raise GradgenError(
                    "a traced value from another gg.function was used here.",
                    self.location(),
                    "pass the value in as an argument instead of keeping it from another trace.",
                )
            return value.variable
        if isinstance(value, (DimSize, Var, Lit)):
            return value
        if isinstance(value, (bool, np.bool_)):
            raise GradgenError(
                "booleans cannot be used in array arithmetic.",
                self.location(),
                "use 1.0 and 0.0.",
            )
        if isinstance(value, (int, np.integer)):
            return Lit(int(value))
        if isinstance(value, (float, np.floating)):
            return Lit(float(value))
        if isinstance(value, np.ndarray):
            raise GradgenError(
                "a NumPy array constant was used in a traced computation.",
                self.location(),
                "pass the array as an argument of the gg.function (with an annotation).",
            )
        raise GradgenError(
            f"cannot use a value of type {type(value).__name__} in a traced computation.",
            self.location(),
        )


# The builders recording right now, innermost last (`trace` enters the model's, and a
# loop its body's): where an operation with no traced operand (gg.scan(f, 0.0, ...)) goes.
_ACTIVE: list[Builder] = []


@contextmanager
def building(builder: Builder) -> Iterator[Builder]:
    """Make `builder` the innermost active one while the block runs."""
    _ACTIVE.append(builder)
    try:
        yield builder
    finally:
        _ACTIVE.pop()


def active_builder() -> Builder | None:
    """The innermost builder recording now, or None when nothing is being traced."""
    return _ACTIVE[-1] if _ACTIVE else None


def _arrays(inputs: list[Atom]) -> Iterator[Var | Lit]:
    return (a for a in inputs if isinstance(a, (Var, Lit)))


def name_unnamed(values: Sequence[Any], names: Sequence[str]) -> None:
    """Give each traced value that has no name in the code yet its name in `names`: the
    values a loop or an `if` gradgen made gives back, bound in no user frame."""
    for value, name in zip(values, names):
        if isinstance(value, Tracer) and value.variable not in value.builder.hints:
            value.builder.hints[value.variable] = name


def apply(op_name: str, *args: Any, **params: Any) -> Any:
    """Run an op: record it when an operand is traced, else compute it eagerly with NumPy."""
    tracers = [a for a in args if isinstance(a, Tracer)]
    if not tracers:
        return OPS[op_name].eager(*args, **params)
    builder = max((t.builder for t in tracers), key=lambda b: b.depth)  # the innermost body
    active = active_builder()
    if active is not None and active.depth > builder.depth and builder.encloses(active):
        builder = active  # a body's own step, even of values from outside it: it runs there
    atoms = [builder.atom(a) for a in args]
    return Tracer(builder.emit(op_name, atoms, params), builder)


def _not_supported(builder: Builder, what: str, hint: str | None = None) -> GradgenError:
    """`what` is not supported; the hint names the closest gradgen function, if one is
    close (`numpy.arctanh`: gg.arctan), never the whole list."""
    if hint is None:
        name = what.rsplit(".", 1)[-1]
        namespace = "numpy.linalg" if ".linalg." in what else "numpy"
        prefix = "gg.linalg." if namespace == "numpy.linalg" else "gg."
        close = closest_name(name, NUMPY_FUNCTIONS[namespace])
        nearest = f"the closest gradgen function is {prefix}{close}; " if close else ""
        hint = f"{nearest}see the README's list of supported ops."
    return GradgenError(f"{what} is not supported by gradgen.", builder.location(), hint)


# NumPy ufuncs called on traced values are the gradgen op of the same meaning (each op's
# row names its NumPy function).
_UFUNC_OPS = {
    getattr(np, op.numpy): name
    for name, op in OPS.items()
    if op.numpy and isinstance(getattr(np, op.numpy, None), np.ufunc)
}


class Tracer:
    """A symbolic array seen by the user's code while tracing."""

    __slots__ = ("variable", "builder")
    __array_priority__ = 1000  # NumPy defers `ndarray op Tracer` to our reflected operators

    def __init__(self, variable: Var, builder: Builder) -> None:
        self.variable = variable  # the IR value this stands for
        self.builder = builder  # where operations on it are recorded

    def __repr__(self) -> str:
        return f"Tracer({self.variable.type_str()})"

    @property
    def shape(self) -> Shape:
        return self.variable.shape

    @property
    def ndim(self) -> int:
        return self.variable.ndim

    @property
    def T(self) -> Tracer:
        return apply("transpose", self)

    def transpose(self, *axes: int) -> Tracer:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return apply("transpose", self, axes=axes or None)

    def reshape(self, *shape: Any) -> Tracer:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply("reshape", self, shape=tuple(shape))

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tracer:
        return apply("sum", self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tracer:
        return apply("mean", self, axis=axis, keepdims=keepdims)

    # NumPy's other array methods mean the gg function of the same name.
    def max(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return apply("max", self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return apply("min", self, axis=axis, keepdims=keepdims)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return apply("prod", self, axis=axis, keepdims=keepdims)

    def var(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return _numpy_function("var")(self, axis=axis, keepdims=keepdims)  # type: ignore

    def std(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return _numpy_function("std")(self, axis=axis, keepdims=keepdims)  # type: ignore

    def clip(self, a_min: Any, a_max: Any) -> Tracer:
        return apply("clip", self, a_min, a_max)

    def squeeze(self, axis: Any = None) -> Tracer:
        return apply("squeeze", self, axis=axis)

    def dot(self, other: Any) -> Tracer:
        return _numpy_function("dot")(self, other)  # type: ignore[no-any-return]

    def trace(self) -> Tracer:
        return apply("trace", self)

    # Arithmetic.
    def __add__(self, other: Any) -> Tracer:
        return apply("add", self, other)

    def __radd__(self, other: Any) -> Tracer:
        return apply("add", other, self)

    def __sub__(self, other: Any) -> Tracer:
        return apply("sub", self, other)

    def __rsub__(self, other: Any) -> Tracer:
        return apply("sub", other, self)

    def __mul__(self, other: Any) -> Tracer:
        return apply("mul", self, other)

    def __rmul__(self, other: Any) -> Tracer:
        return apply("mul", other, self)

    def __truediv__(self, other: Any) -> Tracer:
        return apply("div", self, other)

    def __rtruediv__(self, other: Any) -> Tracer:
        return apply("div", other, self)

    def __pow__(self, other: Any) -> Tracer:
        return apply("pow", self, other)

    def __rpow__(self, other: Any) -> Tracer:
        return apply("pow", other, self)

    def __matmul__(self, other: Any) -> Tracer:
        return apply("matmul", self, other)

    def __rmatmul__(self, other: Any) -> Tracer:
        return apply("matmul", other, self)

    def __neg__(self) -> Tracer:
        return apply("neg", self)

    def __pos__(self) -> Tracer:
        return self

    def __abs__(self) -> Tracer:
        return apply("abs", self)

    # What cannot be known while tracing.
    def __bool__(self) -> bool:
        raise GradgenError(
            "cannot branch on a traced value (`if`, `while`, `and`, `or` or `not` on an "
            "array computed from the inputs).",
            self.builder.location(),
            _BRANCH_HINT,
        )

    # Comparisons give masks for gg.where (so `x == y` is an array, as in NumPy).
    def __lt__(self, other: Any) -> Tracer:
        return apply("less", self, other)

    def __le__(self, other: Any) -> Tracer:
        return apply("less_equal", self, other)

    def __gt__(self, other: Any) -> Tracer:
        return apply("greater", self, other)

    def __ge__(self, other: Any) -> Tracer:
        return apply("greater_equal", self, other)

    def __eq__(self, other: Any) -> Tracer:  # type: ignore[override]
        return apply("equal", self, other)

    def __ne__(self, other: Any) -> Tracer:  # type: ignore[override]
        return apply("not_equal", self, other)

    __hash__ = object.__hash__

    def _to_number(self) -> Any:
        raise GradgenError(
            "cannot turn a traced array into a Python number (float(), int(), or a `math` "
            "function).",
            self.builder.location(),
            "use the gg functions (gg.exp, gg.log, ...), which work on arrays.",
        )

    __float__ = __int__ = __index__ = __complex__ = _to_number  # type: ignore

    def __len__(self) -> int:
        if self.ndim and isinstance(self.shape[0], int):
            return self.shape[0]
        raise GradgenError(
            f"len() of an array of shape {self.shape} is not known while tracing.",
            self.builder.location(),
            "use .shape, or give the dimension a fixed size in the annotation.",
        )

    def __iter__(self) -> Iterator[Any]:
        raise _not_supported(self.builder, "iterating over a traced array")

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, Tracer) and index.shape == () and index.variable.integer:
            return apply("take", self, index, axis=0)  # x[t] with a loop's counter
        if isinstance(index, Tracer) or (
            isinstance(index, tuple) and any(isinstance(i, Tracer) for i in index)
        ):
            raise _not_supported(
                self.builder,
                "indexing with a traced array",
                "gather with integer data through gg.one_hot, or index with ints and slices.",
            )
        try:
            entries = normalize_index(index, self.shape)
        except ShapeError as error:
            raise GradgenError(
                f"bad index for an array of shape {self.shape}: {error}.", self.builder.location()
            ) from None
        return apply("getitem", self, index=entries)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise _not_supported(
            self.builder,
            f"the array attribute or method .{name}",
            "see the README's list of supported ops.",
        )

    # NumPy interoperability: np.exp(tracer) means gg.exp(tracer).
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        op = _UFUNC_OPS.get(ufunc)
        if op is None or method != "__call__" or kwargs:
            raise _not_supported(self.builder, f"numpy.{ufunc.__name__}")
        return apply(op, *inputs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        """np.<name>(tracer, ...) is gg.<name>(tracer, ...) (np.linalg.<name>: gg.linalg's),
        for every gradgen function with a NumPy name; the others are refused by name."""
        module = getattr(func, "__module__", "numpy") or "numpy"
        namespace = "numpy.linalg" if module.startswith("numpy.linalg") else "numpy"
        name = func.__name__
        if name not in NUMPY_FUNCTIONS[namespace]:
            raise _not_supported(self.builder, f"{module}.{name}")
        return _numpy_function(name, namespace)(*args, **kwargs)
