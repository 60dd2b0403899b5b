"""Messages for mistakes in model code: each names the problem and the user's line.

Models are written into tmp_path and compiled in-process with `gradgen.compile_source`.
The offending line of each model carries a `# HERE` marker; its line number is computed
from the text. Errors print as `path:line: message Hint: ...`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

import gradgen

HEADER = """\
import math

import numpy as np

import gradgen as gg
from gradgen import Array, IntArray

"""

MARKER = "# HERE"


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Locations are shown relative to the working directory: run from tmp_path so the
    # model file displays as plain `model.py`.
    monkeypatch.chdir(tmp_path)


def write_model(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "model.py"
    path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    return path


def line_of(path: Path, marker: str = MARKER) -> int:
    """The 1-based number of the only line of `path` containing `marker`."""
    lines = [i for i, line in enumerate(path.read_text().splitlines(), 1) if marker in line]
    assert len(lines) == 1, f"{marker!r} must mark exactly one line"
    return lines[0]


def compile_error(path: Path) -> gradgen.GradgenError:
    with pytest.raises(gradgen.GradgenError) as info:
        gradgen.compile_source(path)
    return info.value


def assert_at(error: gradgen.GradgenError, lineno: int) -> str:
    """`error` points at `lineno` of model.py; returns its text."""
    text = str(error)
    assert error.location is not None, text
    assert Path(error.location.filename).name == "model.py", error.location
    assert error.location.lineno == lineno, text
    assert text.startswith(f"model.py:{lineno}: "), text
    return text


def load_generated(text: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(text, "<generated>", "exec"), namespace)
    return namespace


# Shapes.


def test_matmul_shape_mismatch_names_both_shapes_and_the_line(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="w")
        def loss(w: Array["K"], x: Array["N", "D"]):
            z = x @ w  # HERE
            return gg.sum(z)
        """,
    )
    text = assert_at(compile_error(path), line_of(path))
    assert "shape mismatch in @" in text
    assert "(N, D)" in text
    assert "(K,)" in text
    assert "Hint: " in text


def test_add_shape_mismatch_names_both_shapes_and_the_line(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="a")
        def loss(a: Array["N"], b: Array["D"]):
            doubled = 2 * a
            c = doubled + b  # HERE
            return gg.sum(c)
        """,
    )
    text = assert_at(compile_error(path), line_of(path))
    assert "shape mismatch in +" in text
    assert "(N,)" in text
    assert "(D,)" in text


# Branching on traced values.


def test_if_on_a_comparison_of_traced_values_cannot_branch(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="w")
        def loss(w: Array["D"], x: Array["N", "D"]):
            e = gg.sum(x @ w)
            if e > 0:  # HERE
                return e
            return -e
        """,
    )
    text = assert_at(compile_error(path), line_of(path))
    assert "cannot branch on a traced value" in text  # the comparison is a mask; `if` is not
    assert "gg.where" in text


def test_if_on_a_traced_value_cannot_branch(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="x")
        def loss(x: Array["N"]):
            total = gg.sum(x)
            if total:  # HERE
                return total
            return 2 * total
        """,
    )
    error = compile_error(path)
    text = assert_at(error, line_of(path))
    assert "cannot branch on a traced value" in error.message
    # an `if` with a return in it is left to Python, and the hint says so
    assert error.hint is not None and "return" in error.hint and "gg.cond" in error.hint
    assert f"Hint: {error.hint}" in text


def test_while_on_a_traced_float_is_not_a_condition(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="x")
        def loss(x: Array["N"]):
            total = gg.sum(x)
            while total:  # HERE
                total = total / 2
            return total
        """,
    )
    error = compile_error(path)
    assert_at(error, line_of(path))
    # the while becomes a gg.while_loop, whose condition must be one comparison
    assert "the condition of gg.while_loop gives float data, not one boolean" in error.message
    assert error.hint is not None and "gg.linalg.norm(b) < 1000" in error.hint


# Python control flow over static things is fine.


