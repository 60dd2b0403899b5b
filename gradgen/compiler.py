"""The compile driver: model file -> traced graphs -> derivative graphs -> passes -> module.

Data flows one way: `load_functions` imports the model file and finds its `@gg.function`s,
`compile_function` traces and differentiates one, `compile_source` emits the module text,
`load` compiles one function in memory and returns the imported module. Each phase can
report its time and graph size (`gradgen compile -v`).
"""

from __future__ import annotations

import importlib.util
import linecache
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from gradgen.aliasing import own_outputs
from gradgen.api import Function
from gradgen.codegen.builders import FunctionSource
from gradgen.codegen.module import format_module, graph_hash, render_module
from gradgen.derivative_graphs import (
    hessian_graph,
    hvp_graph,
    jacobian_graph,
    jvp_graph,
    value_and_grad_graph,
)
from gradgen.errors import GradgenError, NoFunctionsError, SourceLocation, innermost_location
from gradgen.ir import Graph
from gradgen.passes.pipeline import prepare
from gradgen.reverse import gradient_names, reverse_mode
from gradgen.shapes import format_shape
from gradgen.targets import NUMPY, Target
from gradgen.tracing import trace
from gradgen.verify import verify
from gradgen.version import __version__

# Called after each phase with (phase name, seconds, what it made).
PhaseReport = Callable[[str, float, str], None]
T = TypeVar("T")


def _timed(
    report: PhaseReport | None, phase: str, run: Callable[[], T], describe: Callable[[T], str]
) -> T:
    start = time.perf_counter()
    result = run()
    if report is not None:
        report(phase, time.perf_counter() - start, describe(result))
    return result


def _size(name: str) -> Callable[[Graph], str]:
    return lambda graph: f"{name}: {len(graph.equations)} equations"


@dataclass(frozen=True)
class CompiledFunction:
    """One `@gg.function`, traced and differentiated."""

    function: Function  # the user's decorated function
    forward: Graph  # the traced graph: inputs -> value (, aux values)
    joint: Graph  # optimized: inputs + d_value -> value, gradients (, aux values)
    aux_names: tuple[str, ...] = ()  # has_aux: the aux dict's keys
    derived: tuple[tuple[str, Graph], ...] = ()  # (kind, optimized graph) as emit asks

    def ir_text(self) -> str:
        """Every graph of this function as IR text, each under a `# name: what` header: the
        traced graph, the optimized joint graph, then each derived function's graph (the
        `gradgen show --ir` view and the golden files' format)."""
        name = self.function.name
        parts = [
            f"# {name}: traced\n{self.forward}\n",
            f"# {name}: differentiated and optimized\n{self.joint}\n",
        ]
        parts += [f"# {name}_{kind}\n{graph}\n" for kind, graph in self.derived]
        return "\n".join(parts)

    def source(self) -> FunctionSource:
        f = self.function
        return FunctionSource(
            f.name,
            tuple(f.specs),
            f.wrt,
            f.wrt_is_sequence,
            self.forward,
            self.joint,
            f.emit,
            f.has_aux,
            self.aux_names,
            self.derived,
        )


def load_functions(path: str | os.PathLike[str]) -> list[Function]:
    """Import the model file at `path` and return its `@gg.function`s in source order."""
    path = Path(path)
    if not path.is_file():
        raise GradgenError(
            f"model file {path} not found.", hint="check the path, relative to this folder."
        )
    filename = str(path.resolve())
    module_name = f"_gradgen_model_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except GradgenError:
        raise
    except SyntaxError as error:
        raise GradgenError(
            f"syntax error: {error.msg}.",
            SourceLocation(filename, error.lineno or 1),
            "the model file must be valid Python; `python -m py_compile` shows the same.",
        ) from None
    except Exception as error:
        location = innermost_location(error, frozenset({filename}))
        raise GradgenError(
            f"importing the model failed: {type(error).__name__}: {error}",
            location,
            "the model file must import without errors; run it with python to see.",
        ) from error
    finally:
        sys.path.remove(str(path.resolve().parent))
        sys.modules.pop(module_name, None)
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, Function) and value.fn.__code__.co_filename == filename
    ]
    return sorted(found, key=lambda f: f.fn.__code__.co_firstlineno)


