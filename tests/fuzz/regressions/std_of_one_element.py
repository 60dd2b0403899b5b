"""std of one element: nan gradient, JVP disagreeing with VJP (PyTorch gives 0)."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float64"
SEED = 3
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("x",), emit=("grad", "jvp", "jacobian"))
def f(x: Array[1], y: Array[2, 3]):
    return F.std(x) + F.sum(F.std(y, axis=0)) + F.sum(F.std(y[:1], axis=0))
