"""The `gradgen` command line, through its `main(argv)` in process; one smoke test per
command runs the real `python -m gradgen` as a subprocess.

Every model file and every output folder lives under pytest's tmp_path; each command runs
with that folder as its working directory.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from support import CommandResult, run_gradgen

import gradgen

LINEAR_MODEL = """\
import gradgen as gg
from gradgen import Array


@gg.function(wrt=("w", "b"))
def loss(w: Array["D"], b: Array[()], x: Array["N", "D"], y: Array["N"]):
    z = x @ w
    return 0.5 * gg.mean((z + b - y) ** 2)
"""

CIRCUIT_MODEL = """\
import gradgen as gg
from gradgen import Array


@gg.function(wrt=("x", "y"))
def circuit(x: Array[()], y: Array[()]):
    return (x + y) * y
"""

# A script beside the models that mentions gradgen but defines no @gg.function.
TRAIN_SCRIPT = '''\
"""Training loop for the gradgen linear model (uses the generated module)."""

import numpy as np


def main():
    from out.linear_grad import loss_grad

    w, b = np.zeros(3), 0.0
    x, y = np.ones((4, 3)), np.ones(4)
    for _ in range(10):
        d_w, d_b = loss_grad(w, b, x, y)
        w, b = w - 0.1 * d_w, b - 0.1 * d_b


if __name__ == "__main__":
    main()
'''

# A plain helper that does not mention the package at all.
PLAIN_SCRIPT = """\
def helper():
    return 42