def trace_function(
    function: Function, report: PhaseReport | None = None, aux_names: list[str] | None = None
) -> Graph:
    """The traced graph of `function`: its arguments -> its value (named `value` unless the
    user named it), then its aux values when it has them (their keys go to `aux_names`)."""
    names = list(function.specs)
    shapes = [(spec.shape, spec.integer) for spec in function.specs.values()]
    keys = (aux_names if aux_names is not None else []) if function.has_aux else None
    forward = _timed(
        report,
        "trace",
        lambda: trace(function.fn, names, shapes, keys),
        _size(function.name),
    )
    if forward.outputs[0] not in forward.hints:
        forward = forward.replace(hints={**forward.hints, forward.outputs[0]: "value"})
    return forward


def differentiate(
    function: Function,
    forward: Graph,
    check: Callable[[Graph], Graph] | None = None,
    report: PhaseReport | None = None,
    aux_names: Sequence[str] = (),
    target: Target = NUMPY,
) -> CompiledFunction:
    """Apply reverse mode to a traced graph for the function's `wrt`, build the derived
    functions `emit` asks for, and run `target`'s passes on each; `check` runs on every
    intermediate graph (tests pass `verify`). `aux_names` are the keys of a has_aux
    function's aux dict. (`targets.REFERENCE` is the unoptimized reference the tests
    compare shipped code with.)"""
    passes = target.optimize
    if check:
        check(forward)
    names = list(function.specs)
    wrt = [names.index(w) for w in function.wrt]
    prepared = prepare(forward, check)
    joint = _timed(
        report, "differentiate", lambda: reverse_mode(prepared, wrt), _size(function.name)
    )
    if check:
        check(joint)
    optimized = _timed(report, "optimize", lambda: passes(joint, check), _size(function.name))
    derived = []
    value = forward.outputs[0]
    if target.fuse_value_and_grad and "grad" in function.emit and all(d == 1 for d in value.shape):
        graph = _timed(
            report,
            "value_and_grad",
            lambda: own_outputs(
                passes(value_and_grad_graph(optimized, wrt), check),
                1 + len(wrt),
                gradient_names(forward.inputs, wrt),
            ),
            _size(function.name),
        )
        derived.append(("value_and_grad", graph))
    for kind in function.emit:
        if kind != "grad":
            graph = _timed(
                report,
                kind,
                lambda kind=kind: _optimized_derived(function, prepared, kind, check, passes),
                _size(function.name),
            )
            derived.append((kind, graph))
    return CompiledFunction(function, forward, optimized, tuple(aux_names), tuple(derived))


def _optimized_derived(
    function: Function,
    prepared: Graph,
    kind: str,
    check: Callable[[Graph], Graph] | None,
    passes: Callable[[Graph, Callable[[Graph], Graph] | None], Graph],
) -> Graph:
    """f_<kind>'s graph after `passes`, every output still a fresh array."""
    graph = passes(_derived_graph(function, prepared, kind), check)
    return own_outputs(graph, len(graph.outputs))


def _derived_graph(function: Function, prepared: Graph, kind: str) -> Graph:
    """The unoptimized graph of f_<kind> (see gradgen.derivative_graphs), from the traced
    graph after the prepare passes; aux outputs play no part."""
    names = list(function.specs)
    wrt = [names.index(w) for w in function.wrt]
    value = prepared.outputs[0]
    if kind in ("hessian", "hvp") and any(d != 1 for d in value.shape):
        raise GradgenError(
            f"emit={kind!r} needs a scalar value, but {function.name} returns shape "
            f"{format_shape(value.shape)}.",
            function.location,
            "a Hessian is defined for a scalar function; use 'jacobian' for a vector value.",
        )
    prepared = prepared.replace(outputs=(value,))
    if kind == "jvp":
        return jvp_graph(prepared, wrt, [f"{w}_dot" for w in function.wrt])
    if kind == "hvp":
        return hvp_graph(prepared, wrt, [f"v_{w}" for w in function.wrt])
    if kind == "hessian":
        return hessian_graph(prepared, wrt)
    return jacobian_graph(prepared, wrt)


