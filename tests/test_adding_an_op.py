"""Adding an op takes one row (what it is) and, when it is differentiable and not
elementwise, one rule entry: everything else (tracing, both modes, batching for Jacobians
and Hessians, printing, the generated module) follows from them. np.triu is the example:
linear, acting on the trailing two axes."""

from __future__ import annotations

import numpy as np
import pytest
from autograd import grad, hessian, jacobian
from autograd import numpy as anp
from support import compile_to_module

import gradgen as gg
from gradgen import Array
from gradgen.derivatives import RULES, deflinear
from gradgen.graph_builder import apply
from gradgen.ops import OPS
from gradgen.ops.registry import FRESH, Op, register, same_as_first


def _square_matrices(shapes, params):  # noqa: ANN001, ANN202
    return shapes[0], params


@pytest.fixture
def triu():  # noqa: ANN201
    """The new op, for one test (the registry is global)."""
    register(
        Op(
            "triu",
            1,
            _square_matrices,
            np.triu,
            same_as_first,
            numpy="triu",  # printed as np.triu(x)
            memory=FRESH,
            leading_batch=True,  # on the last two axes: a batch in front passes through
        )
    )
    deflinear("triu", lambda grad, x: apply("triu", grad))  # its transpose is itself
    try:
        yield
    finally:
        del OPS["triu"], RULES["triu"]


def test_a_new_op_is_one_row_and_one_rule(triu, tmp_path) -> None:
    @gg.function(wrt="a", emit=("grad", "jacobian", "hessian", "jvp"))
    def upper(a: Array[3, 3]):
        return gg.sum(gg.tanh(apply("triu", a @ a)))

    @gg.function(wrt="a", emit=("jacobian",))
    def upper_matrix(a: Array[3, 3]):
        return gg.tanh(apply("triu", a))

    module = compile_to_module([upper, upper_matrix], tmp_path)

    def oracle(a):  # noqa: ANN001, ANN202
        mask = np.triu(np.ones((3, 3)))
        return anp.sum(anp.tanh(mask * (a @ a)))

    a = np.random.default_rng(0).normal(size=(3, 3))
    np.testing.assert_allclose(module.upper(a), oracle(a), rtol=1e-13)
    np.testing.assert_allclose(module.upper_grad(a), grad(oracle)(a), rtol=1e-12)
    np.testing.assert_allclose(module.upper_hessian(a), hessian(oracle)(a), rtol=1e-11)
    t = np.random.default_rng(1).normal(size=(3, 3))
    _, value_dot = module.upper_jvp(a, t)
    np.testing.assert_allclose(value_dot, np.sum(grad(oracle)(a) * t), rtol=1e-12)
    expected = jacobian(lambda a: anp.tanh(np.triu(np.ones((3, 3))) * a))(a)
    np.testing.assert_allclose(module.upper_matrix_jacobian(a), expected, rtol=1e-12)
