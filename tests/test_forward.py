"""Forward mode for every op of test_ops' table, in float64: `f_jvp` against HIPS autograd
and central differences, the dot-product identity tying it to `f_backward`, `f_jacobian`
(batched forward or reverse mode) against autograd, and, through the scalar sum(f**2),
`f_hessian` and `f_hvp` (batched forward over reverse, so the forward rules of the ops the
backward graph is made of) against autograd's second derivatives."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from support import (
    compile_to_module,
    numerical_jvp,
    oracle_jvp,
    random_inputs,
    relative_error,
)
from test_ops import CASES, Case, _detached, _function

import gradgen as gg
from gradgen import Array
from gradgen.api import Function
from gradgen.compiler import compile_function

JVP_EMIT = ("grad", "jvp", "jacobian")
HESSIAN_EMIT = ("grad", "hessian", "hvp")

_MODULES: dict[tuple[str, str], tuple[Function, Any]] = {}


def _squared(f: Callable[..., Any], total: Callable[[Any], Any]) -> Callable[..., Any]:
    """The scalar total(f(...)**2): its Hessian needs every op's second derivative."""

    def g(*args: Any) -> Any:
        return total(f(*args) ** 2)

    return g


@pytest.fixture
def compiled(tmp_path_factory: pytest.TempPathFactory):
    """Compile a case (kind "jvp": the op itself; "hessian": sum of its square) once."""

    def get(case: Case, kind: str) -> tuple[Function, Any]:
        if (case.id, kind) not in _MODULES:
            if kind == "hessian":
                case = dataclasses.replace(case, traced=_squared(case.traced, gg.sum))
            traced = _function(case)
            emit = HESSIAN_EMIT if kind == "hessian" else JVP_EMIT
            function = gg.function(traced.fn, wrt=traced.wrt, emit=emit)
            module = compile_to_module([function], tmp_path_factory.mktemp("forward"))
            _MODULES[case.id, kind] = (function, module)
        return _MODULES[case.id, kind]

    return get


def _like(rng: np.random.Generator, args: Sequence[Any]) -> list[Any]:
    """Random N(0, 1) arrays of the arguments' shapes (floats for scalars)."""
    return [rng.normal(size=np.shape(a)) if np.ndim(a) else float(rng.normal()) for a in args]


def _inputs(case: Case, function: Function, salt: str) -> tuple[np.random.Generator, list]:
    rng = np.random.default_rng(sum(map(ord, case.id + salt)))
    return rng, random_inputs(function, rng, case.domain)


def _contract(block: np.ndarray, vector: Any) -> np.ndarray:
    """block (out + in shape) applied to a vector of the trailing `in` shape."""
    vector = np.asarray(vector)
    return np.tensordot(block, vector, axes=vector.ndim)


def _hessian_oracle(oracle: Callable[..., Any], args: list[Any], i: int, j: int) -> np.ndarray:
    """H[i][j] = d(grad_i)/d(arg_j), shape arg_i.shape + arg_j.shape, from autograd."""
    if i == j:
        return np.asarray(autograd.hessian(oracle, i)(*args))
    return np.asarray(autograd.jacobian(autograd.grad(oracle, i), j)(*args))


