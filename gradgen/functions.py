"""The NumPy-like functions users call as `gg.<name>`.

Each works on traced values (recording an equation) and on plain NumPy arrays (computing
eagerly), so a decorated function can also be run and debugged as ordinary NumPy code.
"""

from __future__ import annotations

import inspect
import math
import string
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gradgen.errors import GradgenError
from gradgen.graph_builder import Tracer, apply, register_numpy_functions
from gradgen.ops import OPS, Op
from gradgen.ops.elementwise import define_elementwise
from gradgen.shapes import broadcast_shapes

if TYPE_CHECKING:
    import sympy

pi = math.pi
e = math.e
inf = math.inf

Axis = int | tuple[int, ...] | None

_STATIC_NAMES = [
    "abs",
    "arccos",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "binary_cross_entropy_with_logits",
    "broadcast_to",
    "clip",
    "concatenate",
    "cos",
    "cosh",
    "cross_entropy",
    "dot",
    "e",
    "einsum",
    "elementwise",
    "erf",
    "exp",
    "expand_dims",
    "expm1",
    "huber_loss",
    "inf",
    "log",
    "log10",
    "log1p",
    "log2",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mse_loss",
    "one_hot",
    "outer",
    "pi",
    "power",
    "prod",
    "reciprocal",
    "relu",
    "reshape",
    "sigmoid",
    "sign",
    "sin",
    "sinh",
    "softmax",
    "softplus",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "stop_gradient",
    "sum",
    "take",
    "take_along_axis",
    "tan",
    "tanh",
    "trace",
    "transpose",
    "var",
    "where",
]


def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Sum over `axis` (all axes when None)."""
    return apply("sum", x, axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Mean over `axis` (all axes when None)."""
    return apply("mean", x, axis=axis, keepdims=keepdims)


def transpose(x: Any, axes: tuple[int, ...] | None = None) -> Any:
    """Permute axes; reverse them when `axes` is None (like `.T`)."""
    return apply("transpose", x, axes=axes)


def dot(a: Any, b: Any) -> Any:
    """NumPy's dot for scalars, vectors and matrices (a * b or a @ b)."""
    if getattr(a, "ndim", 0) == 0 or getattr(b, "ndim", 0) == 0:
        return a * b
    if getattr(a, "ndim", 0) > 2 or getattr(b, "ndim", 0) > 2:
        raise ValueError("gg.dot takes scalars, vectors and matrices; use gg.matmul for batches")
    return apply("matmul", a, b)


def einsum(subscripts: str, *operands: Any) -> Any:
    """NumPy's einsum, e.g. gg.einsum("bij,bjk->bik", a, b), with '...' for leading axes
    (broadcast as NumPy does) and repeated letters for diagonals ("ii->i", "ii->").

    The primitive names every axis once per operand: '...' becomes letters of its own, and
    a letter repeated within an operand becomes a second letter tied to the first by an
    identity matrix operand (einsum("ii->i", a) is einsum("ij,ij->i", a, eye))."""
    if not any(isinstance(o, Tracer) for o in operands):
        return np.einsum(subscripts, *operands)
    inputs, output, operands = _named_axes(subscripts.replace(" ", ""), list(operands))
    spare = iter(c for c in string.ascii_letters if c not in "".join(inputs) + output)
    extra: list[str] = []
    for k, sub in enumerate(inputs):
        letters = list(sub)
        for position, letter in enumerate(sub):
            if letter in letters[:position]:
                tied = next(spare)
                letters[position] = tied
                n = operands[k].shape[position]
                operands.append(apply("eye", operands[k], n=n))
                extra.append(letter + tied)
        inputs[k] = "".join(letters)
    return apply("einsum", *operands, subscripts=",".join(inputs + extra) + "->" + output)


