"""gradgen: trace a NumPy-style loss once, apply the chain rule symbolically, and emit a
standalone NumPy module with hand-written-style forward and backward functions.

The public API: `function` (the decorator), the `Array` / `IntArray` annotations, the
NumPy-like ops and constants, `elementwise` for user-defined ops, `custom_vjp` and
`custom_jvp` for user-given derivative rules, `compile_source`, `load` and `check`.
"""

from gradgen import functions as _functions
from gradgen import linalg
from gradgen.api import Function, function
from gradgen.checking import check
from gradgen.compiler import compile_source, load
from gradgen.custom import custom_jvp, custom_vjp
from gradgen.errors import GradgenError
from gradgen.functions import *  # noqa: F403  (the NumPy-like ops: gg.exp, gg.sum, ...)
from gradgen.shapes import Array, IntArray
from gradgen.version import __version__

__all__ = [
    "Array",
    "Function",
    "GradgenError",
    "check",
    "IntArray",
    "__version__",
    "compile_source",
    "custom_jvp",
    "custom_vjp",
    "function",
    "linalg",
    "load",
    *_functions.__all__,
]
