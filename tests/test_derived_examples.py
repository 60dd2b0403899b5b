"""The derived functions of every example, against HIPS autograd: each example function is
compiled again in memory with every emit kind that applies (jvp and jacobian always,
hessian and hvp when the value has one element), and its values, JVPs, Jacobians, Hessian
blocks (cross blocks too) and Hessian-vector products are compared with autograd's
make_jvp, jacobian and hessian on seeded random inputs, to a relative 1e-10. Also:
backward's accumulate_into adds in place; has_aux returns the aux dict beside the value;
and the example scripts print what they claim."""

from __future__ import annotations

import re
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from oracles import AUX_ORACLES, ORACLES
from support import (
    DIMS,
    REPO,
    compile_to_module,
    import_blocked_modules_snippet,
    random_inputs,
    relative_error,
)

from gradgen.api import Function
from gradgen.compiler import load_functions

EXAMPLES = sorted(p for p in (REPO / "examples").glob("*.py") if not p.name.startswith("train"))
# The ODE's 1,000 RK4 steps take autograd 13 to 21 s per emit kind: its emit kinds are
# checked over 20 steps in test_loops.py instead.
AUTOGRAD_TOO_SLOW = {("ode", "final_miss")}
FUNCTIONS = {
    (p.stem, f.name): f
    for p in EXAMPLES
    for f in load_functions(p)
    if (p.stem, f.name) not in AUTOGRAD_TOO_SLOW
}
CASES = sorted(FUNCTIONS)
IDS = [f"{stem}.{name}" for stem, name in CASES]
# Functions whose value has one element (scalar, or shape (1, 1)): they get hessian and hvp.
ONE_ELEMENT = [
    key
    for key in CASES
    if np.size(ORACLES[key](*random_inputs(FUNCTIONS[key], np.random.default_rng(0)))) == 1
]
TOLERANCE = 1e-10


class Case:
    """One example function compiled with all its applicable emit kinds, with seeded
    random inputs and its autograd oracle."""

    def __init__(self, key: tuple[str, str], directory: Path) -> None:
        self.key = key
        self.function = function = FUNCTIONS[key]
        self.oracle = ORACLES[key]
        self.args = random_inputs(function, self.rng("inputs"))
        names = list(function.specs)
        self.indices = [names.index(param) for param in function.wrt]
        self.params = [self.args[i] for i in self.indices]
        self.value = np.asarray(self.oracle(*self.args), dtype=float)
        self.scalar = self.value.size == 1
        emit = ("grad", "jvp", "jacobian") + (("hessian", "hvp") if self.scalar else ())
        wrt = function.wrt if function.wrt_is_sequence else function.wrt[0]
        derived = Function(function.fn, wrt, emit=emit, has_aux=function.has_aux)
        self.module = compile_to_module([derived], directory)
        self.name = function.name
        self._hessian: tuple[np.ndarray, np.ndarray] | None = None

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator seeded by the example and `purpose`: the same draws in any test order."""
        return np.random.default_rng(zlib.crc32(".".join((*self.key, purpose)).encode()))

    def __getitem__(self, suffix: str) -> Any:
        return getattr(self.module, f"{self.name}_{suffix}")

    def per_param(self, result: Any) -> tuple:
        """A per-parameter result as a tuple, checking it is one array when wrt is one name."""
        if self.function.wrt_is_sequence:
            assert isinstance(result, tuple) and len(result) == len(self.params), result
            return result
        assert isinstance(result, np.ndarray | float | np.floating), type(result)
        return (result,)

    def along(self, index: int) -> Any:
        """The oracle as a function of the argument at `index` alone."""

        def f(x: Any) -> Any:
            trial = list(self.args)
            trial[index] = x
            return self.oracle(*trial)

        return f

    def random_like_params(self, purpose: str) -> list[Any]:
        rng = self.rng(purpose)
        return [rng.normal(size=np.shape(p)) for p in self.params]

    def flat_hessian(self) -> tuple[np.ndarray, np.ndarray]:
        """autograd's Hessian over all wrt parameters flattened into one vector, and the
        offsets of each parameter in that vector."""
        if self._hessian is not None:
            return self._hessian
        sizes = [int(np.size(p)) for p in self.params]
        offsets = np.cumsum([0] + sizes)

        def flat_f(flat: Any) -> Any:
            trial = list(self.args)
            for k, i in enumerate(self.indices):
                piece = flat[offsets[k] : offsets[k + 1]]
                trial[i] = anp.reshape(piece, np.shape(self.params[k]))
            return anp.sum(self.oracle(*trial))  # the value's one element

        start = np.concatenate([np.ravel(p) for p in self.params]).astype(float)
        self._hessian = np.asarray(autograd.hessian(flat_f)(start)), offsets
        return self._hessian


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory):
    """Compiles each example function on first use; a dict key -> Case."""
    directory = tmp_path_factory.mktemp("derived")
    compiled: dict[tuple[str, str], Case] = {}

    def get(key: tuple[str, str]) -> Case:
        if key not in compiled:
            compiled[key] = Case(key, directory)
        return compiled[key]

    return get


def _oracle_jvp(case: Case, index: int, tangent: Any) -> np.ndarray:
    """autograd's forward mode along the argument at `index`."""
    jvp = autograd.make_jvp(case.along(index))(case.args[index])
    return np.asarray(jvp(np.asarray(tangent, dtype=float))[1])


