"""Logistic regression: a linear model with a numerically stable binary cross-entropy on
the logits, log(1 + exp(z)) - y*z written as relu(z) + log(1 + exp(-|z|)) - y*z."""

import gradgen as gg
from gradgen import Array


@gg.function(wrt=("w", "b"))
def loss(w: Array["D"], b: Array[()], x: Array["N", "D"], y: Array["N"]):
    z = x @ w + b
    softplus = gg.relu(z) + gg.log(1 + gg.exp(-gg.abs(z)))
    return gg.mean(softplus - y * z)
