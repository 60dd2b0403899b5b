"""power(0, y) crashed the compiler (KeyError: 'ComplexInfinity')."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float64"
SEED = 4
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("y",), emit=("grad", "jvp", "hessian"))
def f(y: Array[3]):
    return F.sum(F.power(0.0, F.exp(y))) + F.sum(F.power(F.exp(y), y))
