"""Found by the fuzzer (seed 3405): cross_entropy minus its one-hot mask printed `- 1 * t1`
(NumPy cannot negate a bool), an int64 array that turned a float32 gradient into float64."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = 'float32'
SEED = 3405
INDEX_BOUNDS = {'i1': 3}
SCALARS = {}
DIMS = {'N': 3, 'M': 2}


@F.function(wrt=('x0',), emit=('grad',))
def f(x0: Array[1, 3], i1: IntArray[1], x2: Array[1, 3]):
    t0 = F.cross_entropy(x0, i1)
    t2 = NP.where(x0 < 0.0, x0, x2)
    return F.sum(t0) + F.sum(t2) + F.sum(x2)
