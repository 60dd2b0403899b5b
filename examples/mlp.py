"""A one-hidden-layer MLP classifier: tanh, then softmax cross-entropy with integer labels.
Sized for 8x8 digit images (64 features, 10 classes); see train_mlp.py."""

import gradgen as gg
from gradgen import Array, IntArray


@gg.function(wrt=("w1", "b1", "w2", "b2"))
def loss(
    w1: Array[64, "H"],
    b1: Array["H"],
    w2: Array["H", 10],
    b2: Array[10],
    x: Array["N", 64],
    labels: IntArray["N"],
):
    hidden = gg.tanh(x @ w1 + b1)
    logits = hidden @ w2 + b2
    return gg.cross_entropy(logits, labels)