def _close(actual: Any, expected: Any, tolerance: float) -> bool:
    """Relative error below `tolerance`, absolute where the expected norm is below 1 (the
    Hessian of sum(sqrt(a)**2) is zero, autograd's is rounding noise)."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return bool(np.linalg.norm(actual - expected) <= tolerance * max(np.linalg.norm(expected), 1.0))


def _full_matrix(blocks: Sequence[Sequence[Any]], args: Sequence[Any]) -> np.ndarray:
    sizes = [int(np.size(a)) for a in args]
    return np.block(
        [
            [np.reshape(b, (sizes[i], sizes[j])) for j, b in enumerate(row)]
            for i, row in enumerate(blocks)
        ]
    )


# Failures whose cause lies outside forward mode (see the reasons); strict, so a fix shows.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _cases(test: str, differences: bool = False) -> list[Any]:
    """CASES (only those finite differences can check, with `differences`) as parameters
    of `test`, the known bugs as strict expected failures."""
    return [
        pytest.param(
            case,
            id=case.id,
            marks=(
                [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[test, case.id])]
                if (test, case.id) in KNOWN_BUGS
                else []
            ),
        )
        for case in CASES
        if case.differences or not differences
    ]


@pytest.mark.parametrize("case", _cases("jvp"))
def test_jvp(case: Case, compiled) -> None:
    function, module = compiled(case, "jvp")
    rng, args = _inputs(case, function, "jvp")
    tangents = _like(rng, args)
    value, value_dot = module.f_jvp(*args, *tangents)
    np.testing.assert_allclose(value, case.oracle(*args), rtol=1e-13, atol=1e-14)
    assert np.shape(value_dot) == np.shape(value)
    expected = oracle_jvp(case.oracle, args, tangents)
    assert relative_error(value_dot, expected) < 1e-12, (args, tangents, value_dot, expected)
    if case.differences:
        numeric = numerical_jvp(case.oracle, args, tangents)
        assert relative_error(value_dot, numeric) < 1e-7, (args, tangents, value_dot, numeric)
    # One tangent at a time (the others zero): each operand's part on its own.
    for index in range(len(args)):
        alone = [t if k == index else None for k, t in enumerate(tangents)]
        zeros = [t if t is not None else np.zeros_like(a) for t, a in zip(alone, args)]
        _, part = module.f_jvp(*args, *zeros)
        assert relative_error(part, oracle_jvp(case.oracle, args, alone)) < 1e-12, index


@pytest.mark.parametrize("case", _cases("transpose"))
def test_jvp_is_the_transpose_of_the_vjp(case: Case, compiled) -> None:
    """<J t, c> = <t, J^T c> between f_jvp and f_backward."""
    function, module = compiled(case, "jvp")
    rng, args = _inputs(case, function, "dot")
    tangents = _like(rng, args)
    _, value_dot = module.f_jvp(*args, *tangents)
    value, saved = module.f_forward(*args)
    cotangent = rng.normal(size=np.shape(value))
    grads = module.f_backward(saved, cotangent)
    products = [value_dot * cotangent] + [np.asarray(t) * g for t, g in zip(tangents, grads)]
    forward_side, backward_side = np.sum(products[0]), sum(np.sum(p) for p in products[1:])
    scale = sum(np.sum(np.abs(p)) for p in products)
    assert abs(forward_side - backward_side) <= 1e-13 * scale, (forward_side, backward_side)


@pytest.mark.parametrize("case", _cases("jacobian"))
def test_jacobian(case: Case, compiled) -> None:
    function, module = compiled(case, "jvp")
    _, args = _inputs(case, function, "jacobian")
    jacobians = module.f_jacobian(*args)
    value = case.oracle(*args)
    assert isinstance(jacobians, tuple) and len(jacobians) == len(args)
    for index, jacobian in enumerate(jacobians):
        assert np.shape(jacobian) == np.shape(value) + np.shape(args[index]), index
        expected = autograd.jacobian(case.oracle, index)(*args)
        assert relative_error(jacobian, expected) < 1e-12, (index, args, jacobian, expected)


_ORACLE_HESSIANS: dict[tuple[str, bytes], list[list[np.ndarray]]] = {}


def _expected_hessian(case: Case, args: list[Any]) -> list[list[np.ndarray]]:
    """autograd's blocks H[i][j] of sum(oracle**2) at `args`, computed once."""
    key = (case.id, b"".join(np.asarray(a).tobytes() for a in args))
    if key not in _ORACLE_HESSIANS:
        oracle = _squared(case.oracle, anp.sum)
        indices = range(len(args))
        _ORACLE_HESSIANS[key] = [
            [_hessian_oracle(oracle, args, i, j) for j in indices] for i in indices
        ]
    return _ORACLE_HESSIANS[key]


