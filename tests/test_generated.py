"""generated/ is the golden output: regenerating it reproduces the committed files byte for
byte, it is ruff-clean, and the modules run where gradgen and its dependencies are absent."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support import REPO, import_blocked_modules_snippet

import gradgen
from gradgen.cli import model_files
from gradgen.compiler import load_functions, output_path

MODELS = [m for m in model_files([str(REPO / "examples")]) if load_functions(m)]
GENERATED = REPO / "generated"


def test_every_example_has_a_generated_module() -> None:
    assert len(MODELS) >= 4
    expected = {output_path(m, GENERATED).name for m in MODELS}
    present = {p.name for p in GENERATED.glob("*_grad.py")}
    assert expected == present, "run `gradgen compile examples/` and commit generated/"


@pytest.mark.parametrize("model", MODELS, ids=[m.stem for m in MODELS])
def test_generated_module_is_current(model, monkeypatch) -> None:
    monkeypatch.chdir(REPO)  # headers name the model relative to the repository root
    committed = output_path(model, GENERATED).read_text()
    assert (
        gradgen.compile_source(model.relative_to(REPO)) == committed
    ), f"generated/{model.stem}_grad.py is stale: run `gradgen compile examples/`"


def test_compiling_twice_gives_identical_text(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    model = MODELS[0].relative_to(REPO)
    assert gradgen.compile_source(model) == gradgen.compile_source(model)


def test_generated_code_is_ruff_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", str(GENERATED)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_module_imports_only_numpy(tmp_path) -> None:
    """Each module is imported and run in a process where gradgen, sympy, jinja2 and black
    cannot be imported."""
    script = import_blocked_modules_snippet(["gradgen", "sympy", "jinja2", "black"]) + (
        "import importlib.util, pathlib\n"
        "import numpy as np\n"
        f"for path in sorted(pathlib.Path({str(GENERATED)!r}).glob('*_grad.py')):\n"
        "    spec = importlib.util.spec_from_file_location(path.stem, path)\n"
        "    module = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(module)\n"
        "    print(path.stem)\n"
        "import gradgen\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    # The last line proves the block works: importing gradgen itself must fail.
    assert "blocked for this test: gradgen" in result.stderr, result.stderr
    imported = result.stdout.split()
    assert imported == sorted(p.stem for p in GENERATED.glob("*_grad.py")), result.stderr


def test_standalone_module_computes_gradients(tmp_path) -> None:
    script = import_blocked_modules_snippet(["gradgen", "sympy", "jinja2", "black"]) + (
        "import importlib.util\n"
        "import numpy as np\n"
        f"path = {str(GENERATED / 'linear_regression_grad.py')!r}\n"
        "spec = importlib.util.spec_from_file_location('m', path)\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]); y = np.array([1.0, 2.0, 3.0])\n"
        "value, (d_w, d_b) = m.loss_value_and_grad(np.zeros(2), 0.0, x, y)\n"
        "print(repr(float(value)), *map(repr, d_w.tolist()), repr(float(d_b)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # Hand calculation: e = y, L = mean(y^2) = 14/3, dL/dw = -2/N x.T y, dL/db = -2/N sum(y).
    # Numbers are compared with a tolerance, never as text: the last bit depends on the BLAS.
    numbers = [float(word) for word in result.stdout.split()]
    expected = [14 / 3, -2 / 3 * 22.0, -2 / 3 * 28.0, -4.0]
    assert numbers == pytest.approx(expected, rel=1e-12, abs=1e-12)


def _run_example_script(name: str) -> str:
    """Run examples/<name> from the repository root; its standard output."""
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / name)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_training_script_lowers_the_loss() -> None:
    output = _run_example_script("train_linear_regression.py")
    losses = [float(line.split()[-1]) for line in output.splitlines() if "loss" in line]
    assert len(losses) == 11 and losses[-1] < 0.02 < losses[0]
    assert all(later <= earlier for earlier, later in zip(losses, losses[1:]))


def test_rnn_training_through_time_lowers_the_loss() -> None:
    """The generated loop runs over sequences of 20 steps in training and of 60 after."""
    output = _run_example_script("train_rnn.py")
    losses = [float(line.split()[-1]) for line in output.splitlines()]
    trained, first, longer, zeros = losses[-3], losses[0], losses[-2], losses[-1]
    assert len(losses) == 9 and trained < 0.05 * first, output
    assert longer < 0.05 * zeros, output


def test_readme_shows_the_real_generated_backward() -> None:
    readme = (REPO / "README.md").read_text()
    header = "def loss_backward(saved, d_value=None, accumulate_into=None):\n"
    snippet = readme.split(header, 1)[1].split("```")[0]
    generated = (GENERATED / "linear_regression_grad.py").read_text()
    body = generated.split(header, 1)[1]
    body = body.split('    """\n', 1)[1]  # skip the docstring
    assert body.startswith(snippet), "update the README's example of generated code"


def test_readme_shows_the_real_generated_loops() -> None:
    """The README's RNN loops are generated/rnn_grad.py's, the forward loop and the backward
    loop each as one run of lines (the README elides what lies between them)."""
    readme = (REPO / "README.md").read_text()
    snippet = readme.split("    h = h0\n", 1)[1].split("```")[0]
    forward, backward = snippet.split("    ...\n")
    generated = (GENERATED / "rnn_grad.py").read_text()
    assert "    h = h0\n" + forward in generated, "update the README's RNN forward loop"
    assert backward in generated, "update the README's RNN backward loop"


def test_mlp_training_raises_test_accuracy() -> None:
    output = _run_example_script("train_mlp.py")
    accuracies = [float(line.split()[-1]) for line in output.splitlines()[1:]]
    assert len(accuracies) == 7
    assert accuracies[0] < 0.3 and accuracies[-1] > accuracies[0] + 0.4, output
