"""An Elman RNN read out at every step, over sequences of any length T: `gg.scan` runs the
recurrence, so the generated module holds one `for` loop forward and one reversed loop
backward (backpropagation through time), whatever T is when it runs. See train_rnn.py."""

import gradgen as gg
from gradgen import Array


@gg.function(wrt=("w_x", "w_h", "b", "w_y", "b_y"))
def loss(
    w_x: Array["D", "H"],
    w_h: Array["H", "H"],
    b: Array["H"],
    w_y: Array["H"],
    b_y: Array[()],
    h0: Array["N", "H"],
    xs: Array["T", "N", "D"],
    targets: Array["T", "N"],
):
    def step(h, x):
        h = gg.tanh(x @ w_x + h @ w_h + b)
        return h, h

    _, hs = gg.scan(step, h0, xs)
    predictions = hs @ w_y + b_y
    return gg.mean((predictions - targets) ** 2)
