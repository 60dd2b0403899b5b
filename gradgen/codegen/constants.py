"""Constants printed as what they are: `8**0.5`, not `2.8284271247461903`.

Python evaluates `q @ k.T / 8**0.5` before gradgen sees it, and the derivative of a
division by it is a multiplication by `0.35355339059327373`. A float that is exactly the
square root of a small integer (or one over it) prints as that root, so the module reads
`scores /= 8**0.5` and `d_scores /= 8**0.5`. The root is a Python float (`8**0.5`, folded
by the compiler), never a NumPy scalar, which would promote a float32 array to float64.
"""

from __future__ import annotations

import math

MAX_RADICAND = 10_000  # larger roots read no better than their digits


def square_root(value: float) -> str | None:
    """`n**0.5` when `value` is exactly the float square root of the integer n (not a
    perfect square, at most MAX_RADICAND), else None."""
    if not math.isfinite(value) or value <= 1:
        return None
    n = round(value * value)
    if n > MAX_RADICAND or math.isqrt(n) ** 2 == n or n**0.5 != value:
        return None
    return f"{n}**0.5"


def reciprocal_square_root(value: float) -> str | None:
    """`n**0.5` when `value` is exactly `1 / n**0.5` (so that `x * value` reads
    `x / n**0.5`), else None."""
    root = reciprocal_root(value)
    return None if root is None else square_root(root)


def reciprocal_root(value: float) -> float | None:
    """`n**0.5` (the float, which prints as `n**0.5`) when `value` is exactly
    `1 / n**0.5` for an integer n that is not a perfect square, at most MAX_RADICAND."""
    if not math.isfinite(value) or not 0 < value < 1:
        return None
    n = round(1 / (value * value))
    if n > MAX_RADICAND or math.isqrt(n) ** 2 == n or 1 / n**0.5 != value:
        return None
    return float(n**0.5)