def test_for_loop_over_range_is_unrolled(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="w")
        def loss(w: Array["D"], x: Array["N", "D"]):
            h = x @ w
            total = 0.0
            for i in range(3):
                total = total + (i + 1) * gg.sum(h * h)
            return total
        """,
    )
    generated = load_generated(gradgen.compile_source(path))
    rng = np.random.default_rng(1)
    w, x = rng.normal(size=3), rng.normal(size=(4, 3))

    value = generated["loss"](w, x)
    d_w = generated["loss_grad"](w, x)

    # total = (1 + 2 + 3) * sum((x @ w)**2); gradient 6 * 2 x^T (x @ w)
    np.testing.assert_allclose(value, 6 * np.sum((x @ w) ** 2))
    np.testing.assert_allclose(d_w, 12 * x.T @ (x @ w))


def test_if_on_a_static_dimension_takes_the_right_branch(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="w")
        def loss(w: Array[3], x: Array["N", 3]):
            if x.shape[1] == 3:
                return gg.sum(gg.sin(x @ w))
            return 100.0 * gg.sum(x @ w)
        """,
    )
    generated = load_generated(gradgen.compile_source(path))
    rng = np.random.default_rng(2)
    w, x = rng.normal(size=3), rng.normal(size=(5, 3))

    d_w = generated["loss_grad"](w, x)

    np.testing.assert_allclose(d_w, x.T @ np.cos(x @ w))
    # And against central finite differences of the NumPy formula.
    eps = 1e-6
    fd = [
        (np.sum(np.sin(x @ (w + eps * e))) - np.sum(np.sin(x @ (w - eps * e)))) / (2 * eps)
        for e in np.eye(3)
    ]
    np.testing.assert_allclose(d_w, fd, rtol=1e-6, atol=1e-8)


# Functions that cannot be traced.


@pytest.mark.parametrize(
    ("call", "name"),
    [
        ("np.cumsum(x)", "numpy.cumsum"),
        ("np.linalg.eigvalsh(x)", "numpy.linalg.eigvalsh"),
        ("np.exp2(x)", "numpy.exp2"),
    ],
)
def test_unsupported_numpy_function_names_the_function_and_line(
    tmp_path: Path, call: str, name: str
) -> None:
    path = write_model(
        tmp_path,
        f"""
        @gg.function(wrt="x")
        def loss(x: Array["N"]):
            y = 2 * x
            z = {call}  # HERE
            return gg.sum(z)
        """,
    )
    text = assert_at(compile_error(path), line_of(path))
    assert name in text
    assert "not supported" in text
    assert len(text) < 250, text  # the closest function at most, never the whole list


@pytest.mark.parametrize(
    ("call", "suggestion"),
    [
        ("np.exp2(x)", "the closest gradgen function is gg.exp;"),
        ("np.arctanh(x)", "the closest gradgen function is gg.arctan;"),
        ("gg.tahn(x)", "did you mean gg.tanh?"),
        ("gg.sigmiod(x)", "did you mean gg.sigmoid?"),
        ("gg.linalg.nrom(x)", "did you mean gg.linalg.norm?"),
    ],
)
def test_a_misspelled_or_missing_function_gets_the_closest_name(
    tmp_path: Path, call: str, suggestion: str
) -> None:
    path = write_model(
        tmp_path,
        f"""
        @gg.function(wrt="x")
        def loss(x: Array["N"]):
            return gg.sum({call})  # HERE
        """,
    )
    text = assert_at(compile_error(path), line_of(path))
    assert suggestion in text
    with pytest.raises(AttributeError, match=r"no attribute 'nothing_like_it'$"):
        gradgen.nothing_like_it  # noqa: B018  (nothing close: no suggestion)


def test_math_function_on_a_traced_value(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="x")
        def loss(x: Array[()]):
            y = 3 * x
            z = math.exp(y)  # HERE
            return z
        """,
    )
    error = compile_error(path)
    text = assert_at(error, line_of(path))
    assert "math" in error.message
    assert "Python number" in error.message
    assert "gg.exp" in text


# The decorator and the signature.


def _decorator_and_def_lines(path: Path) -> set[int]:
    return {line_of(path, "@gg.function"), line_of(path, "def loss")}


def test_wrt_names_a_missing_argument(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt=("w", "bias"))
        def loss(w: Array["D"], b: Array[()], x: Array["N", "D"]):
            return gg.sum(x @ w + b)
        """,
    )
    error = compile_error(path)
    assert error.location is not None
    assert error.location.lineno in _decorator_and_def_lines(path)
    text = str(error)
    assert text.startswith(f"model.py:{error.location.lineno}: "), text
    assert "'bias'" in text
    assert "loss" in error.message
    assert error.hint is not None and "w, b, x" in error.hint


