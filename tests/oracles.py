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


def _rosenbrock(x):
    return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _logsumexp(a, axis):
    shift = anp.max(a, axis=axis, keepdims=True)
    return anp.log(anp.sum(anp.exp(a - shift), axis=axis)) + anp.squeeze(shift, axis=axis)


def _gaussian_mixture_nll(logits, means, log_stds, x):
    log_weights = logits - _logsumexp(logits, 0)
    z = (x[:, None, :] - means[None]) / anp.exp(log_stds)[None]
    log_prob = -anp.sum(0.5 * z**2 + log_stds[None] + 0.5 * anp.log(2 * anp.pi), axis=2)
    return -anp.mean(_logsumexp(log_weights[None, :] + log_prob, 1))


def _attention_loss(w_q, w_k, w_v, gamma, beta, x, target):
    scores = anp.dot(anp.dot(x, w_q), anp.dot(x, w_k).T) / anp.sqrt(8.0)
    weights = anp.exp(scores - _logsumexp(scores, 1)[:, None])
    y = x + anp.dot(weights, anp.dot(x, w_v))
    centered = y - anp.mean(y, axis=-1, keepdims=True)
    variance = anp.mean(centered**2, axis=-1, keepdims=True)
    normalized = centered / anp.sqrt(variance + 1e-5) * gamma + beta
    return anp.mean((normalized - target) ** 2)


def _mlp_loss(w1, b1, w2, b2, x, labels):
    logits = anp.dot(anp.tanh(anp.dot(x, w1) + b1), w2) + b2
    log_p = logits - _logsumexp(logits, 1)[:, None]
    return -anp.mean(log_p[anp.arange(len(labels)), labels])


ORACLES.update(
    {
        ("rosenbrock", "rosenbrock"): _rosenbrock,
        ("gaussian_mixture", "nll"): _gaussian_mixture_nll,
        ("attention", "loss"): _attention_loss,
        ("mlp", "loss"): _mlp_loss,
    }
)


def _newton_loss(w, b, x, y, l2):
    z = anp.dot(x, w) + b
    return anp.mean(anp.logaddexp(0.0, z) - y * z) + 0.5 * l2 * anp.sum(w**2)


def _sin(x):
    return anp.sin(x)


def _layers(x, w1, b1, w2):
    return anp.dot(anp.tanh(anp.dot(x, w1) + b1), w2)


def _classifier_loss(w, b, x, y):
    """The value only; its aux is in AUX_ORACLES."""
    z = anp.dot(x, w) + b
    return anp.mean(anp.logaddexp(0.0, z) - y * z)


ORACLES.update(
    {
        ("newton", "loss"): _newton_loss,
        ("sin_derivative", "f"): _sin,
        ("vector_jacobian", "layers"): _layers,
        ("classifier_with_accuracy", "loss"): _classifier_loss,
    }
)


def _classifier_aux(w, b, x, y):
    z = x @ w + b
    return {"accuracy": anp.mean((z > 0) == (y > 0.5)), "positive_rate": anp.mean(z > 0)}


# The aux dict of each has_aux example, computed with plain NumPy.
AUX_ORACLES = {("classifier_with_accuracy", "loss"): _classifier_aux}
