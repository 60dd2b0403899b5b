"""Binary elementwise ops at broadcasting shapes drawn by hypothesis: values and gradients
(summed back to each argument's shape) against HIPS autograd, in float64 and float32.
Derandomized, so the drawn shapes are the same on every run."""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra.numpy import mutually_broadcastable_shapes
from support import oracle_vjp, relative_error

import gradgen as gg
from gradgen import Array

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 1.0), lambda a, b: a / (b * b + 1.0)),
    "maximum": (gg.maximum, anp.maximum),
    "arctan2": (gg.arctan2, anp.arctan2),
    "where": (
        lambda a, b: gg.where(a > b, a * b, a + b),
        lambda a, b: anp.where(a > b, a * b, a + b),
    ),
}
SHAPES = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


def _compile(body: Any, shapes: tuple[tuple[int, ...], ...]) -> Any:
    def f(a, b):  # noqa: ANN001
        return body(a, b)

    f.__annotations__ = {"a": Array[shapes[0]], "b": Array[shapes[1]]}
    return gg.load(gg.function(f, wrt=("a", "b")))


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=12, deadline=None, derandomize=True)
@given(shapes=SHAPES)
def test_binary_op_at_broadcasting_shapes(name: str, shapes: Any) -> None:
    traced, oracle = BINARY[name]
    a_shape, b_shape = shapes.input_shapes
    module = _compile(traced, (a_shape, b_shape))
    rng = np.random.default_rng(len(a_shape) * 10 + len(b_shape))
    a, b = rng.normal(size=a_shape), rng.normal(size=b_shape)
    value, saved = module.f_forward(a, b)
    np.testing.assert_allclose(value, oracle(a, b), rtol=1e-13, atol=1e-15)
    head = rng.normal(size=np.shape(value))
    d_a, d_b = module.f_backward(saved, head)
    broadcast = np.ones(shapes.result_shape)  # autograd's where does not unbroadcast
    for index, (argument, grad) in enumerate(((a, d_a), (b, d_b))):
        assert np.shape(grad) == np.shape(argument)
        expected = oracle_vjp(
            lambda x, y: oracle(x * broadcast, y * broadcast), [a, b], index, head
        )
        assert relative_error(grad, expected) < 1e-12, (shapes, grad, expected)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    value32, grads32 = (
        module.f_value_and_grad(a32, b32)
        if np.size(value) == 1
        else (
            module.f(a32, b32),
            module.f_backward(module.f_forward(a32, b32)[1], head.astype(np.float32)),
        )
    )
    assert np.asarray(value32).dtype == np.float32
    assert all(np.asarray(g).dtype == np.float32 for g in grads32)
