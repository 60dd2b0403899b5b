"""The models in JAX, float64 on the CPU: `jax.jit(jax.value_and_grad(f, argnums=params))`,
compiled once (its compile time reported apart)."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")


def linreg(w, b, x, y):
    return jnp.mean((x @ w + b - y) ** 2)


def logreg(w, b, x, y):
    z = x @ w + b
    return jnp.mean(jax.nn.softplus(z) - y * z)


def mlp(w1, b1, w2, b2, x, labels):
    logits = jnp.tanh(x @ w1 + b1) @ w2 + b2
    log_p = jax.nn.log_softmax(logits, axis=1)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))


def circuit(w0, w1, w2, x0, x1):
    return 1.0 / (1.0 + jnp.exp(-(w0 * x0 + w1 * x1 + w2)))


def elementwise(x, y):
    return jnp.sum(jnp.log1p(jnp.exp(jnp.sin(x) * y)) * jnp.cos(y))


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rnn(w_x, w_h, b, w_y, b_y, h0, xs, targets):
    def step(h, x):
        h = jnp.tanh(x @ w_x + h @ w_h + b)
        return h, h

    _, hs = jax.lax.scan(step, h0, xs)
    return jnp.mean((hs @ w_y + b_y - targets) ** 2)


def prepare(model: str, params: list, data: list):
    """A no-argument callable for one (blocking) call of the jitted value_and_grad, a
    converter of its result, and the seconds the first call took to trace and compile.
    Arrays are put on the device once; the circuit's Python floats are passed as is."""
    fn = jax.jit(jax.value_and_grad(globals()[model], argnums=tuple(range(len(params)))))
    args = [a if isinstance(a, float) else jax.device_put(a) for a in (*params, *data)]

    def run():
        return jax.block_until_ready(fn(*args))

    start = time.perf_counter()
    run()
    compile_seconds = time.perf_counter() - start

    def result(out):
        value, grads = out
        return float(value), [np.asarray(g) for g in grads]

    return run, result, compile_seconds
