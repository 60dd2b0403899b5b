"""Shared test helpers: compile a function into a loaded module, draw inputs from its
annotations, and compare gradients against finite differences and an oracle."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import itertools
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import gradgen
from gradgen.api import Function
from gradgen.codegen.module import emit_module
from gradgen.compiler import compile_function
from gradgen.graph_builder import Builder
from gradgen.ir import Graph, Var
from gradgen.targets import NUMPY, REFERENCE
from gradgen.verify import verify

REPO = Path(__file__).resolve().parents[1]
DIMS = {"N": 5, "D": 3, "K": 4, "M": 2}  # sizes for named dims in tests
_counter = itertools.count()


def load_text(text: str, directory: Path, stem: str = "module") -> ModuleType:
    """Write generated module text to `directory` and import it under a unique name."""
    path = directory / f"{stem}_{next(_counter)}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_to_module(
    functions: Sequence[Function], directory: Path, unoptimized: bool = False
) -> ModuleType:
    """Compile `functions` (checking the IR after every pass) and import the result; with
    `unoptimized`, no optimization at all (no passes, no fused value_and_grad, no in-place
    code, no dot products)."""
    target = REFERENCE if unoptimized else NUMPY
    sources = [compile_function(f, check=verify, target=target).source() for f in functions]
    text = emit_module(sources, "test", gradgen.__version__, target.printer())
    return load_text(text, directory, "unoptimized" if unoptimized else "module")


def random_inputs(
    function: Function,
    rng: np.random.Generator,
    domain: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[Any]:
    """Arguments for `function` drawn from its annotations: floats from N(0, 1) (mapped
    through `domain`), integers from 0..3; a scalar float argument is a Python float."""
    args: list[Any] = []
    for spec in function.specs.values():
        shape = tuple(DIMS.get(d, 4) if isinstance(d, str) else d for d in spec.shape)
        if spec.integer:
            args.append(rng.integers(0, 4, size=shape))
            continue
        value = rng.normal(size=shape)
        if domain is not None:
            value = domain(value)
        args.append(float(value) if shape == () else value)
    return args


def relative_error(actual: Any, expected: Any) -> float:
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(np.linalg.norm(expected), 1e-12)
    return float(np.linalg.norm(actual - expected) / scale)


def numerical_vjp(
    f: Callable[..., Any], args: list[Any], index: int, d_value: Any, step: float = 1e-3
) -> np.ndarray:
    """Five-point central differences of <d_value, f(args)> with respect to args[index]
    (truncation error O(step**4), so small gradients are resolved too)."""
    base = np.array(args[index], dtype=float)
    grad = np.zeros_like(base)
    for i in np.ndindex(base.shape):
        h = step * max(1.0, abs(base[i]))
        values = []
        for offset in (2, 1, -1, -2):
            shifted = base.copy()
            shifted[i] += offset * h
            trial = list(args)
            trial[index] = shifted if shifted.shape else float(shifted)
            values.append(np.sum(np.asarray(d_value) * f(*trial)))
        grad[i] = (8 * (values[1] - values[2]) - (values[0] - values[3])) / (12 * h)
    return grad


def numerical_jvp(
    f: Callable[..., Any], args: list[Any], tangents: Sequence[Any], step: float = 1e-3
) -> np.ndarray:
    """Five-point central differences of f along the line args + s * tangents (one tangent
    per argument, None where it stays fixed): the Jacobian-vector product."""

    def along(s: float) -> np.ndarray:
        trial = [
            a if t is None else (np.asarray(a, float) + s * np.asarray(t, float))
            for a, t in zip(args, tangents)
        ]
        trial = [t if np.ndim(t) else float(t) for t in trial]
        return np.asarray(f(*trial), dtype=float)

    far_right, right, left, far_left = (along(k * step) for k in (2, 1, -1, -2))
    return (8 * (right - left) - (far_right - far_left)) / (12 * step)


def oracle_vjp(f: Callable[..., Any], args: list[Any], index: int, d_value: Any) -> np.ndarray:
    """The VJP from HIPS autograd, an independent reverse-mode implementation."""
    import autograd

    def along(x: Any) -> Any:
        trial = list(args)
        trial[index] = x
        return f(*trial)

    vjp, _ = autograd.make_vjp(along)(args[index])
    return np.asarray(vjp(np.asarray(d_value, dtype=float)))


def oracle_jvp(f: Callable[..., Any], args: list[Any], tangents: Sequence[Any]) -> np.ndarray:
    """The JVP from HIPS autograd: its forward mode, one argument at a time, or where
    autograd has no forward rule (its linalg), the transpose of its reverse mode."""
    import autograd
    from autograd.differential_operators import make_jvp_reversemode

    total = np.zeros(np.shape(f(*args)))
    for index, tangent in enumerate(tangents):
        if tangent is None:
            continue

        def along(x: Any, index: int = index) -> Any:
            trial = list(args)
            trial[index] = x
            return f(*trial)

        tangent = np.asarray(tangent, dtype=float)
        try:
            _, dot = autograd.make_jvp(along)(args[index])(tangent)
        except NotImplementedError:
            dot = make_jvp_reversemode(along)(args[index])(tangent)
        total = total + np.asarray(dot)
    return total


def import_blocked_modules_snippet(blocked: Sequence[str]) -> str:
    """Python source that makes importing any of `blocked` fail, for subprocess tests."""
    return (
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {tuple(blocked)!r}:\n"
        "            raise ImportError('blocked for this test: ' + name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Block())\n"
    )


def in_sys_path(path: Path) -> None:
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


class GraphMaker:
    """Builds graphs equation by equation, for pass tests."""

    def __init__(self) -> None:
        self.builder = Builder(frozenset())
        self.inputs: list[Var] = []

    def input(self, name: str, shape: tuple = ("N",)) -> Var:
        var = self.builder.new_var(shape)
        self.builder.hints[var] = name
        self.inputs.append(var)
        return var

    def __call__(self, op: str, *inputs: object, name: str | None = None, **params: object) -> Var:
        atoms = [self.builder.atom(i) for i in inputs]
        var = self.builder.emit(op, atoms, params)
        if name:
            self.builder.hints[var] = name
        return var

    def derivative_steps(self) -> None:
        """Equations made from now on count as derivative equations (fusable)."""
        self.builder.origin = self.builder.equations[-1]

    def graph(self, *outputs: Var) -> Graph:
        return verify(
            Graph(tuple(self.inputs), tuple(self.builder.equations), outputs, self.builder.hints)
        )


@dataclasses.dataclass(frozen=True)
class CommandResult:
    """What one `gradgen` command gave: like subprocess.CompletedProcess."""

    returncode: int  # main's return value, or the SystemExit code (argparse, --help)
    stdout: str
    stderr: str


def run_gradgen(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> CommandResult:
    """`gradgen ARGS` in `cwd`, in this process (fast): the command's `main(argv)` with
    stdout and stderr captured and the environment's `env` entries set for the call."""
    from gradgen import cli

    out, err = io.TextIOWrapper(io.BytesIO(), "utf-8"), io.TextIOWrapper(io.BytesIO(), "utf-8")
    saved = {name: os.environ.get(name) for name in (env or {})}
    previous = Path.cwd()
    os.chdir(cwd)
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 2
    finally:
        os.chdir(previous)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    texts = []
    for stream in (out, err):
        stream.flush()
        texts.append(stream.buffer.getvalue().decode("utf-8"))
    return CommandResult(code, *texts)
