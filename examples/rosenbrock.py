"""The Rosenbrock function of a long vector, written with slices."""

import gradgen as gg
from gradgen import Array


@gg.function(wrt="x")
def rosenbrock(x: Array["N"]):
    return gg.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
