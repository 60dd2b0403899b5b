"""NumPy functions on traced values (np.prod, np.max, np.min, np.dot, np.matmul, np.einsum) were refused."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float64"
SEED = 6
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("x", "w"), emit=("grad", "jvp"))
def f(x: Array[2, 3], w: Array[3, 2]):
    t = NP.prod(x) + NP.max(x) + NP.sum(NP.min(x, axis=0))
    return t + NP.sum(NP.dot(x, w)) + NP.sum(NP.matmul(x, w)) + NP.einsum("ij,ji->", x, w)
