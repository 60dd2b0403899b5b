"""Found by the fuzzer (seed 549): the hvp of huber_loss of a log_softmax left SymPy's
unevaluated Derivative(sign(u)) (u holds a log, complex to SymPy), which no printer prints."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = 'float64'
SEED = 549
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {'N': 3, 'M': 2}


@F.function(wrt=("x1",), emit=("grad", "hvp"))
def f(x1: Array[1, 2], x2: Array[2, 2]):
    t1 = F.log_softmax(x2, axis=0)
    return F.huber_loss(t1, x1)
