"""Linear regression: the mean squared error of a linear model, differentiated for w and b."""

import gradgen as gg
from gradgen import Array


@gg.function(wrt=("w", "b"))
def loss(w: Array["D"], b: Array[()], x: Array["N", "D"], y: Array["N"]):
    z = x @ w
    y_hat = z + b
    e = y - y_hat
    return gg.mean(e**2)
