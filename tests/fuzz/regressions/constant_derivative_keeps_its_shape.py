"""log10(exp(x)) has a constant derivative: the gradient came back as a Python float of shape ()."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float64"
SEED = 8
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("x0", "x1"), emit=("grad", "jvp", "jacobian"))
def f(x0: Array["M", 1], x1: Array[1]):
    t0 = F.log10(F.exp(x1))
    return F.sum(t0) + F.sum(x1)
