"""Every primitive op, one module per family; importing this package registers them all."""

from gradgen.ops import elementwise, linalg, reduce, shape  # noqa: F401  (registration)
from gradgen.ops.registry import OPS, Op

__all__ = ["OPS", "Op"]
