"""where(m, t, t) with a mask that broadcasts t: the value was off by the broadcast factor (issue 11)."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float64"
SEED = 0
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("c",), emit=("grad", "jvp", "jacobian", "hessian", "hvp"))
def f(c: Array[1, 1, 1], d: Array[2]):
    t = c - 0.75
    return F.sum(F.where(t <= d, t, t))
