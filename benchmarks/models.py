"""The benchmark models as gradgen functions: parameters first, then data.

Compiled in memory by `gradgen.load` (see `benchmarks.contenders`) and, for the compile-time
table, as a whole file by `gradgen.compile_source`.

Ruff reads the dim names in `Array["N", "D"]` as forward references (F821): pyproject's
per-file-ignores exempt this file, as they do examples/.
"""

import gradgen as gg
from gradgen import Array, IntArray


@gg.function(wrt=("w", "b"))
def linreg(w: Array["D"], b: float, x: Array["N", "D"], y: Array["N"]):
    return gg.mean((x @ w + b - y) ** 2)


@gg.function(wrt=("w", "b"))
def logreg(w: Array["D"], b: float, x: Array["N", "D"], y: Array["N"]):
    z = x @ w + b
    return gg.mean(gg.softplus(z) - y * z)


@gg.function(wrt=("w1", "b1", "w2", "b2"))
def mlp(
    w1: Array["D", "H"],
    b1: Array["H"],
    w2: Array["H", "C"],
    b2: Array["C"],
    x: Array["N", "D"],
    labels: IntArray["N"],
):
    hidden = gg.tanh(x @ w1 + b1)
    logits = hidden @ w2 + b2
    return gg.cross_entropy(logits, labels)


@gg.function(wrt=("w0", "w1", "w2"))
def circuit(w0: float, w1: float, w2: float, x0: float, x1: float):
    return 1 / (1 + gg.exp(-(w0 * x0 + w1 * x1 + w2)))


@gg.function(wrt=("x", "y"))
def elementwise(x: Array["N"], y: Array["N"]):
    return gg.sum(gg.log1p(gg.exp(gg.sin(x) * y)) * gg.cos(y))


@gg.function(wrt="x")
def rosenbrock(x: Array["N"]):
    return gg.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@gg.function(wrt=("w_x", "w_h", "b", "w_y", "b_y"))
def rnn(
    w_x: Array["D", "H"],
    w_h: Array["H", "H"],
    b: Array["H"],
    w_y: Array["H"],
    b_y: float,
    h0: Array["N", "H"],
    xs: Array["T", "N", "D"],
    targets: Array["T", "N"],
):
    def step(h, x):
        h = gg.tanh(x @ w_x + h @ w_h + b)
        return h, h

    _, hs = gg.scan(step, h0, xs)
    return gg.mean((hs @ w_y + b_y - targets) ** 2)
