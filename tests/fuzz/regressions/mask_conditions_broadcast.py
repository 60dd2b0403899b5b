"""A 0-d mask and an array mask in one condition: np.logical_and.reduce could not broadcast them."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float64"
SEED = 456
INDEX_BOUNDS = {}
SCALARS = {"x1": "array"}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("x0", "x2"), emit=("grad", "jvp", "jacobian"))
def f(x0: Array[3, 3, "M"], x1: Array[()], x2: Array[2], x3: Array[2], x4: Array[1, 2]):
    t1 = NP.where(x1 < 0.0, x1, x2)
    t3 = F.where(t1 > x3, t1, x3)
    return F.where(x4 >= t3, x4 * t3, x4)
