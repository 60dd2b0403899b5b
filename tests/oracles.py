"""Each example function written again, independently, with autograd.numpy: the oracle
the generated gradients are checked against. Keyed by (example file stem, function)."""

import autograd.numpy as anp


def _linear_regression_loss(w, b, x, y):
    return anp.mean((y - (anp.dot(x, w) + b)) ** 2)


def _logistic_regression_loss(w, b, x, y):
    z = anp.dot(x, w) + b
    return anp.mean(anp.logaddexp(0.0, z) - y * z)


def _add_mul(x, y, z):
    return (x + y) * z


def _max_circuit(x, y, z, w):
    return 2.0 * (anp.maximum(z, w) + x * y)


def _neuron(w0, x0, w1, x1, w2):
    return 1.0 / (1.0 + anp.exp(-(w0 * x0 + w1 * x1 + w2)))


def _quadratic(x):
    return 2.0 * anp.dot(x.T, x)


def _scaled_square(x):
    return 2.0 * x * x


ORACLES = {
    ("linear_regression", "loss"): _linear_regression_loss,
    ("logistic_regression", "loss"): _logistic_regression_loss,
    ("circuits", "add_mul"): _add_mul,
    ("circuits", "max_circuit"): _max_circuit,
    ("circuits", "neuron"): _neuron,
    ("vector_gradients", "quadratic"): _quadratic,
    ("vector_gradients", "scaled_square"): _scaled_square,
}
