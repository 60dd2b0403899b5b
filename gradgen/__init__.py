"""gradgen: trace a NumPy-style loss once, apply the chain rule symbolically, and emit a
standalone NumPy module with hand-written-style forward and backward functions.

The public API: `function` (the decorator), the `Array` / `IntArray` annotations, the
NumPy-like ops and constants, `elementwise` for user-defined ops, `custom_vjp` and
`custom_jvp` for user-given derivative rules, `compile_source`, `load` and `check`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gradgen import functions as _functions
from gradgen import linalg
from gradgen.api import Function, function
from gradgen.errors import GradgenError
from gradgen.functions import *  # noqa: F403  (the NumPy-like ops: gg.exp, gg.sum, ...)
from gradgen.loops import cond, fori_loop, scan, while_loop
from gradgen.shapes import Array, IntArray
from gradgen.version import __version__

if TYPE_CHECKING:
    from gradgen.checking import check
    from gradgen.compiler import compile_source, load
    from gradgen.custom import custom_jvp, custom_vjp

# Loaded on first use: the compiler brings SymPy, black and jinja2, which a model file's
# import (or training code that imports one) does not need.
_LAZY = {
    "check": "gradgen.checking",
    "compile_source": "gradgen.compiler",
    "load": "gradgen.compiler",
    "custom_jvp": "gradgen.custom",
    "custom_vjp": "gradgen.custom",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gradgen' has no attribute {name!r}{_did_you_mean(name)}")


def _did_you_mean(name: str) -> str:
    """`; did you mean gg.tanh?` for a misspelled public name (`gg.tahn`), else ''."""
    from gradgen.errors import closest_name

    close = closest_name(name, [*__all__, *_LAZY])
    return f"; did you mean gg.{close}?" if close else ""


__all__ = [
    "Array",
    "Function",
    "GradgenError",
    "check",
    "cond",
    "IntArray",
    "__version__",
    "compile_source",
    "custom_jvp",
    "custom_vjp",
    "fori_loop",
    "function",
    "linalg",
    "load",
    "scan",
    "while_loop",
    *_functions.__all__,
]
