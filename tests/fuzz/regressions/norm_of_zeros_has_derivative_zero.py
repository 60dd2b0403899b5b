"""The norm of a value that is zero here (a where's 0 branch): its JVP was
sum(2 * t3 * t3_dot) / (2 * norm) = 0 / 0 = nan, where autograd and PyTorch give 0. The
norm's square root now has derivative 0 at 0 (`sqrt_of_squares`), as std's has."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = 'float64'
SEED = 49574
INDEX_BOUNDS = {}
SCALARS = {'x0': 'array'}
DIMS = {'N': 3, 'M': 2}


@F.function(wrt=('x0',), emit=('grad', 'jvp'))
def f(x0: Array[()]):
    t0 = NP.multiply(x0, 2.0)
    t3 = F.where(t0 > 0.0, x0, 0.0)
    t4 = F.linalg.norm(t3)
    return F.sum(t4)