def _check(actual: Any, expected: Any, what: str) -> None:
    assert np.shape(actual) == np.shape(expected), (what, np.shape(actual), np.shape(expected))
    error = relative_error(actual, expected)
    assert error <= TOLERANCE, (what, error, actual, expected)


def test_every_example_function_has_an_oracle_and_a_has_aux_example_exists() -> None:
    assert len(CASES) >= 14
    assert not [key for key in CASES if key not in ORACLES]
    with_aux = [key for key in CASES if FUNCTIONS[key].has_aux]
    assert with_aux and set(with_aux) <= set(AUX_ORACLES)


@pytest.mark.parametrize("key", CASES, ids=IDS)
def test_value_and_jvp_match_autograd(cases, key) -> None:
    case = cases(key)
    tangents = case.random_like_params("tangents")
    value, value_dot = case["jvp"](*case.args, *tangents)
    _check(value, case.value, "value")
    expected = sum(_oracle_jvp(case, i, t) for i, t in zip(case.indices, tangents, strict=True))
    _check(value_dot, expected, "jvp with all tangents")
    # One tangent at a time (the others zero): each parameter's tangent goes to its own
    # place, even when the sum would hide a swap.
    for k, (index, tangent) in enumerate(zip(case.indices, tangents, strict=True)):
        alone = [t if j == k else np.zeros_like(t) for j, t in enumerate(tangents)]
        _, dot = case["jvp"](*case.args, *alone)
        _check(dot, _oracle_jvp(case, index, tangent), f"jvp of {case.function.wrt[k]}")


@pytest.mark.parametrize("key", CASES, ids=IDS)
def test_jacobian_matches_autograd(cases, key) -> None:
    case = cases(key)
    jacobians = case.per_param(case["jacobian"](*case.args))
    for param, index, jacobian in zip(case.function.wrt, case.indices, jacobians, strict=True):
        expected = np.asarray(autograd.jacobian(case.along(index))(case.args[index]))
        expected = expected.reshape(case.value.shape + np.shape(case.args[index]))
        _check(jacobian, expected, f"jacobian of {param}")


def test_hessian_and_hvp_are_emitted_exactly_for_one_element_values(cases) -> None:
    for key in CASES:
        case = cases(key)
        assert hasattr(case.module, f"{case.name}_jvp")
        assert hasattr(case.module, f"{case.name}_jacobian")
        assert hasattr(case.module, f"{case.name}_hessian") == case.scalar, key
        assert hasattr(case.module, f"{case.name}_hvp") == case.scalar, key
    assert [key for key in CASES if cases(key).scalar] == ONE_ELEMENT
    assert set(CASES) - set(ONE_ELEMENT) == {  # the vector-valued examples
        ("sin_derivative", "f"),
        ("vector_gradients", "scaled_square"),
        ("vector_jacobian", "layers"),
    }


@pytest.mark.parametrize("key", ONE_ELEMENT, ids=".".join)
@pytest.mark.filterwarnings("ignore:Output seems independent of input")  # a zero Hessian
def test_hessian_blocks_match_autograd(cases, key) -> None:
    case = cases(key)
    hessian, offsets = case.flat_hessian()
    # Scalars as 0-d arrays: Python floats are tested below.
    rows = case.per_param(case["hessian"](*map(_zero_d, case.args)))
    wrt = case.function.wrt
    for i, row in enumerate(rows):
        blocks = case.per_param(row)
        for j, block in enumerate(blocks):
            shape = np.shape(case.params[i]) + np.shape(case.params[j])
            expected = hessian[offsets[i] : offsets[i + 1], offsets[j] : offsets[j + 1]]
            _check(block, expected.reshape(shape), f"hessian block {wrt[i]}, {wrt[j]}")


def _zero_d(arg: Any) -> Any:
    return np.asarray(arg) if isinstance(arg, float) else arg


FLOAT_CASES = [
    pytest.param(key, id=".".join(key))
    for key in CASES
    if any(spec.shape == () and not spec.integer for spec in FUNCTIONS[key].specs.values())
]