def _named_axes(subscripts: str, operands: list[Any]) -> tuple[list[str], str, list[Any]]:
    """(inputs, output, operands) with '...' written as letters; operands whose '...' axes
    have size 1 where another's do not are broadcast first, and the implicit output (no
    '->') is NumPy's: the '...' axes, then the letters used once, in order."""
    inputs_text, arrow, output = subscripts.partition("->")
    inputs = inputs_text.split(",")
    if len(inputs) != len(operands):
        return inputs, output, operands  # the shape rule says what is wrong
    if "..." not in subscripts:
        if not arrow:
            letters = "".join(inputs)
            output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
        return inputs, output, operands
    used = set(subscripts) - {".", ",", "-", ">"}
    shapes = [tuple(getattr(o, "shape", ())) for o in operands]
    ranks = [len(shape) - (len(s) - 3) if "..." in s else 0 for s, shape in zip(inputs, shapes)]
    count = max(ranks)
    names = [c for c in string.ascii_letters if c not in used][:count]
    lead = broadcast_shapes(
        *(shape[:r] for shape, r, s in zip(shapes, ranks, inputs) if "..." in s)
    )
    for k, (sub, rank) in enumerate(zip(inputs, ranks)):
        if "..." not in sub:
            continue
        shape = shapes[k]
        wanted = lead[count - rank :] + shape[rank:]
        if shape != wanted:
            operands[k] = apply("broadcast_to", operands[k], shape=wanted)
        inputs[k] = sub.replace("...", "".join(names[count - rank :]))
    if arrow:
        output = output.replace("...", "".join(names))
    else:
        letters = "".join(inputs)
        once = sorted(c for c in set(letters) if letters.count(c) == 1 and c not in names)
        output = "".join(names) + "".join(once)
    return inputs, output, operands


def elementwise(name: str, definition: Callable[..., sympy.Expr]) -> Callable[..., Any]:
    """A new elementwise op from a SymPy expression, usable like a built-in:
    `softsign = gg.elementwise("softsign", lambda x: x / (1 + sympy.Abs(x)))`. Its
    derivative comes from SymPy; the generated module prints it as plain NumPy."""
    op = define_elementwise(name, definition)

    def call(*args: Any) -> Any:
        return apply(op.name, *args)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"Elementwise {name}, defined by the user with SymPy."
    return call


# -- more reductions, and reductions built from primitives


