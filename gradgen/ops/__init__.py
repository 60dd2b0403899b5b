"""Every primitive op, one module per family; importing this package registers them all."""

from gradgen.ops import control, elementwise, indexing, linalg, reduce, shape  # noqa: F401
from gradgen.ops.registry import OPS, Op

__all__ = ["OPS", "Op"]