def compile_function(
    function: Function,
    check: Callable[[Graph], Graph] | None = None,
    report: PhaseReport | None = None,
    target: Target = NUMPY,
) -> CompiledFunction:
    """Trace and differentiate `function` (see `trace_function` and `differentiate`)."""
    aux_names: list[str] = []
    forward = trace_function(function, report, aux_names)
    return differentiate(function, forward, check, report, aux_names, target)


def compile_source(
    path: str | os.PathLike[str], report: PhaseReport | None = None, check_ir: bool = False
) -> str:
    """The text of the generated module for the model file at `path`; with `check_ir`,
    `verify` runs on every graph after every pass (an IRError is a bug in gradgen)."""
    functions = load_functions(path)
    if not functions:
        raise NoFunctionsError(
            f"{display_path(path)} defines no @gg.function.",
            hint="decorate the loss with @gg.function(wrt=(...)).",
        )
    _check_generated_names(functions)
    check = verify if check_ir else None
    compiled = [compile_function(f, check, report).source() for f in functions]
    return _emit(compiled, display_path(path), report)


def _emit(sources: list[FunctionSource], source_path: str, report: PhaseReport | None) -> str:
    def lines(text: str) -> str:
        return f"{text.count(chr(10))} lines"

    text = _timed(report, "emit", lambda: render_module(sources, source_path, __version__), lines)
    return _timed(report, "format", lambda: format_module(text), lines)


_LOADED: dict[tuple[str, ...], ModuleType] = {}


def load(function: Function) -> ModuleType:
    """Compile `function` in memory and return the generated module, imported (for
    notebooks and tests). Cached on the traced graph's hash: the second call for the same
    graph only traces."""
    aux_names: list[str] = []
    forward = trace_function(function, aux_names=aux_names)
    key = (
        function.name,
        *function.wrt,
        str(function.wrt_is_sequence),
        *function.emit,
        *aux_names,
        graph_hash(forward),
    )
    if key not in _LOADED:
        source = display_path(function.fn.__code__.co_filename)
        compiled = differentiate(function, forward, aux_names=aux_names)
        text = _emit([compiled.source()], source, None)
        _LOADED[key] = _import_text(text, f"{function.name}_grad")
    return _LOADED[key]


def import_file(path: Path) -> ModuleType:
    """Import a generated module from its file."""
    if not path.is_file():
        raise GradgenError(
            f"generated module {path} not found.", hint="create it with `gradgen compile`."
        )
    try:
        return _import_text(path.read_text(), path.stem, str(path))
    except Exception as error:
        location = innermost_location(error, frozenset({str(path)}))
        if isinstance(error, SyntaxError):
            location = SourceLocation(str(path), error.lineno or 1)
        raise GradgenError(
            f"importing the generated module failed: {type(error).__name__}: {error}",
            location,
            "regenerate it with `gradgen compile`.",
        ) from error


def _import_text(text: str, name: str, filename: str | None = None) -> ModuleType:
    filename = filename or f"<gradgen:{name}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    module = ModuleType(name)
    module.__file__ = filename
    exec(compile(text, filename, "exec"), module.__dict__)
    return module


GENERATED_SUFFIXES = (
    "",
    "_forward",
    "_backward",
    "_value_and_grad",
    "_grad",
    "_jvp",
    "_jacobian",
    "_hessian",
    "_hvp",
)


def _check_generated_names(functions: list[Function]) -> None:
    """Two functions may not generate the same name (`loss` makes `loss_grad`, so a
    second function called `loss_grad` would be overwritten)."""
    owners: dict[str, Function] = {}
    for function in functions:
        for suffix in GENERATED_SUFFIXES:
            name = function.name + suffix
            if name in owners and owners[name] is not function:
                raise GradgenError(
                    f"the generated function {name} would be made for both "
                    f"{owners[name].name} and {function.name}.",
                    function.location,
                    "rename one of them.",
                )
            owners[name] = function


def display_path(path: str | os.PathLike[str]) -> str:
    """`path` relative to the working directory when below it (stable in headers)."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return Path(path).name


def output_path(model: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    return Path(out_dir) / f"{Path(model).stem}_grad.py"


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