"""


def run(cwd: Path, *args: str) -> CommandResult:
    """`gradgen ARGS` in `cwd`, in process (the smoke tests below run the real command)."""
    return run_gradgen(cwd, *args)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def import_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_one_line_error(result: CommandResult) -> str:
    """Exit 2 with exactly one line on stderr, no traceback, nothing written."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "error" in lines[0], lines[0]
    assert "wrote" not in result.stdout, result.stdout
    return lines[0]


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with model.py compiled into out/model_grad.py (do not modify it)."""
    root = tmp_path_factory.mktemp("compiled")
    write(root / "model.py", LINEAR_MODEL)
    result = run(root, "compile", "model.py", "-o", "out")
    assert result.returncode == 0, result.stderr
    return root


def test_compile_writes_stem_grad_module(compiled: Path) -> None:
    assert files_in(compiled / "out") == ["model_grad.py"]


def test_generated_module_imports_and_gives_gradients_of_parameter_shapes(
    compiled: Path,
) -> None:
    module = import_file(compiled / "out" / "model_grad.py", "_test_cli_model_grad")
    rng = np.random.default_rng(0)
    n, d = 5, 3
    w, b = rng.normal(size=d), 0.7
    x, y = rng.normal(size=(n, d)), rng.normal(size=n)

    d_w, d_b = module.loss_grad(w, b, x, y)

    assert np.shape(d_w) == (d,)
    assert np.shape(d_b) == ()
    residual = x @ w + b - y  # loss = 0.5 * mean(residual**2)
    np.testing.assert_allclose(d_w, x.T @ residual / n)
    np.testing.assert_allclose(d_b, residual.mean())


def test_default_output_folder_is_generated(tmp_path: Path) -> None:
    write(tmp_path / "model.py", LINEAR_MODEL)
    result = run(tmp_path, "compile", "model.py")
    assert result.returncode == 0, result.stderr
    assert files_in(tmp_path / "generated") == ["model_grad.py"]
    assert files_in(tmp_path) == ["generated", "model.py"]
    assert "generated/model_grad.py" in result.stdout.replace("\\", "/")


def test_output_is_byte_identical_when_compiled_twice(compiled: Path) -> None:
    first = (compiled / "out" / "model_grad.py").read_bytes()
    result = run(compiled, "compile", "model.py", "-o", "out_again")
    assert result.returncode == 0, result.stderr
    assert (compiled / "out_again" / "model_grad.py").read_bytes() == first


def test_directory_compiles_every_model_and_skips_helper_scripts(tmp_path: Path) -> None:
    write(tmp_path / "models" / "linear.py", LINEAR_MODEL)
    write(tmp_path / "models" / "circuit.py", CIRCUIT_MODEL)
    write(tmp_path / "models" / "train.py", TRAIN_SCRIPT)
    write(tmp_path / "models" / "plain.py", PLAIN_SCRIPT)

    result = run(tmp_path, "compile", "models", "-o", "out")

    assert result.returncode == 0, result.stderr
    assert files_in(tmp_path / "out") == ["circuit_grad.py", "linear_grad.py"]
    assert result.stderr == ""
    circuit = import_file(tmp_path / "out" / "circuit_grad.py", "_test_cli_circuit_grad")
    d_x, d_y = circuit.circuit_grad(2.0, 3.0)  # (x + y) * y
    assert (float(d_x), float(d_y)) == (3.0, 8.0)


def test_helper_script_named_explicitly_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "models" / "linear.py", LINEAR_MODEL)
    write(tmp_path / "models" / "train.py", TRAIN_SCRIPT)

    result = run(tmp_path, "compile", "models/train.py", "-o", "out")

    line = assert_one_line_error(result)
    assert "train.py" in line
    assert "no @gg.function" in line
    assert not (tmp_path / "out").exists()


def test_check_passes_when_output_is_current_and_writes_nothing(compiled: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in (compiled / "out").iterdir()}
    result = run(compiled, "compile", "model.py", "-o", "out", "--check")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""
    assert {p.name: p.stat().st_mtime_ns for p in (compiled / "out").iterdir()} == before


def test_check_reports_missing_output_and_writes_nothing(tmp_path: Path) -> None:
    write(tmp_path / "model.py", LINEAR_MODEL)
    result = run(tmp_path, "compile", "model.py", "-o", "out", "--check")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "model_grad.py" in result.stderr
    assert "missing" in result.stderr
    assert not (tmp_path / "out").exists()


def test_check_reports_stale_output_and_writes_nothing(tmp_path: Path, compiled: Path) -> None:
    # The compiled output of LINEAR_MODEL, then the model's constant is changed.
    shutil.copytree(compiled / "out", tmp_path / "out")
    stale_bytes = (tmp_path / "out" / "model_grad.py").read_bytes()
    write(tmp_path / "model.py", LINEAR_MODEL.replace("0.5 *", "0.25 *"))

    result = run(tmp_path, "compile", "model.py", "-o", "out", "--check")

    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "model_grad.py" in result.stderr
    assert "stale" in result.stderr
    assert (tmp_path / "out" / "model_grad.py").read_bytes() == stale_bytes
    assert files_in(tmp_path / "out") == ["model_grad.py"]


def test_syntax_error_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    text = LINEAR_MODEL.replace("z = x @ w", "z = = x @ w")
    lineno = text.splitlines().index("    z = = x @ w") + 1
    write(tmp_path / "model.py", text)

    result = run(tmp_path, "compile", "model.py", "-o", "out")

    line = assert_one_line_error(result)
    assert f"model.py:{lineno}:" in line
    assert "syntax" in line.lower()
    assert not (tmp_path / "out").exists()


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    result = run(tmp_path, "compile", "nope.py", "-o", "out")
    line = assert_one_line_error(result)
    assert "nope.py" in line
    assert not (tmp_path / "out").exists()


def test_failed_compile_keeps_previous_output(tmp_path: Path) -> None:
    write(tmp_path / "model.py", LINEAR_MODEL)
    assert run(tmp_path, "compile", "model.py", "-o", "out").returncode == 0
    good = (tmp_path / "out" / "model_grad.py").read_bytes()
    broken = LINEAR_MODEL.replace('w: Array["D"]', 'w: Array["K"]')  # x @ w: (N, D) @ (K,)
    lineno = broken.splitlines().index("    z = x @ w") + 1
    write(tmp_path / "model.py", broken)

    result = run(tmp_path, "compile", "model.py", "-o", "out")

    line = assert_one_line_error(result)
    assert f"model.py:{lineno}:" in line
    assert "shape" in line
    assert (tmp_path / "out" / "model_grad.py").read_bytes() == good
    assert files_in(tmp_path / "out") == ["model_grad.py"]  # no temporary files left


def test_one_failing_model_in_a_directory_writes_no_output(tmp_path: Path) -> None:
    write(tmp_path / "models" / "a_good.py", LINEAR_MODEL)
    write(tmp_path / "models" / "b_bad.py", LINEAR_MODEL.replace('y: Array["N"]', 'y: Array["M"]'))

    result = run(tmp_path, "compile", "models", "-o", "out")

    line = assert_one_line_error(result)
    assert "b_bad.py" in line
    assert not (tmp_path / "out").exists()


def test_version(tmp_path: Path) -> None:
    result = run(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert gradgen.__version__ in result.stdout


def test_compile_help_mentions_check(tmp_path: Path) -> None:
    result = run(tmp_path, "compile", "--help")
    assert result.returncode == 0, result.stderr
    assert "--check" in result.stdout
    assert "-o" in result.stdout


SMOKE_MODEL = """\
import gradgen as gg
from gradgen import Array


@gg.function(wrt="x")
def loss(x: Array["N"]):
    return gg.sum(gg.sin(x) * x)
"""


@pytest.mark.parametrize(
    "command",
    [
        ["compile", "model.py"],
        ["compile", "model.py", "--check"],
        ["check", "model.py"],
        ["show", "model.py"],
        ["graph", "model.py", "--format", "mermaid"],
    ],
    ids=lambda c: " ".join(c[:1] + c[2:]),
)
def test_each_command_runs_as_a_real_process(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "model.py").write_text(SMOKE_MODEL)
    if command[1:] == ["model.py", "--check"]:
        assert run(tmp_path, "compile", "model.py").returncode == 0
    result = subprocess.run(
        [sys.executable, "-m", "gradgen", *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout or command[0] == "compile" and "--check" in command
