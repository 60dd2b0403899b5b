"""A gradient whose operands cancel as printed (t + 1/log(10) - t) was a bare Python float
for a 0-d array parameter: the declared type was checked on the unprinted expression."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = 'float64'
SEED = 10788
INDEX_BOUNDS = {}
SCALARS = {'x0': 'array'}
DIMS = {'N': 3, 'M': 2}


@F.function(wrt=('x0',), emit=('grad',))
def f(x0: Array[()], x1: Array[()]):
    t0 = F.var(x0)
    t1 = F.log10(F.exp(x0))
    return F.sum(t0) + F.sum(t1) + F.sum(x1)
