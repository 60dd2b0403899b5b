"""A negated product whose first factor is a comparison (the clip's mask) printed as
`-(a > 0) * (b > 0) * d_value`: Python negates the bools first, which NumPy refuses. The
printer now puts a float factor first (`-d_value * (a > 0) * (b > 0)`)."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = 'float64'
SEED = 45292
INDEX_BOUNDS = {}
SCALARS = {'x1': 'array', 'x2': 'array'}
DIMS = {'N': 3, 'M': 2}


@F.function(wrt=('x1',), emit=('grad', 'jacobian'))
def f(x1: Array[()], x2: Array[()], x3: Array[3, 3]):
    t1 = x1 - x2
    t2 = NP.clip(t1, -1.0, 0.3)
    t4 = F.where(x3 > 0.0, t2, 0.0)
    return t4