@pytest.mark.parametrize("key", FLOAT_CASES)
def test_derived_functions_take_python_float_scalars(cases, key) -> None:
    """Scalar arguments given as Python floats give the results of 0-d arrays."""
    case = cases(key)
    assert any(isinstance(arg, float) for arg in case.args)
    zero_d = [_zero_d(arg) for arg in case.args]
    tangents = case.random_like_params("tangents")
    floats = [float(t) if np.ndim(t) == 0 else t for t in tangents]
    calls = [("jvp", floats, tangents), ("jacobian", [], [])]
    if case.scalar:
        calls += [("hvp", floats, tangents), ("hessian", [], [])]
    for kind, extra_floats, extra_arrays in calls:
        expected = case[kind](*zero_d, *extra_arrays)
        actual = case[kind](*case.args, *extra_floats)
        for a, e in zip(_leaves(actual), _leaves(expected), strict=True):
            _check(a, e, kind)


def _leaves(result: Any) -> list[Any]:
    if isinstance(result, tuple):
        return [leaf for item in result for leaf in _leaves(item)]
    return [result]


@pytest.mark.parametrize("key", ONE_ELEMENT, ids=".".join)
def test_hvp_matches_autograd(cases, key) -> None:
    case = cases(key)
    hessian, offsets = case.flat_hessian()
    vectors = case.random_like_params("vectors")
    products = case.per_param(case["hvp"](*case.args, *vectors))
    expected = hessian @ np.concatenate([np.ravel(v) for v in vectors])
    for k, product in enumerate(products):
        piece = expected[offsets[k] : offsets[k + 1]].reshape(np.shape(case.params[k]))
        _check(product, piece, f"hvp of {case.function.wrt[k]}")


@pytest.mark.parametrize("key", CASES, ids=IDS)
def test_backward_accumulates_into_the_given_arrays(cases, key) -> None:
    case = cases(key)
    _, saved = case["forward"](*case.args)
    d_value = None if case.scalar else case.rng("d_value").normal(size=case.value.shape)
    grads = case.per_param(case["backward"](saved, d_value))
    starts = case.random_like_params("starts")  # 0-d arrays for scalars
    targets = [np.array(s) for s in starts]
    into = tuple(targets) if case.function.wrt_is_sequence else targets[0]
    for _ in range(2):
        returned = case["backward"](saved, d_value, accumulate_into=into)
        for target, out in zip(targets, case.per_param(returned), strict=True):
            assert out is target  # the same arrays, updated in place
    for target, start, grad in zip(targets, starts, grads, strict=True):
        _check(target, start + 2 * np.asarray(grad), "start + 2 * gradient")
    # Accumulating changed nothing that later gradients read.
    for again, grad in zip(case.per_param(case["backward"](saved, d_value)), grads, strict=True):
        np.testing.assert_array_equal(again, grad)


AUX_CASES = [key for key in CASES if FUNCTIONS[key].has_aux]


@pytest.mark.parametrize("key", AUX_CASES, ids=[".".join(k) for k in AUX_CASES])
def test_has_aux_returns_the_aux_dict_beside_the_value(cases, key) -> None:
    case = cases(key)
    # The example inputs, and inputs with 200 rows wherever N is, so aux averages many.
    big = _inputs_with_rows(case.function, case.rng("200 rows"), 200)
    for args in (case.args, big):
        expected = {name: np.asarray(a) for name, a in AUX_ORACLES[key](*args).items()}
        (value, aux), _ = case["forward"](*args)
        np.testing.assert_allclose(value, case.oracle(*args), rtol=1e-12)
        assert set(aux) == set(expected)
        for name in expected:
            np.testing.assert_allclose(aux[name], expected[name], rtol=1e-14, err_msg=name)

    value, aux = case["forward"](*case.args)[0]  # ((value, aux), saved)
    plain = getattr(case.module, case.name)(*case.args)
    assert isinstance(plain, tuple) and len(plain) == 2
    np.testing.assert_array_equal(plain[0], value)
    assert _same_aux(plain[1], aux)

    (v2, aux2), grads = case["value_and_grad"](*case.args)
    np.testing.assert_array_equal(v2, value)
    assert _same_aux(aux2, aux)
    grads3, aux3 = case["grad"](*case.args)
    assert _same_aux(aux3, aux)
    expected_grads = [
        np.asarray(autograd.grad(case.along(i))(case.args[i]), dtype=float) for i in case.indices
    ]
    for a, b, e in zip(case.per_param(grads), case.per_param(grads3), expected_grads, strict=True):
        np.testing.assert_array_equal(a, b)
        _check(a, e, "gradient (aux is not differentiated)")


def _inputs_with_rows(function: Function, rng: np.random.Generator, rows: int) -> list[Any]:
    """Like support.random_inputs, with `rows` for the dim N."""
    args: list[Any] = []
    for spec in function.specs.values():
        shape = tuple(
            rows if d == "N" else DIMS.get(d, 4) if isinstance(d, str) else d for d in spec.shape
        )
        value = rng.integers(0, 4, size=shape) if spec.integer else rng.normal(size=shape)
        args.append(float(value) if shape == () and not spec.integer else value)
    return args


