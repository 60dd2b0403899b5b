"""In f_hessian, the forward while loop, extended with tangents where it stood, was put
after the backward loop over the steps it counts (dependency order followed data only,
not the dim `steps` the while loop binds): UnboundLocalError. Fuzz seed 100035."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float64"
SEED = 100035
INDEX_BOUNDS = {}
SCALARS = {"x1": "array"}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("x1",), emit=("grad", "hessian"))
def f(x1: Array[()]):
    t0 = F.while_loop(lambda s: s[1] + 0.0 * F.sum(s[0]) < 1.0, lambda s: ((lambda c: 0.5 * (c * 0.5))(s[0]), s[1] + 1.0), (x1, 0.0))[0]
    t2 = -t0
    return F.sum(t2)
