"""einsum with repeated letters (diagonals, traces) and with '...' was refused."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float64"
SEED = 7
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("a", "b", "c"), emit=("grad", "jvp", "jacobian", "hessian"))
def f(a: Array[3, 3], b: Array[2, 1, 3], c: Array[3, 2, 3]):
    t = F.sum(F.einsum("ii->i", a)) + F.einsum("ii->", a) + F.sum(F.einsum("iji->j", c))
    return t + F.sum(F.einsum("...j,jk->...k", b, a)) + F.sum(F.einsum("...i,...i", b, a))
