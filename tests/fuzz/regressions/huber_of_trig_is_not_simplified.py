"""The huber loss of a tanh of an arctan2 of an arccos, fused into one elementwise
expression: `sympy.simplify` of its derivative (a Piecewise over trig functions) ran for
minutes, and the compile never finished. simplify now runs only on small expressions
without a Piecewise."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = 'float64'
SEED = 44822
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {'N': 3, 'M': 2}


@F.function(wrt=('x0', 'x1'), emit=('grad',))
def f(x0: Array[3, 'N', 2], x1: Array[3, 'N', 2]):
    t0 = F.arccos(0.9 * F.tanh(x0))
    t1 = F.arctan2(t0, x0)
    t4 = F.huber_loss(F.tanh(t1), x1)
    return F.sum(t4)