def test_wrt_names_an_integer_argument(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt=("w", "labels"))
        def loss(w: Array["D"], x: Array["N", "D"], labels: IntArray["N"]):
            return gg.sum((x @ w) * labels)
        """,
    )
    error = compile_error(path)
    assert error.location is not None
    assert error.location.lineno in _decorator_and_def_lines(path)
    assert "'labels'" in error.message
    assert "integer" in error.message
    assert "IntArray" in str(error)


def test_argument_without_annotation(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="w")
        def loss(w: Array["D"], x):
            return gg.sum(x @ w)
        """,
    )
    error = compile_error(path)
    assert error.location is not None
    assert error.location.lineno in _decorator_and_def_lines(path)
    assert "'x'" in error.message
    assert "loss" in error.message
    assert "annotation" in error.message
    assert str(error).startswith(f"model.py:{error.location.lineno}: ")


# The model as a whole.


def test_model_whose_import_raises_reports_the_line(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        SCALE = 2.0
        RATIO = SCALE / 0  # HERE


        @gg.function(wrt="x")
        def loss(x: Array["N"]):
            return gg.sum(x)
        """,
    )
    error = compile_error(path)
    text = assert_at(error, line_of(path))
    assert "ZeroDivisionError" in text


def test_returning_a_python_float_is_an_error(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="x")
        def loss(x: Array["N"]):
            y = gg.sum(x)
            return 1.5  # HERE
        """,
    )
    error = compile_error(path)
    assert error.location is not None
    assert error.location.lineno in _decorator_and_def_lines(path) | {line_of(path)}
    assert str(error).startswith(f"model.py:{error.location.lineno}: ")
    assert "loss returns float" in error.message
    assert "array" in error.message


def test_index_out_of_range_known_at_trace_time(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="x")
        def loss(x: Array["N", 3]):
            return gg.sum(x[:, 3])  # HERE
        """,
    )
    text = assert_at(compile_error(path), line_of(path))
    assert "index 3 is out of range for axis 1 of size 3" in text
    assert "('N', 3)" in text


def test_indexing_with_a_traced_array_is_refused(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="x")
        def loss(x: Array["N"], i: Array["N"]):
            return gg.sum(x[i])  # HERE
        """,
    )
    text = assert_at(compile_error(path), line_of(path))
    assert "indexing with a traced array is not supported" in text


def test_a_dim_no_argument_has_is_refused(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="x")
        def loss(x: Array["D"]):
            return gg.sum(gg.broadcast_to(x, ("M", "D")))  # HERE
        """,
    )
    text = assert_at(compile_error(path), line_of(path))
    assert "dimension M is not the size of any argument of loss" in text


def test_inverse_of_a_non_square_matrix(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="a")
        def loss(a: Array["N", 3]):
            return gg.sum(gg.linalg.inv(a))  # HERE
        """,
    )
    text = assert_at(compile_error(path), line_of(path))
    assert "gg.linalg.inv" in text and "square matrices" in text and "(N, 3)" in text


def test_gathering_with_a_float_index(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="z")
        def loss(z: Array["N", 3], where: Array["N"]):
            return gg.sum(gg.take(z, where, axis=0))  # HERE
        """,
    )
    text = assert_at(compile_error(path), line_of(path))
    assert "gg.take was given float indices" in text and "IntArray" in text


def test_einsum_with_mismatched_axes(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="a")
        def loss(a: Array["N", 3], b: Array[4, 2]):
            return gg.sum(gg.einsum("ij,jk->ik", a, b))  # HERE
        """,
    )
    text = assert_at(compile_error(path), line_of(path))
    assert "gg.einsum" in text and "einsum axis 'j' is 3 and 4" in text


def test_an_op_with_the_wrong_arity(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="x")
        def loss(x: Array["N"]):
            return gg.sum(gg.exp(x, x))  # HERE
        """,
    )
    text = assert_at(compile_error(path), line_of(path))
    assert "exp() takes 1 argument (x): too many positional arguments" in text


def test_a_bad_axis(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        """
        @gg.function(wrt="x")
        def loss(x: Array["N", 3]):
            return gg.sum(gg.mean(x, axis=2))  # HERE
        """,
    )
    text = assert_at(compile_error(path), line_of(path))
    assert "gg.mean" in text and "axis 2 is out of range" in text and "(N, 3)" in text
