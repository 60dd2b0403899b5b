"""A mask computed in one branch of a cond and read by its backward (`where(c > 0, ...)`)
was a residual slot the other branch filled with float zeros: the branches gave results
of different types (IRError). Integer residuals are now made again in the backward from
their operands. Fuzz seed 8194."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float64"
SEED = 8194
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("x0",), emit=("grad",))
def f(x0: Array[1], x4: Array[2, 2], x1: Array[1]):
    t1 = F.maximum(x0, x1)
    t5 = F.cond(F.sum(x4) > 0.5, lambda c: NP.cos(F.where(c > 0.0, c, 0.0)), lambda c: F.arctan(F.power(F.exp(c), c)), t1)
    return F.sum(t5)
