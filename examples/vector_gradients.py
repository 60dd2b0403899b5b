"""Gradients of vector expressions: y = 2 xᵀx (gradient 4x), and a non-scalar output
backpropagated with a head gradient (the vector-Jacobian product)."""

import gradgen as gg
from gradgen import Array


@gg.function(wrt="x")
def quadratic(x: Array["N", 1]):
    y = 2 * x.T @ x
    return y


@gg.function(wrt="x")
def scaled_square(x: Array["N"]):
    y = 2 * x
    z = y * x
    return z
