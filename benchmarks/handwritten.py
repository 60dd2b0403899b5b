"""Careful hand-written forward + backward for each model: the bar gradgen is measured
against. Each reuses its forward intermediates, works in place where natural and returns
`(value, grads)` like gradgen's `<f>_value_and_grad`."""

from __future__ import annotations

import math

import numpy as np


def linreg(w, b, x, y):
    """mean((x@w + b - y)**2)."""
    n = y.shape[0]
    r = x @ w
    r += b
    r -= y
    value = (r @ r) / n
    r *= 2.0 / n  # dL/dr
    return value, (x.T @ r, r.sum())


def logreg(w, b, x, y):
    """mean(softplus(z) - y*z), z = x@w + b; softplus by logaddexp, sigmoid from it."""
    n = y.shape[0]
    z = x @ w
    z += b
    sp = np.logaddexp(0.0, z)
    value = (sp.sum() - y @ z) / n
    z -= sp  # log(sigmoid(z)) = z - softplus(z), never positive: exp cannot overflow
    g = np.exp(z, out=z)
    g -= y
    g *= 1.0 / n  # dL/dz = (sigmoid(z) - y) / n
    return value, (x.T @ g, g.sum())


def mlp(w1, b1, w2, b2, x, labels):
    """Mean softmax cross-entropy of tanh(x@w1 + b1)@w2 + b2, stable log-softmax."""
    n = x.shape[0]
    rows = np.arange(n)
    h = x @ w1
    h += b1
    np.tanh(h, out=h)
    s = h @ w2
    s += b2
    s -= s.max(axis=1, keepdims=True)  # shifted logits
    e = np.exp(s)
    total = e.sum(axis=1, keepdims=True)
    value = (np.log(total).sum() - s[rows, labels].sum()) / n
    e /= total  # softmax
    e[rows, labels] -= 1.0
    e *= 1.0 / n  # dL/dlogits
    d_w2 = h.T @ e
    d_h = e @ w2.T
    np.multiply(h, h, out=h)
    np.subtract(1.0, h, out=h)
    d_h *= h  # dL/d(pre-activation)
    return value, (x.T @ d_h, d_h.sum(axis=0), d_w2, e.sum(axis=0))


def circuit(w0, w1, w2, x0, x1):
    """1 / (1 + exp(-(w0*x0 + w1*x1 + w2))) on Python floats."""
    f = 1.0 / (1.0 + math.exp(-(w0 * x0 + w1 * x1 + w2)))
    d = f * (1.0 - f)
    return f, (d * x0, d * x1, d)


def elementwise(x, y):
    """sum(log1p(exp(sin(x)*y)) * cos(y))."""
    sx = np.sin(x)
    e = np.exp(sx * y)
    lp = np.log1p(e)
    cy = np.cos(y)
    value = lp @ cy
    denominator = e + 1.0
    e /= denominator  # sigmoid(sin(x)*y)
    e *= cy  # dL/du, u = sin(x)*y
    d_x = np.cos(x)
    d_x *= y
    d_x *= e
    sx *= e
    np.sin(y, out=denominator)
    denominator *= lp
    sx -= denominator  # d_y = dL/du * sin(x) - log1p(...) * sin(y)
    return value, (d_x, sx)


def rosenbrock(x):
    """sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)."""
    a, b = x[:-1], x[1:]
    t = a * a
    np.subtract(b, t, out=t)  # x[1:] - x[:-1]**2
    u = 1.0 - a
    value = 100.0 * (t @ t) + u @ u
    t *= 200.0
    g = np.empty_like(x)
    head = g[:-1]
    np.multiply(a, t, out=head)
    head *= -2.0
    u *= 2.0
    head -= u
    g[-1] = 0.0
    g[1:] += t
    return value, g  # one parameter: one array, as gradgen's wrt="x" gives


def rnn(w_x, w_h, b, w_y, b_y, h0, xs, targets):
    """Backpropagation through time: the states kept in one preallocated array, the weight
    gradients summed over the steps in place."""
    T, N, _ = xs.shape
    H = w_h.shape[0]
    hs = np.empty((T + 1, N, H))
    hs[0] = h0
    for t in range(T):
        z = xs[t] @ w_x
        z += hs[t] @ w_h
        z += b
        np.tanh(z, out=hs[t + 1])
    states = hs[1:]
    err = states @ w_y + b_y - targets
    value = np.mean(err**2)
    d_pred = err * (2.0 / err.size)
    d_w_y = np.tensordot(d_pred, states, axes=([0, 1], [0, 1]))
    d_b_y = d_pred.sum()
    d_w_x = np.zeros_like(w_x)
    d_w_h = np.zeros_like(w_h)
    d_b = np.zeros_like(b)
    d_h = np.zeros((N, H))
    for t in reversed(range(T)):
        d_h += d_pred[t][:, None] * w_y
        d_z = hs[t + 1] ** 2
        np.subtract(1.0, d_z, out=d_z)
        d_z *= d_h
        d_w_x += xs[t].T @ d_z
        d_w_h += hs[t].T @ d_z
        d_b += d_z.sum(axis=0)
        d_h = d_z @ w_h.T
    return value, (d_w_x, d_w_h, d_b, d_w_y, d_b_y)
