"""Found by the fuzzer (seed 377): sum(t0 * x0) with t0 of (1,), x0 of (M,) was printed
as the dot product t0 @ x0, which cannot run (and t0.sum() would sum one copy, not M)."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = 'float64'
SEED = 377
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {'N': 3, 'M': 2}


@F.function(wrt=('x1',), emit=('grad',))
def f(x0: Array['M'], x1: Array[1]):
    t1 = F.binary_cross_entropy_with_logits(x0, F.sigmoid(x1))
    return F.sum(t1)
