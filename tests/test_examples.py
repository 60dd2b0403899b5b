"""Every example is compiled, imported and gradient-checked: against central finite
differences and against HIPS autograd, on random float64 inputs, to a relative 1e-7."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from oracles import ORACLES
from support import (
    REPO,
    load_text,
    numerical_vjp,
    oracle_vjp,
    random_inputs,
    relative_error,
)

import gradgen
from gradgen.compiler import compile_function, load_functions
from gradgen.verify import verify

EXAMPLES = sorted(p for p in (REPO / "examples").glob("*.py") if not p.name.startswith("train"))
CASES = [
    (path, f.name)
    for path in EXAMPLES
    for f in load_functions(path)  # every @gg.function of every example
]
TOLERANCE = 1e-7
# Examples whose autograd VJP is too slow for the suite (about 4 s per parameter through
# the ODE's 1,000 RK4 steps): checked here against finite differences of the oracle, and
# against autograd over 20 steps in test_loops.py.
FINITE_DIFFERENCES_ONLY = {("ode", "final_miss")}


def test_examples_exist_and_all_have_oracles() -> None:
    assert len(CASES) >= 7
    missing = [(p.stem, name) for p, name in CASES if (p.stem, name) not in ORACLES]
    assert not missing, f"examples without an oracle in tests/oracles.py: {missing}"


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    directory = tmp_path_factory.mktemp("generated")
    return {p.stem: load_text(gradgen.compile_source(p), directory, p.stem) for p in EXAMPLES}


def _head_gradient(value: object, rng: np.random.Generator) -> object:
    shape = np.shape(value)
    return None if np.size(value) == 1 and shape == () else rng.normal(size=shape)


@pytest.mark.parametrize(("path", "name"), CASES, ids=[f"{p.stem}.{n}" for p, n in CASES])
def test_gradients_match_finite_differences_and_autograd(modules, path, name) -> None:
    function = next(f for f in load_functions(path) if f.name == name)
    module = modules[path.stem]
    oracle = ORACLES[(path.stem, name)]
    rng = np.random.default_rng(zlib.crc32(f"{path.stem}.{name}".encode()))  # stable seed
    args = random_inputs(function, rng)

    value, saved = getattr(module, f"{name}_forward")(*args)
    inference = getattr(module, name)(*args)
    if function.has_aux:  # (value, aux): the aux arrays have their own test
        value, inference = value[0], inference[0]
    np.testing.assert_allclose(value, oracle(*args), rtol=1e-12, atol=1e-12)
    # Equal up to round-off: one may sum by dot products where the other calls .sum().
    np.testing.assert_allclose(inference, value, rtol=1e-13, atol=1e-13)
    d_value = _head_gradient(value, rng)
    grads = getattr(module, f"{name}_backward")(saved, d_value)
    if not function.wrt_is_sequence:
        grads = (grads,)
    assert len(grads) == len(function.wrt)
    head = 1.0 if d_value is None else d_value
    arg_names = list(function.specs)
    for param, grad in zip(function.wrt, grads, strict=True):
        index = arg_names.index(param)
        assert np.shape(grad) == np.shape(args[index]), param
        numeric = numerical_vjp(oracle, args, index, head)
        assert relative_error(grad, numeric) < TOLERANCE, (param, args, grad, numeric)
        if (path.stem, name) not in FINITE_DIFFERENCES_ONLY:
            expected = oracle_vjp(oracle, args, index, head)
            assert relative_error(grad, expected) < TOLERANCE, (param, args, grad, expected)


@pytest.mark.parametrize(("path", "name"), CASES, ids=[f"{p.stem}.{n}" for p, n in CASES])
def test_entry_points_agree_and_backward_is_linear_in_d_value(modules, path, name) -> None:
    function = next(f for f in load_functions(path) if f.name == name)
    module = modules[path.stem]
    args = random_inputs(function, np.random.default_rng(7))
    value, saved = getattr(module, f"{name}_forward")(*args)
    backward = getattr(module, f"{name}_backward")
    value_only = (lambda result: result[0]) if function.has_aux else (lambda result: result)
    value = value_only(value)

    def as_tuple(grads: object) -> tuple:
        return grads if function.wrt_is_sequence else (grads,)  # type: ignore[return-value]

    scaled = as_tuple(backward(saved, np.full(np.shape(value), 2.5)))
    unit = as_tuple(backward(saved, np.ones(np.shape(value))))
    for a, b in zip(scaled, unit, strict=True):
        np.testing.assert_allclose(a, 2.5 * np.asarray(b), rtol=1e-13)
    if np.size(value) == 1:
        v2, grads = getattr(module, f"{name}_value_and_grad")(*args)
        np.testing.assert_array_equal(value_only(v2), value)
        # value_and_grad is its own straight-line code (the cotangent 1 folded in): equal
        # to backward's up to rounding.
        for a, b in zip(as_tuple(grads), as_tuple(backward(saved)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
        only_grads = getattr(module, f"{name}_grad")(*args)
        only_grads = as_tuple(only_grads[0] if function.has_aux else only_grads)
        for a, b in zip(only_grads, unit, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    else:
        with pytest.raises(ValueError, match="needs d_value"):
            getattr(module, f"{name}_backward")(saved)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_pass_keeps_the_ir_valid(path) -> None:
    for function in load_functions(path):
        compile_function(function, check=verify)


def test_tutorial_values(modules) -> None:
    """The numbers the classic tutorials print."""
    circuits = modules["circuits"]
    assert circuits.add_mul_grad(-2.0, 5.0, -4.0) == (-4.0, -4.0, 3.0)
    assert circuits.max_circuit_grad(3.0, -4.0, 2.0, -1.0) == (-8.0, 6.0, 2.0, 0.0)
    vectors = modules["vector_gradients"]
    x = np.array([[1.0], [-2.0], [0.5]])
    np.testing.assert_allclose(vectors.quadratic_grad(x), 4 * x, rtol=1e-15)
    _, saved = vectors.scaled_square_forward(np.array([1.0, 2.0, 3.0, 4.0]))
    head = np.array([10.0, 1.0, 0.1, 0.01])
    np.testing.assert_allclose(
        vectors.scaled_square_backward(saved, head), [40.0, 8.0, 1.2, 0.16], rtol=1e-15
    )
