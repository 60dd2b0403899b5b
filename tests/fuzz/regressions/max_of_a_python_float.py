"""max and min of a Python float: 'float' object has no attribute 'dtype'."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float64"
SEED = 5
INDEX_BOUNDS = {}
SCALARS = {"x": "python", "z": "numpy"}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("x", "z"), emit=("grad", "jvp", "hessian", "hvp"))
def f(x: Array[()], z: Array[()]):
    t = 0.5 * x
    return F.max(t) + F.min(x * z) + F.sum(F.expand_dims(F.min(t), 0))
