"""Found by the fuzzer (seed 7385): 1/3 * one_hot (a Python number times a mask) is a float64
array: subtracted from float32 terms it made the float32 gradient float64."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = 'float32'
SEED = 7385
INDEX_BOUNDS = {'i2': 3}
SCALARS = {}
DIMS = {'N': 3, 'M': 2}


@F.function(wrt=('x1',), emit=('grad',))
def f(x1: Array[3, 4], i2: IntArray[3]):
    t0 = F.linalg.cholesky(x1 @ F.transpose(x1))
    t1 = F.cross_entropy(t0, i2)
    t3 = F.where(t1 > 0.0, t0, 0.0)
    return F.sum(t1) + F.sum(t3) + F.sum(x1)
