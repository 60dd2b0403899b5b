"""The gradgen API (`F.exp`, `F.sum`, ...) written again with HIPS autograd: the independent
oracle a fuzz program's body runs on. Only the meaning of each op is written here, never
its derivative, except for `erf` and `stop_gradient`, whose rules autograd needs spelled out
(autograd's erf needs SciPy); their rules are the textbook ones, written by hand.

Subgradient conventions follow gradgen's README (and PyTorch): relu'(0) = 0, maximum and
minimum split ties evenly, clip passes the gradient strictly inside its bounds.
"""

from __future__ import annotations

import math
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive

from gradgen.shapes import Array, IntArray  # annotations only: they compute nothing

__all__ = ["Array", "IntArray"]

pi = math.pi
e = math.e


def function(wrt: Any = (), emit: Any = ("grad",), **_: Any) -> Any:
    """The decorator, as the oracle sees it: the plain function, its wrt and emit noted."""

    def decorate(fn: Any) -> Any:
        fn.wrt = (wrt,) if isinstance(wrt, str) else tuple(wrt)
        fn.emit = tuple(emit)
        return fn

    return decorate


@primitive
def stop_gradient(x: Any) -> Any:
    return x


defvjp(stop_gradient, lambda ans, x: lambda g: anp.zeros_like(x))
defjvp(stop_gradient, lambda g, ans, x: anp.zeros_like(ans))

_erf = np.vectorize(math.erf, otypes=[float])


@primitive
def erf(x: Any) -> Any:
    return _erf(x)


defvjp(erf, lambda ans, x: lambda g: g * 2 / math.sqrt(math.pi) * anp.exp(-(x**2)))
defjvp(erf, lambda g, ans, x: g * 2 / math.sqrt(math.pi) * anp.exp(-(x**2)))

exp, log, expm1, log1p, log2, log10 = anp.exp, anp.log, anp.expm1, anp.log1p, anp.log2, anp.log10
sin, cos, tan, arcsin, arccos, arctan = (
    anp.sin,
    anp.cos,
    anp.tan,
    anp.arcsin,
    anp.arccos,
    anp.arctan,
)
sinh, cosh, tanh, arcsinh, arctan2 = anp.sinh, anp.cosh, anp.tanh, anp.arcsinh, anp.arctan2
sqrt, square, abs, sign, power = anp.sqrt, anp.square, anp.abs, anp.sign, anp.power
maximum, minimum, clip = anp.maximum, anp.minimum, anp.clip
matmul, outer, trace, transpose, reshape = (
    anp.matmul,
    anp.outer,
    anp.trace,
    anp.transpose,
    anp.reshape,
)
broadcast_to, expand_dims, squeeze = anp.broadcast_to, anp.expand_dims, anp.squeeze
concatenate, stack, sum, mean, prod = anp.concatenate, anp.stack, anp.sum, anp.mean, anp.prod
max, min = anp.max, anp.min


def where(condition: Any, a: Any, b: Any) -> Any:
    # autograd's where gives a gradient of the wrong shape to a broadcast 0-d branch
    zeros = np.zeros(np.broadcast_shapes(np.shape(condition), np.shape(a), np.shape(b)))
    return anp.where(condition, a + zeros, b + zeros)


class _NumPy:
    """autograd.numpy as `NP` in the oracle, with the where above."""

    where = staticmethod(where)

    def __getattr__(self, name: str) -> Any:
        return getattr(anp, name)


numpy = _NumPy()


def reciprocal(x: Any) -> Any:
    return 1.0 / x


def sigmoid(x: Any) -> Any:
    return 0.5 * (anp.tanh(x / 2) + 1)


def softplus(x: Any) -> Any:
    return anp.logaddexp(0.0, x)


def relu(x: Any) -> Any:
    return anp.where(x > 0, x, 0.0)  # NOTE: relu'(0) = 0


def dot(a: Any, b: Any) -> Any:
    return anp.dot(a, b)


def einsum(subscripts: str, *operands: Any) -> Any:
    """NumPy's einsum; a letter repeated within an operand (a diagonal) is first gathered by
    fancy indexing, which autograd differentiates (its einsum rule cannot)."""
    if "->" not in subscripts or "." in subscripts:
        return anp.einsum(subscripts, *operands)
    inputs, output = subscripts.split("->")
    specs, arrays = [], []
    for spec, x in zip(inputs.split(","), operands):
        letters = "".join(dict.fromkeys(spec))
        if letters != spec:
            sizes = {c: n for c, n in zip(spec, np.shape(x))}
            grids = np.meshgrid(*(np.arange(sizes[c]) for c in letters), indexing="ij")
            x = x[tuple(grids[letters.index(c)] for c in spec)]
        specs.append(letters)
        arrays.append(x)
    return anp.einsum(",".join(specs) + "->" + output, *arrays)


