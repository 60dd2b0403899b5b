"""A backward loop's start took the name of its carry after the forward loop had used
that name for a temporary of its own: the forward loop overwrote the start, and the
Hessian was off by 10%. Every name a function's loops bind is now taken once. Fuzz seed
100159."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float64"
SEED = 100159
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("x0", "x2"), emit=("grad", "hessian"))
def f(x0: Array["M", "N", "M"], x2: Array[3, "M", 1, "M"]):
    t1 = F.exp(x0)
    t5 = F.scan(lambda c, s: (F.sin(c ** 2 * 0.5), F.sqrt((c * s) * (c * s) + 0.1)), t1, x2)[0]
    return F.sum(t5)