@pytest.mark.parametrize("case", _cases("hessian"))
def test_hessian(case: Case, compiled) -> None:
    """Of g = sum(f**2): every block, off-diagonal ones included, against autograd; the
    whole matrix symmetric up to rounding."""
    function, module = compiled(case, "hessian")
    _, args = _inputs(case, function, "hessian")
    blocks = module.f_hessian(*args)
    expected = _expected_hessian(case, args)
    assert len(blocks) == len(args)
    for i, row in enumerate(blocks):
        assert len(row) == len(args)
        for j, block in enumerate(row):
            assert np.shape(block) == np.shape(args[i]) + np.shape(args[j]), (i, j)
            assert _close(block, expected[i][j], 1e-11), (i, j, args, block, expected[i][j])
    full = _full_matrix(blocks, args)
    assert np.linalg.norm(full - full.T) <= 1e-13 * np.linalg.norm(full), "not symmetric"


@pytest.mark.parametrize("case", _cases("hvp"))
def test_hvp(case: Case, compiled) -> None:
    """f_hvp of g = sum(f**2) is autograd's H @ v."""
    function, module = compiled(case, "hessian")
    rng, args = _inputs(case, function, "hessian")
    expected = _expected_hessian(case, args)
    vectors = _like(rng, args)
    products = module.f_hvp(*args, *vectors)
    assert isinstance(products, tuple) and len(products) == len(args)
    for i, product in enumerate(products):
        along = sum(_contract(expected[i][j], v) for j, v in enumerate(vectors))
        assert _close(product, along, 1e-11), (i, args, vectors, product, along)


@pytest.mark.parametrize("case", _cases("hvp-differences", differences=True))
def test_hvp_against_differences_of_the_gradient(case: Case, compiled) -> None:
    """f_hvp is the derivative of f_grad (tested against autograd by test_ops) along v."""
    function, module = compiled(case, "hessian")
    rng, args = _inputs(case, function, "differences")
    vectors = _like(rng, args)
    products = module.f_hvp(*args, *vectors)
    for i, product in enumerate(products):
        numeric = numerical_jvp(lambda *a, i=i: module.f_grad(*a)[i], args, vectors)
        assert _close(product, numeric, 1e-7), (i, args, vectors, product, numeric)


def _float32(args: Sequence[Any]) -> list[Any]:
    return [np.float32(a) if np.ndim(a) == 0 else np.asarray(a, np.float32) for a in args]


@pytest.mark.parametrize("case", _cases("float32"))
def test_float32_in_float32_out(case: Case, compiled) -> None:
    function, module = compiled(case, "jvp")
    _, hessian_module = compiled(case, "hessian")
    rng, args = _inputs(case, function, "float32")
    args32, tangents32 = _float32(args), _float32(_like(rng, args))
    value, value_dot = module.f_jvp(*args32, *tangents32)
    outputs = [value, value_dot, *module.f_jacobian(*args32)]
    outputs += [b for row in hessian_module.f_hessian(*args32) for b in row]
    outputs += hessian_module.f_hvp(*args32, *tangents32)
    assert [np.asarray(o).dtype for o in outputs] == [np.float32] * len(outputs)
    expected = oracle_jvp(case.oracle, args, tangents32)
    np.testing.assert_allclose(value_dot, expected, rtol=1e-3, atol=1e-3 * np.max(np.abs(expected)))


# -- targeted tests


def test_hessian_of_twice_the_squared_norm_is_exactly_four_times_identity(tmp_path) -> None:
    @gg.function(wrt="x", emit=("hessian", "hvp"))
    def f(x: Array["N"]):
        return gg.sum(2.0 * x * x)

    @gg.function(wrt="x", emit=("hessian", "hvp"))
    def g(x: Array["N"]):
        return 2.0 * x @ x

    module = compile_to_module([f, g], tmp_path)
    rng = np.random.default_rng(2)
    x, v = rng.normal(size=5), rng.normal(size=5)
    for name in ("f", "g"):
        hessian = getattr(module, f"{name}_hessian")(x)
        assert isinstance(hessian, np.ndarray)  # one name in wrt: one array
        np.testing.assert_array_equal(hessian, 4.0 * np.eye(5))
        np.testing.assert_array_equal(getattr(module, f"{name}_hvp")(x, v), 4.0 * v)