def var(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    centered = x - anp.mean(x, axis=axis, keepdims=True)
    return anp.mean(centered**2, axis=axis, keepdims=keepdims)


def std(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _safe_sqrt(var(x, axis=axis, keepdims=keepdims))


@primitive
def _safe_sqrt(v: Any) -> Any:
    """sqrt whose derivative at 0 is 0 (PyTorch's std_backward masks result == 0)."""
    return np.sqrt(v)


def _safe_sqrt_slope(ans: Any) -> Any:
    return anp.where(ans > 0, 0.5 / anp.where(ans > 0, ans, 1.0), 0.0)


defvjp(_safe_sqrt, lambda ans, v: lambda g: g * _safe_sqrt_slope(ans))
defjvp(_safe_sqrt, lambda g, ans, v: g * _safe_sqrt_slope(ans))


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    shift = stop_gradient(anp.max(x, axis=axis, keepdims=True))
    total = anp.log(anp.sum(anp.exp(x - shift), axis=axis, keepdims=True)) + shift
    if keepdims:
        return total
    return anp.squeeze(total, axis=axis) if axis is not None else anp.sum(total)


def softmax(x: Any, axis: int = -1) -> Any:
    shifted = x - stop_gradient(anp.max(x, axis=axis, keepdims=True))
    z = anp.exp(shifted)
    return z / anp.sum(z, axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> Any:
    return x - logsumexp(x, axis=axis, keepdims=True)


def take(x: Any, indices: Any, axis: int) -> Any:
    return anp.take(x, indices, axis=axis)


def take_along_axis(x: Any, indices: Any, axis: int) -> Any:
    index = list(np.indices(np.shape(indices), sparse=True))
    index[axis] = np.asarray(indices)
    return x[tuple(index)]


class linalg:  # noqa: N801  (gradgen's gg.linalg namespace)
    inv = staticmethod(anp.linalg.inv)
    solve = staticmethod(anp.linalg.solve)
    det = staticmethod(anp.linalg.det)
    slogdet = staticmethod(anp.linalg.slogdet)
    cholesky = staticmethod(anp.linalg.cholesky)

    @staticmethod
    def norm(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return anp.sqrt(anp.sum(x * x, axis=axis, keepdims=keepdims))


def split(x: Any, sections: int, axis: int = 0) -> list[Any]:
    n = np.shape(x)[axis] // sections
    index = [slice(None)] * np.ndim(x)
    parts = []
    for k in range(sections):
        index[axis] = slice(k * n, (k + 1) * n)
        parts.append(x[tuple(index)])
    return parts


def one_hot(labels: Any, num_classes: int) -> Any:
    return (np.asarray(labels)[..., None] == np.arange(num_classes)).astype(float)


def cross_entropy(logits: Any, labels: Any) -> Any:
    rows = np.arange(np.shape(logits)[0])
    return anp.mean(logsumexp(logits, axis=1) - logits[rows, np.asarray(labels)])


def binary_cross_entropy_with_logits(logits: Any, targets: Any) -> Any:
    return anp.mean(anp.logaddexp(0.0, logits) - targets * logits)


def mse_loss(a: Any, b: Any) -> Any:
    return anp.mean((a - b) ** 2)


def huber_loss(a: Any, b: Any, delta: float = 1.0) -> Any:
    d = a - b
    return anp.mean(where(anp.abs(d) < delta, 0.5 * d * d, delta * (anp.abs(d) - 0.5 * delta)))


def scan(
    f: Any,
    init: Any,
    xs: Any = None,
    length: Any = None,
    reverse: bool = False,
    checkpoint_every: Any = None,
) -> Any:
    """gg.scan: the Python loop over the leading axis of xs, the ys stacked (checkpoints
    change how gradgen's backward gets its values, not what the loop computes)."""
    leaves = list(xs) if isinstance(xs, (tuple, list)) else [xs]
    count = int(length) if xs is None else len(leaves[0])
    carry, ys = init, []
    for t in reversed(range(count)) if reverse else range(count):
        if xs is None:
            x = None
        elif isinstance(xs, (tuple, list)):
            x = type(xs)(leaf[t] for leaf in leaves)
        else:
            x = xs[t]
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    if not ys or ys[0] is None:
        return carry, None
    if isinstance(ys[0], (tuple, list)):
        return carry, type(ys[0])(anp.stack(column) for column in zip(*ys))
    return carry, anp.stack(ys)


def fori_loop(lower: int, upper: int, body: Any, init: Any, while_fun: Any = None) -> Any:
    """gg.fori_loop: the Python loop (with while_fun, a break once it is false)."""
    value = init
    for i in range(lower, upper):
        if while_fun is not None and not while_fun(value):
            break
        value = body(i, value)
    return value


def while_loop(cond: Any, body: Any, init: Any, max_steps: Any = None) -> Any:
    """gg.while_loop: the Python while loop."""
    value, steps = init, 0
    while (max_steps is None or steps < max_steps) and cond(value):
        value = body(value)
        steps += 1
    return value


def cond(pred: Any, true_fun: Any, false_fun: Any, *operands: Any) -> Any:
    """gg.cond: Python's if."""
    return true_fun(*operands) if pred else false_fun(*operands)
