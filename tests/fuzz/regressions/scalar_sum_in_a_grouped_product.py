"""Found by the fuzzer (seed 745): 0.9 * (1 - t2**2) * X, its scalars grouped and evaluated
into the sum 0.9 - 0.9*t2**2, was printed without parentheses (a wrong Hessian)."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = 'float64'
SEED = 745
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {'N': 3, 'M': 2}


@F.function(wrt=('x0',), emit=('grad', 'hessian'))
def f(x0: Array[1, 1]):
    t0 = F.trace(x0)
    t1 = F.arccos(0.9 * F.tanh(t0))
    return F.sum(t1)
