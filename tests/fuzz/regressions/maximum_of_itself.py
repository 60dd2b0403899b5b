"""maximum(a, a) and minimum(a, a): gradients of a smaller shape, or a Python int (issue 11)."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float32"
SEED = 1
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("a",), emit=("grad", "jvp", "hessian"))
def f(a: Array[2, 2, 3], b: Array[2, 1, 3]):
    return F.sum(F.maximum(a, a)) + F.sum(F.minimum(b, b) * a)
