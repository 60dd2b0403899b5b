"""The backward loop of a while loop runs for the steps the forward loop ran, a dim only
the forward loop binds; in f_jacobian nothing else read the forward loop, dead-code
elimination dropped it, and the code read `steps` unbound (NameError). Fuzz seed 115."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float64"
SEED = 115
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("x0",), emit=("grad", "jacobian"))
def f(x0: Array["N", 1]):
    step = lambda s: (F.arctan(s[0] - s[0]), s[1] + 1.0)  # noqa: E731
    t2 = F.while_loop(lambda s: s[1] + 0.0 * F.sum(s[0]) < 0.0, step, (x0, 0.0), max_steps=2)[0]
    return F.sum(t2)
