"""Circuits from the classic backpropagation tutorials, on scalars."""

import gradgen as gg
from gradgen import Array


@gg.function(wrt=("x", "y", "z"))
def add_mul(x: Array[()], y: Array[()], z: Array[()]):
    q = x + y
    f = q * z
    return f


@gg.function(wrt=("x", "y", "z", "w"))
def max_circuit(x: Array[()], y: Array[()], z: Array[()], w: Array[()]):
    return 2 * (gg.maximum(z, w) + x * y)


@gg.function(wrt=("w0", "x0", "w1", "x1", "w2"))
def neuron(w0: Array[()], x0: Array[()], w1: Array[()], x1: Array[()], w2: Array[()]):
    dot = w0 * x0 + w1 * x1 + w2
    f = 1 / (1 + gg.exp(-dot))
    return f
