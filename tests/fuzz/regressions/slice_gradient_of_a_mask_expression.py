"""The gradient of a slice computed in its region of the whole gradient took the dtype of
its expression's one array operand, a mask (`where(t1 > x3, t1, x3)`'s `t0`): the gradient
was allocated as bool, and the float result could not be written into it. An expression
of masks and numbers only is now computed on its own. Fuzz seed 207558 (a bug older than
loops)."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float64"
SEED = 207558
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("x0",), emit=("grad",))
def f(x0: Array[3, "N"], x3: Array[2, 1]):
    t1 = x0[1:]
    t2 = NP.multiply(t1, -1.5)
    t3 = F.where(t1 > x3, t1, x3)
    return F.sum(t2) + F.sum(t3)