def test_stop_gradient_branch_matches_the_detached_oracle(tmp_path) -> None:
    @gg.function(wrt=("a", "b"), emit=("grad", "jvp", "jacobian", "hessian", "hvp"))
    def f(a: Array["N"], b: Array["N"]):
        held = gg.stop_gradient(gg.sin(b) * a)
        return gg.sum(gg.exp(a) * held * b + held**2 + a * b * b)

    def oracle(a: Any, b: Any) -> Any:
        held = _detached(anp.sin(b) * a)
        return anp.sum(anp.exp(a) * held * b + held**2 + a * b * b)

    module = compile_to_module([f], tmp_path)
    rng = np.random.default_rng(3)
    args, tangents = [rng.normal(size=5) for _ in range(2)], [rng.normal(size=5) for _ in range(2)]
    value, value_dot = module.f_jvp(*args, *tangents)
    assert value == pytest.approx(oracle(*args), rel=1e-14)
    assert relative_error(value_dot, oracle_jvp(oracle, args, tangents)) < 1e-13
    for index, jacobian in enumerate(module.f_jacobian(*args)):
        assert relative_error(jacobian, autograd.grad(oracle, index)(*args)) < 1e-13
    blocks = module.f_hessian(*args)
    for i in range(2):
        for j in range(2):
            expected = _hessian_oracle(oracle, args, i, j)
            assert np.any(expected != 0.0)
            assert relative_error(blocks[i][j], expected) < 1e-13, (i, j)
    products = module.f_hvp(*args, *tangents)
    for i in range(2):
        expected = sum(
            _contract(_hessian_oracle(oracle, args, i, j), tangents[j]) for j in range(2)
        )
        assert relative_error(products[i], expected) < 1e-13


