"""A single-head self-attention block with a residual connection and layer norm, fitted to
targets by mean squared error."""

import gradgen as gg
from gradgen import Array


@gg.function(wrt=("w_q", "w_k", "w_v", "gamma", "beta"))
def loss(
    w_q: Array[8, 8],
    w_k: Array[8, 8],
    w_v: Array[8, 8],
    gamma: Array[8],
    beta: Array[8],
    x: Array["T", 8],
    target: Array["T", 8],
):
    q = x @ w_q
    k = x @ w_k
    v = x @ w_v
    scores = q @ k.T / 8**0.5
    attended = gg.softmax(scores, axis=-1) @ v
    y = x + attended
    mean = gg.mean(y, axis=-1, keepdims=True)
    variance = gg.var(y, axis=-1, keepdims=True)
    normalized = (y - mean) / gg.sqrt(variance + 1e-5) * gamma + beta
    return gg.mse_loss(normalized, target)
