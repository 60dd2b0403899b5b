"""The models in HIPS autograd (tracing on every call): `autograd.value_and_grad` with
`argnum` the parameters."""

from __future__ import annotations

import autograd
import autograd.numpy as anp
from autograd.scipy.special import logsumexp


def linreg(w, b, x, y):
    return anp.mean((anp.dot(x, w) + b - y) ** 2)


def logreg(w, b, x, y):
    z = anp.dot(x, w) + b
    return anp.mean(anp.logaddexp(0.0, z) - y * z)


def mlp(w1, b1, w2, b2, x, labels):
    logits = anp.dot(anp.tanh(anp.dot(x, w1) + b1), w2) + b2
    log_p = logits - logsumexp(logits, axis=1, keepdims=True)
    return -anp.mean(log_p[anp.arange(x.shape[0]), labels])


def circuit(w0, w1, w2, x0, x1):
    return 1.0 / (1.0 + anp.exp(-(w0 * x0 + w1 * x1 + w2)))


def elementwise(x, y):
    return anp.sum(anp.log1p(anp.exp(anp.sin(x) * y)) * anp.cos(y))


def rosenbrock(x):
    return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rnn(w_x, w_h, b, w_y, b_y, h0, xs, targets):
    h, states = h0, []
    for t in range(xs.shape[0]):
        h = anp.tanh(anp.dot(xs[t], w_x) + anp.dot(h, w_h) + b)
        states.append(h)
    return anp.mean((anp.dot(anp.stack(states), w_y) + b_y - targets) ** 2)


def prepare(model: str, params: list, data: list):
    """A no-argument callable for one value-and-gradients call and a result converter."""
    argnum = tuple(range(len(params))) if len(params) > 1 else 0
    fn = autograd.value_and_grad(globals()[model], argnum=argnum)
    args = (*params, *data)

    def run():
        return fn(*args)

    def result(out):
        value, grads = out
        return float(value), list(grads) if isinstance(grads, tuple) else [grads]

    return run, result