def _same_aux(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(np.array_equal(a[name], b[name]) for name in a)


def test_the_aux_example_has_a_nontrivial_accuracy() -> None:
    """On data where the answer is known: w = (1, 0), b = 0 classifies x0 > 0 as 1."""
    from gradgen import load

    module = load(FUNCTIONS[("classifier_with_accuracy", "loss")])
    x = np.array([[1.0, 5.0], [-2.0, 1.0], [3.0, -1.0], [-1.0, 0.0]])
    y = np.array([1.0, 0.0, 0.0, 0.0])  # the third is misclassified
    _, aux = module.loss(np.array([1.0, 0.0]), 0.0, x, y)
    assert aux == {"accuracy": 0.75, "positive_rate": 0.5}


# The example scripts, run in a subprocess as a user would.


def _run(script: str, *argv: str, cwd: Path = REPO, blocked: tuple[str, ...] = ()) -> str:
    """Run examples/<script> with `argv`; with `blocked`, those modules cannot be imported."""
    path = REPO / "examples" / script
    command = [sys.executable, str(path), *argv]
    if blocked:
        runner = import_blocked_modules_snippet(blocked) + (
            "import runpy\n"
            f"sys.argv = {[str(path), *argv]!r}\n"
            f"runpy.run_path({str(path)!r}, run_name='__main__')\n"
        )
        command = [sys.executable, "-c", runner]
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_newton_needs_a_few_steps_where_gradient_descent_needs_hundreds() -> None:
    output = _run("train_newton.py")
    newton = int(re.search(r"^Newton: (\d+) steps", output, re.M).group(1))
    descent = re.search(r"^gradient descent: (\d+) steps.*$", output, re.M)
    gd_steps, capped = int(descent.group(1)), "cap reached" in descent.group(0)
    assert 1 <= newton <= 10, output
    assert capped or gd_steps >= 100 * newton, output
    losses = [float(x) for x in re.findall(r"^Newton step \d+: loss (\S+)", output, re.M)]
    assert len(losses) == newton and losses == sorted(losses, reverse=True), output
    gap = float(re.search(r"difference\| of the two solutions: (\S+)", output).group(1))
    assert gap < 1e-5, output


def _sin_errors(output: str) -> tuple[float, float]:
    value = float(re.search(r"max \|f - sin\| = (\S+)", output).group(1))
    derivative = float(re.search(r"max \|f' - cos\| = (\S+)", output).group(1))
    return value, derivative


def test_sin_derivative_script_without_matplotlib(tmp_path) -> None:
    output = _run("sin_derivative.py", cwd=tmp_path, blocked=("matplotlib",))
    assert max(_sin_errors(output)) < 1e-12, output
    assert "matplotlib is not installed" in output and "no plot" in output
    assert not list(tmp_path.iterdir())


def test_sin_derivative_script_plots_with_matplotlib(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    output = _run("sin_derivative.py", cwd=tmp_path)  # default file, in the current folder
    assert max(_sin_errors(output)) < 1e-12, output
    assert (tmp_path / "sin_derivative.png").read_bytes().startswith(b"\x89PNG")
    chosen = tmp_path / "plots" / "derivative.png"
    chosen.parent.mkdir()
    output = _run("sin_derivative.py", str(chosen), cwd=tmp_path)
    assert f"wrote {chosen}" in output and chosen.read_bytes().startswith(b"\x89PNG")


def test_vector_jacobian_script_finds_jvps_and_vjps_equal_to_the_jacobian() -> None:
    output = _run("vector_jacobian.py")
    found = re.findall(r"^J_(\w+) (\(.*\)): max \|J - stacked (JVPs|VJPs)\| = (\S+)$", output, re.M)
    assert sorted((name, shape, kind) for name, shape, kind, _ in found) == [
        ("w1", "(2, 3, 5)", "JVPs"),
        ("w1", "(2, 3, 5)", "VJPs"),
        ("x", "(2, 3)", "JVPs"),
        ("x", "(2, 3)", "VJPs"),
    ], output
    assert all(float(error) < 1e-12 for *_, error in found), output


def test_classifier_script_prints_accuracy_rising() -> None:
    output = _run("classifier_with_accuracy.py")
    rows = re.findall(r"^step +\d+ +loss (\S+) +accuracy (\S+)$", output, re.M)
    losses, accuracies = zip(*((float(a), float(b)) for a, b in rows), strict=True)
    assert len(rows) == 6 and list(losses) == sorted(losses, reverse=True), output
    assert accuracies[0] < 0.3 and accuracies[-1] > 0.9, output
