"""Optimization changes no number and touches no caller's memory.

Every example function and benchmark model is compiled twice: optimized (the passes, the
fused value_and_grad, in-place code and dot products) and unoptimized (none of them). On
seeded random inputs both give the same values and gradients up to round-off. The optimized
functions write into no argument, backward leaves `saved` as it found it (so it can run
twice, with the same result), and no returned array shares memory with an argument.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from support import REPO, compile_to_module, random_inputs

from gradgen.compiler import load_functions

MODEL_FILES = sorted(
    p for p in (REPO / "examples").glob("*.py") if not p.name.startswith("train")
) + [REPO / "benchmarks" / "models.py"]
FUNCTIONS = {(p.stem, f.name): f for p in MODEL_FILES for f in load_functions(p)}
CASES = sorted(FUNCTIONS)
RTOL, ATOL = 1e-10, 1e-12


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[ModuleType, ModuleType]]:
    directory = tmp_path_factory.mktemp("optimization")
    compiled = {}
    for path in MODEL_FILES:
        functions = load_functions(path)
        compiled[path.stem] = (
            compile_to_module(functions, directory),
            compile_to_module(functions, directory, unoptimized=True),
        )
    return compiled


def _arrays(tree: Any) -> list[Any]:
    """The leaves of nested tuples, lists and dicts, in order."""
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in _arrays(tree[key])]
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in _arrays(item)]
    return [tree]


def _assert_close(actual: Any, expected: Any, what: str) -> None:
    actual_leaves, expected_leaves = _arrays(actual), _arrays(expected)
    assert len(actual_leaves) == len(expected_leaves), what
    for a, e in zip(actual_leaves, expected_leaves):
        assert np.shape(a) == np.shape(e), what
        np.testing.assert_allclose(a, e, rtol=RTOL, atol=ATOL, err_msg=what)


def _copies(tree: Any) -> list[Any]:
    return [np.copy(leaf) for leaf in _arrays(tree)]


def _assert_unchanged(tree: Any, copies: list[Any], what: str) -> None:
    for leaf, copy in zip(_arrays(tree), copies, strict=True):
        np.testing.assert_array_equal(leaf, copy, err_msg=f"{what} was written into")


@pytest.mark.parametrize(("stem", "name"), CASES, ids=[f"{s}.{n}" for s, n in CASES])
def test_optimized_code_gives_the_unoptimized_numbers(modules, stem: str, name: str) -> None:
    optimized, reference = modules[stem]
    function = FUNCTIONS[stem, name]
    rng = np.random.default_rng(zlib.crc32(f"{stem}.{name}".encode()))
    args = random_inputs(function, rng)
    originals = _copies(args)

    def both(suffix: str, *call_args: Any) -> tuple[Any, Any]:
        ours = getattr(optimized, name + suffix)(*call_args)
        theirs = getattr(reference, name + suffix)(*call_args)
        _assert_close(ours, theirs, f"{name}{suffix}")
        return ours, theirs

    value, _ = both("", *args)
    value_and_aux, saved = getattr(optimized, f"{name}_forward")(*args)
    reference_value, reference_saved = getattr(reference, f"{name}_forward")(*args)
    _assert_close(value_and_aux, reference_value, f"{name}_forward")  # saved may differ
    value = value_and_aux[0] if function.has_aux else value_and_aux
    one_element = np.size(value) == 1
    d_value = None if one_element else rng.normal(size=np.shape(value))
    saved_before = _copies(saved)
    grads = getattr(optimized, f"{name}_backward")(saved, d_value)
    _assert_unchanged(saved, saved_before, f"{name}_backward's saved")
    again = getattr(optimized, f"{name}_backward")(saved, d_value)
    for first, second in zip(_arrays(grads), _arrays(again), strict=True):
        np.testing.assert_array_equal(first, second)
    _assert_close(grads, getattr(reference, f"{name}_backward")(reference_saved, d_value), "grads")
    if one_element:
        _, returned = both("_value_and_grad", *args)
        both("_grad", *args)
        for grad in _arrays(returned):
            assert not any(
                np.shares_memory(grad, a) for a in args if isinstance(a, np.ndarray)
            ), f"{name}_value_and_grad returned an argument's memory"
    _assert_unchanged(args, originals, "an argument")


def test_the_benchmark_models_compute_in_place(modules) -> None:
    """The optimized code of the models the benchmark times reuses memory (the unoptimized
    never does): a check that the test above compares something."""
    optimized, reference = modules["models"]
    source = Path(optimized.__file__).read_text()
    assert "out=" in source and "+=" in source and " @ " in source
    assert "out=" not in Path(reference.__file__).read_text()
