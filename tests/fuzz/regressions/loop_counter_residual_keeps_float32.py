"""The counter i = t + 1 of a fori_loop was stacked as a residual in a float64 array: the
backward read it back as a NumPy float64 and turned a float32 gradient into float64.
Integer residuals are now made again in the backward step. Fuzz seed 8203."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float32"
SEED = 8203
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("x0",), emit=("grad", "jacobian"))
def f(x0: Array[()]):
    t3 = F.fori_loop(1, 6, lambda i, c: 0.5 * (c * 0.1 * i), x0)
    return F.sum(t3)
