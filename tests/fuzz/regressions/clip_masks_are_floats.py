"""clip's gradient was a bool array; clip + relu added two masks, a logical or (True for 2)."""

import numpy as NP

import gradgen as F
from gradgen import Array, IntArray

DTYPE = "float32"
SEED = 2
INDEX_BOUNDS = {}
SCALARS = {}
DIMS = {"N": 3, "M": 2}


@F.function(wrt=("w",), emit=("grad", "jvp", "jacobian", "hvp"))
def f(w: Array[3, "N"]):
    return F.sum(F.clip(w, -1.0, 1.0)) + F.sum(F.clip(w, -0.5, 0.5) + F.relu(w))