def prod(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Product over `axis`; its gradient is right where elements are zero (no P / x)."""
    return apply("prod", x, axis=axis, keepdims=keepdims)


def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Largest element over `axis`; ties share the gradient evenly (as in PyTorch)."""
    return apply("max", x, axis=axis, keepdims=keepdims)


def min(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Smallest element over `axis`; ties share the gradient evenly (as in PyTorch)."""
    return apply("min", x, axis=axis, keepdims=keepdims)


def var(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Variance over `axis` (NumPy's default ddof=0)."""
    centered = x - mean(x, axis=axis, keepdims=True)
    return mean(apply("square", centered), axis=axis, keepdims=keepdims)


def std(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Standard deviation over `axis` (ddof=0); where it is 0 (one element, or all equal)
    its gradient is 0, as in PyTorch."""
    return apply("sqrt_of_squares", var(x, axis=axis, keepdims=keepdims))


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """log(sum(exp(x))) over `axis`, without overflow: the max is subtracted first. The max
    is detached, so the gradient is exactly softmax(x), finite for any logits."""
    shift = apply("stop_gradient", max(x, axis=axis, keepdims=True))
    total = apply("log", sum(apply("exp", x - shift), axis=axis, keepdims=True)) + shift
    if keepdims:
        return total
    return squeeze(total, axis=axis) if axis is not None else sum(total)


# -- shapes


def squeeze(x: Any, axis: Axis = None) -> Any:
    """Drop size-1 axes (the given ones, or all)."""
    return apply("squeeze", x, axis=axis)


def expand_dims(x: Any, axis: int | tuple[int, ...]) -> Any:
    """Insert size-1 axes at `axis`."""
    return apply("expand_dims", x, axis=(axis,) if isinstance(axis, int) else tuple(axis))


def reshape(x: Any, shape: tuple[int | str, ...]) -> Any:
    """x with a new shape of the same size; one entry may be -1 (inferred)."""
    return apply("reshape", x, shape=tuple(shape))


def broadcast_to(x: Any, shape: tuple[int | str, ...]) -> Any:
    """x repeated along new or size-1 axes to `shape` (NumPy's broadcasting)."""
    return apply("broadcast_to", x, shape=tuple(shape))


def concatenate(arrays: Sequence[Any], axis: int = 0) -> Any:
    """The arrays joined along an existing axis."""
    return apply("concatenate", *arrays, axis=axis)


def stack(arrays: Sequence[Any], axis: int = 0) -> Any:
    """The arrays joined along a new axis."""
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis)


def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Any]:
    """x cut along `axis` into equal sections, or at the given indices (NumPy's split)."""
    size = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if not isinstance(size, int) or size % indices_or_sections:
            raise ValueError(
                f"cannot split an axis of size {size} into {indices_or_sections} equal sections"
            )
        step = size // indices_or_sections
        indices_or_sections = list(range(step, size, step))
    bounds = [None, *indices_or_sections, None]
    lead = (slice(None),) * (axis % x.ndim)
    return [x[lead + (slice(start, stop),)] for start, stop in zip(bounds, bounds[1:])]


# -- neural-net helpers (PyTorch's names; losses reduce by the mean)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x) along `axis`: finite for any logits."""
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along `axis`, the max subtracted first (no overflow)."""
    e = apply("exp", x - apply("stop_gradient", max(x, axis=axis, keepdims=True)))
    return e / sum(e, axis=axis, keepdims=True)


def binary_cross_entropy_with_logits(logits: Any, targets: Any) -> Any:
    """mean(softplus(z) - y*z): the binary cross-entropy of sigmoid(z), stable for any z."""
    return mean(apply("softplus", logits) - targets * logits)


def one_hot(labels: Any, num_classes: int | str) -> Any:
    """A mask of shape labels.shape + (num_classes,), true at each label."""
    return apply("one_hot", labels, classes=num_classes)


def cross_entropy(logits: Any, labels: Any) -> Any:
    """Mean softmax cross-entropy of logits (N, C) against integer labels (N,) in [0, C):
    logsumexp(logits) minus the labelled logit, per row. Written so (not as the picked
    log_softmax) because the gradient then simplifies to (softmax - one_hot) / N: SymPy
    cannot know that a one-hot row sums to 1."""
    picked = sum(one_hot(labels, logits.shape[-1]) * logits, axis=-1, keepdims=True)
    return mean(logsumexp(logits, axis=-1, keepdims=True) - picked)


def mse_loss(input: Any, target: Any) -> Any:  # noqa: A002  (PyTorch's name)
    """mean((input - target) ** 2)."""
    return mean(apply("square", input - target))


def huber_loss(input: Any, target: Any, delta: float = 1.0) -> Any:  # noqa: A002
    """Mean Huber loss: quadratic within `delta` of the target, linear beyond."""
    difference = input - target
    size = apply("abs", difference)
    quadratic = 0.5 * apply("square", difference)
    return mean(apply("where", size < delta, quadratic, delta * (size - 0.5 * delta)))


def _integer_indices(indices: Any, name: str) -> None:
    if isinstance(indices, Tracer) and not indices.variable.integer:
        raise GradgenError(
            f"gg.{name} was given float indices (shape {indices.shape}).",
            indices.builder.location(),
            "gather with integer data: annotate the indices as IntArray[...].",
        )


def take(x: Any, indices: Any, axis: int) -> Any:
    """Elements of x at integer `indices` along `axis` (NumPy's take); repeated indices
    add up their gradients."""
    _integer_indices(indices, "take")
    return apply("take", x, indices, axis=axis)


def take_along_axis(x: Any, indices: Any, axis: int) -> Any:
    """NumPy's take_along_axis, e.g. the logit of each row's label:
    `gg.take_along_axis(logits, labels[:, None], axis=1)`."""
    _integer_indices(indices, "take_along_axis")
    return apply("take_along_axis", x, indices, axis=axis)


def _op_function(op: Op) -> Callable[..., Any]:
    """gg.<op.function>(*op.arguments): the op applied to the arguments, with the row's
    docstring (every elementwise function, matmul, outer, trace and stop_gradient)."""
    signature = inspect.Signature(
        [inspect.Parameter(a, inspect.Parameter.POSITIONAL_OR_KEYWORD) for a in op.arguments]
    )

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:
            count = f"{len(op.arguments)} argument" + ("s" if len(op.arguments) > 1 else "")
            listed = ", ".join(op.arguments)
            raise TypeError(f"{op.function}() takes {count} ({listed}): {error}") from None
        return apply(op.name, *bound.args)

    call.__name__ = call.__qualname__ = str(op.function)
    call.__doc__ = op.doc
    call.__signature__ = signature  # type: ignore[attr-defined]
    call.__module__ = __name__
    return call


# The functions of the op rows that name one (gradgen/ops), then everything a model file
# sees as gg.<name>; np.<name>(tracer) and the array methods mean the same functions.
globals().update({str(op.function): _op_function(op) for op in OPS.values() if op.function})
__all__ = sorted({*_STATIC_NAMES, *(str(op.function) for op in OPS.values() if op.function)})
register_numpy_functions(
    "numpy", {name: globals()[name] for name in __all__ if callable(globals()[name])}
)
