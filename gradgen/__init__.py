"""gradgen: trace a NumPy-style loss once, apply the chain rule symbolically, and emit a
standalone NumPy module with hand-written-style forward and backward functions.

The public API: `function` (the decorator), the `Array` / `IntArray` annotations, the
NumPy-like ops, and `compile_source`.
"""

from gradgen.api import Function, function
from gradgen.compiler import compile_source, load
from gradgen.errors import GradgenError
from gradgen.functions import (
    abs,
    cos,
    exp,
    log,
    matmul,
    maximum,
    mean,
    minimum,
    relu,
    sigmoid,
    sin,
    sqrt,
    sum,
    tanh,
    transpose,
)
from gradgen.shapes import Array, IntArray
from gradgen.version import __version__

__all__ = [
    "Array",
    "Function",
    "GradgenError",
    "IntArray",
    "__version__",
    "abs",
    "compile_source",
    "cos",
    "exp",
    "function",
    "load",
    "log",
    "matmul",
    "maximum",
    "mean",
    "minimum",
    "relu",
    "sigmoid",
    "sin",
    "sqrt",
    "sum",
    "tanh",
    "transpose",
]
