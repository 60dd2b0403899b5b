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


def _rnn_loss(w_x, w_h, b, w_y, b_y, h0, xs, targets):
    """The recurrence as a Python loop (autograd records every step)."""
    h, predictions = h0, []
    for t in range(xs.shape[0]):
        h = anp.tanh(anp.dot(xs[t], w_x) + anp.dot(h, w_h) + b)
        predictions.append(anp.dot(h, w_y) + b_y)
    return anp.mean((anp.stack(predictions) - targets) ** 2)


def _ode_final_miss(log_stiffness, log_damping, y0, target, steps=1000, dt=0.01):
    """RK4 on the pendulum's angle and velocity as two scalars (autograd is fastest so)."""
    stiffness, damping = anp.exp(log_stiffness), anp.exp(log_damping)

    def field(angle, velocity):
        return velocity, -stiffness * anp.sin(angle) - damping * velocity

    angle, velocity = y0[0], y0[1]
    for _ in range(steps):
        a1, v1 = field(angle, velocity)
        a2, v2 = field(angle + 0.5 * dt * a1, velocity + 0.5 * dt * v1)
        a3, v3 = field(angle + 0.5 * dt * a2, velocity + 0.5 * dt * v2)
        a4, v4 = field(angle + dt * a3, velocity + dt * v3)
        angle = angle + dt / 6.0 * (a1 + 2.0 * a2 + 2.0 * a3 + a4)
        velocity = velocity + dt / 6.0 * (v1 + 2.0 * v2 + 2.0 * v3 + v4)
    return (angle - target[0]) ** 2 + (velocity - target[1]) ** 2


def _eccentric_anomaly(mean_anomaly, eccentricity):
    """Newton's method as a Python while loop (autograd records the steps it runs)."""
    e = 0.9 / (1.0 + anp.exp(-eccentricity))
    anomaly, step, steps = mean_anomaly, anp.ones_like(mean_anomaly), 0
    while steps < 50 and anp.max(anp.abs(step)) > 1e-12:
        step = (anomaly - e * anp.sin(anomaly) - mean_anomaly) / (1.0 - e * anp.cos(anomaly))
        anomaly = anomaly - step
        steps += 1
    return anp.sum(anomaly)


def _control_flow(a):
    """The D2L chapter's function, in Python with autograd."""
    b = a * 2
    while anp.sqrt(anp.sum(b * b)) < 1000:
        b = b * 2
    return b if anp.sum(b) > 0 else 100 * b


ORACLES.update(
    {
        ("control_flow", "f"): _control_flow,
        ("rnn", "loss"): _rnn_loss,
        ("ode", "final_miss"): _ode_final_miss,
        ("kepler", "eccentric_anomaly"): _eccentric_anomaly,
    }
)


def _classifier_aux(w, b, x, y):
    z = x @ w + b
    return {"accuracy": anp.mean((z > 0) == (y > 0.5)), "positive_rate": anp.mean(z > 0)}


# The aux dict of each has_aux example, computed with plain NumPy.
AUX_ORACLES = {("classifier_with_accuracy", "loss"): _classifier_aux}