def test_a_parameter_the_value_ignores_gets_zero_blocks(tmp_path) -> None:
    @gg.function(wrt=("w", "v", "s"), emit=("jvp", "jacobian"))
    def vector(w: Array["N"], v: Array["N", "D"], s: Array[()]):
        return gg.sin(w)

    @gg.function(wrt=("w", "v", "s"), emit=("hessian", "hvp"))
    def scalar(w: Array["N"], v: Array["N", "D"], s: Array[()]):
        return gg.sum(w * w * w)

    module = compile_to_module([vector, scalar], tmp_path)
    derived = dict(compile_function(scalar).derived)
    assert {"zeros", "ones"} <= {eq.op for eq in derived["hessian"].equations}
    rng = np.random.default_rng(5)
    shapes = [(5,), (5, 3), ()]
    for dtype in (np.float64, np.float32):
        w, v, s = (np.asarray(rng.normal(size=shape), dtype) for shape in shapes)
        w_dot, v_dot, s_dot = (np.asarray(rng.normal(size=shape), dtype) for shape in shapes)
        _, value_dot = module.vector_jvp(w, v, s, np.zeros_like(w), v_dot, s_dot)
        np.testing.assert_array_equal(value_dot, np.zeros(5, dtype))
        j_w, j_v, j_s = module.vector_jacobian(w, v, s)
        np.testing.assert_allclose(j_w, np.diag(np.cos(w)), rtol=1e-6)
        np.testing.assert_array_equal(j_v, np.zeros((5, 5, 3)))
        np.testing.assert_array_equal(j_s, np.zeros(5))
        blocks = module.scalar_hessian(w, v, s)
        np.testing.assert_allclose(blocks[0][0], np.diag(6.0 * w), rtol=1e-6)
        for i, j in [(0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]:
            expected = np.zeros(shapes[i] + shapes[j])
            np.testing.assert_array_equal(blocks[i][j], expected, err_msg=f"{(i, j)}")
        products = module.scalar_hvp(w, v, s, w_dot, v_dot, s_dot)
        np.testing.assert_allclose(products[0], 6.0 * w * w_dot, rtol=1e-6)
        np.testing.assert_array_equal(products[1], np.zeros((5, 3)))
        np.testing.assert_array_equal(products[2], np.zeros(()))
        outputs = [value_dot, j_w, j_v, j_s, *(b for row in blocks for b in row), *products]
        assert all(np.asarray(o).dtype == dtype for o in outputs), dtype


VIEWS = {
    "slice": (lambda x: x[1:], (4, 3)),
    "reshape": (lambda x: gg.reshape(x, (12,)), (4, 3)),
    "transpose": (lambda x: x.T, (4, 3)),
    "expand_dims": (lambda x: x[None], (4, 3)),
    "broadcast_to": (lambda x: gg.broadcast_to(x, (2, 3)), (3,)),
    "identity": (lambda x: x, (4, 3)),
    "scalar": (lambda x: x * 1.0, ()),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_outputs_never_share_memory_with_the_inputs(name: str, tmp_path) -> None:
    """Views of the arguments (x[1:], a reshape) are copied: the caller may write into
    every result."""
    body, shape = VIEWS[name]

    def f(x):  # noqa: ANN001
        return body(x)

    def half_square(x):  # noqa: ANN001
        return 0.5 * gg.sum(x * x)  # hvp = v

    f.__annotations__ = half_square.__annotations__ = {"x": Array[shape] if shape else Array[()]}
    functions = [
        gg.function(f, wrt="x", emit=("jvp", "jacobian")),
        gg.function(half_square, wrt="x", emit=("hessian", "hvp")),
    ]
    module = compile_to_module(functions, tmp_path)
    rng = np.random.default_rng(6)
    x, x_dot = rng.normal(size=shape), rng.normal(size=shape)
    value, value_dot = module.f_jvp(x, x_dot)
    jacobian = module.f_jacobian(x)
    products = module.half_square_hvp(x, x_dot)
    hessian = module.half_square_hessian(x)
    np.testing.assert_array_equal(products, x_dot)
    np.testing.assert_array_equal(value_dot, body(x_dot))
    np.testing.assert_array_equal(
        np.reshape(jacobian, (np.size(value), x.size)) @ x_dot.ravel(), np.ravel(value_dot)
    )
    np.testing.assert_array_equal(np.reshape(hessian, (x.size, x.size)), np.eye(x.size))
    results = [value, value_dot, jacobian, products, hessian]
    for k, result in enumerate(results):
        assert not isinstance(result, np.ndarray) or result.flags.writeable, k
        for caller in (x, x_dot):
            assert not np.shares_memory(result, caller), k
        for other in results[k + 1 :]:
            assert not np.shares_memory(result, other), k


def test_jvp_of_a_broadcast_operand_alone_has_the_output_shape(tmp_path) -> None:
    """a + b with a tangent for b only: the tangent is broadcast like the value (a sum over
    the broadcast axis then counts each row)."""

    @gg.function(wrt="b", emit=("jvp", "jacobian"))
    def f(a: Array["N", "D"], b: Array["D"]):
        return a + b

    @gg.function(wrt="b", emit=("jvp",))
    def g(a: Array["N", "D"], b: Array["D"]):
        return gg.sum(a - b, axis=0)

    module = compile_to_module([f, g], tmp_path)
    rng = np.random.default_rng(7)
    a, b, b_dot = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=3)
    value, value_dot = module.f_jvp(a, b, b_dot)
    np.testing.assert_array_equal(value_dot, np.broadcast_to(b_dot, (5, 3)))
    assert value_dot.flags.writeable
    np.testing.assert_array_equal(module.f_jacobian(a, b), np.broadcast_to(np.eye(3), (5, 3, 3)))
    np.testing.assert_allclose(module.g_jvp(a, b, b_dot)[1], -5.0 * b_dot, rtol=1e-15)
