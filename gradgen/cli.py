"""The `gradgen` command line: compile, check, show and graph.

User errors print one line (`file:line: error: ... Hint: ...`) and exit 2 (`--traceback`
adds Python's traceback); `compile --check` and a failed `check` exit 1; internal errors
print a traceback and ask for a report (exit 3).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gradgen.api import Function
from gradgen.errors import GradgenError, NoFunctionsError
from gradgen.version import __version__

EXIT_FAILED = 1  # stale output, or a derivative check that failed
EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3


def model_files(paths: Sequence[str]) -> list[Path]:
    """The model files named by `paths`: files as given; for a directory, its *.py files
    that use gradgen (not recursive, `__init__.py` and files starting with `_` skipped)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for candidate in sorted(path.glob("*.py")):
                if candidate.name.startswith("_"):
                    continue
                if "gradgen" in candidate.read_text(encoding="utf-8", errors="replace"):
                    found.append(candidate)
        elif path.is_file():
            found.append(path)
        else:
            raise GradgenError(
                f"{raw}: no such file or directory.",
                hint="give a model file (model.py) or a folder of model files.",
            )
    return found


def split_target(target: str) -> tuple[Path, str | None]:
    """`model.py:loss` -> (model.py, "loss"); `model.py` -> (model.py, None)."""
    path, _, name = target.rpartition(":")
    if path and name.isidentifier() and not Path(target).exists():
        return Path(path), name
    return Path(target), None


def select_functions(path: Path, name: str | None) -> list[Function]:
    from gradgen.compiler import load_functions

    functions = load_functions(path)
    if not functions:
        raise NoFunctionsError(
            f"{path} defines no @gg.function.",
            hint="decorate the loss with @gg.function(wrt=(...)).",
        )
    if name is None:
        return functions
    chosen = [f for f in functions if f.name == name]
    if not chosen:
        defined = ", ".join(f.name for f in functions)
        raise GradgenError(
            f"{path} has no @gg.function named {name}; it defines {defined}.",
            hint=f"write {path}:FUNC with one of those names, or just {path} for all.",
        )
    return chosen


def _phase_printer(verbose: bool) -> Callable[[str, float, str], None] | None:
    if not verbose:
        return None

    def report(phase: str, seconds: float, detail: str) -> None:
        print(f"  {phase:<13} {seconds * 1000:8.1f} ms  {detail}", file=sys.stderr)

    return report


# -- gradgen compile


def _compile_command(args: argparse.Namespace) -> int:
    from gradgen.codegen.emit_tests import emit_test_module
    from gradgen.compiler import (
        compile_source,
        display_path,
        load_functions,
        output_path,
        write_atomically,
    )

    files = model_files(args.paths)
    inputs = _load_inputs(args.inputs)
    explicit = {Path(p) for p in args.paths if Path(p).is_file()}
    report = _phase_printer(args.verbose)
    outputs: dict[Path, str] = {}
    for model in files:
        start = time.perf_counter()
        if args.verbose:
            print(f"{display_path(model)}:", file=sys.stderr)
        try:
            text = compile_source(model, report, check_ir=args.verify)
        except NoFunctionsError:
            if model in explicit:
                raise
            continue  # a script beside the models, such as a training loop
        target = output_path(model, args.out_dir)
        outputs[target] = text
        if args.emit_tests:
            relative = None
            if args.inputs:
                relative = os.path.relpath(Path(args.inputs).resolve(), target.parent.resolve())
            test = emit_test_module(
                load_functions(model),
                target.stem,
                display_path(model),
                __version__,
                inputs,
                relative and Path(relative).as_posix(),
            )
            outputs[target.with_name(f"test_{target.name}")] = test
        if args.verbose:
            print(
                f"  {'total':<13} {(time.perf_counter() - start) * 1000:8.1f} ms", file=sys.stderr
            )
    if args.check or args.diff:
        return _report_stale(outputs, args.diff)
    for path, text in outputs.items():  # nothing is written unless everything compiled
        write_atomically(path, text)
        print(f"wrote {path}")
    return 0


def _report_stale(outputs: dict[Path, str], show_diff: bool) -> int:
    stale = 0
    for path, text in outputs.items():
        current = path.read_text() if path.is_file() else None
        if current == text:
            continue
        stale += 1
        state = "missing" if current is None else "stale"
        print(f"{path}: {state}; run `gradgen compile` to regenerate it", file=sys.stderr)
        if show_diff:
            sys.stdout.writelines(
                difflib.unified_diff(
                    (current or "").splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile=f"{path} (committed)",
                    tofile=f"{path} (regenerated)",
                )
            )
    return EXIT_FAILED if stale else 0


# -- gradgen check


def _parse_dims(values: Sequence[str]) -> dict[str, int]:
    dims = {}
    for value in values:
        name, _, size = value.partition("=")
        if not (name.isidentifier() and size.isdigit() and int(size) > 0):
            raise GradgenError(
                f"bad --dim {value!r}.", hint="write it as NAME=SIZE, for example --dim N=32."
            )
        dims[name] = int(size)
    return dims


def _load_inputs(path: str | None) -> dict[str, Any]:
    """The arrays of an .npz file, by argument name."""
    import numpy as np

    if path is None:
        return {}
    try:
        with np.load(path) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError) as error:
        raise GradgenError(
            f"cannot read the inputs file {path}: {error}.",
            hint="save the arrays by argument name: np.savez('inputs.npz', x=x, w=w).",
        ) from None


def _check_command(args: argparse.Namespace) -> int:
    from gradgen.checking import ModelDomainError, Tolerance, check_function
    from gradgen.compiler import import_file, load

    dims = _parse_dims(args.dim)
    inputs = _load_inputs(args.inputs)
    tolerance = Tolerance(args.rtol, args.atol)
    failed = 0
    module = import_file(Path(args.module)) if args.module else None
    functions: list[Function] = []
    for target in args.targets:
        path, name = split_target(target)
        if path.is_dir() and name is None:
            for model in model_files([str(path)]):
                try:
                    functions += select_functions(model, None)
                except NoFunctionsError:
                    continue  # a script beside the models
        else:
            functions += select_functions(path, name)
    unknown = sorted(set(inputs) - {n for f in functions for n in f.specs})
    if unknown:
        raise GradgenError(
            f"{args.inputs} has {', '.join(unknown)}, which no checked function takes.",
            hint="name each array after the argument it is for.",
        )
    print(f"an element passes where |error| <= {tolerance} * |expected|")
    for function in functions:
        loaded = module if module is not None else load(function)
        if not hasattr(loaded, function.name):
            raise GradgenError(
                f"{args.module} has no function {function.name}.",
                hint="regenerate it with `gradgen compile`.",
            )
        mine = {k: v for k, v in inputs.items() if k in function.specs}  # a shared file
        try:
            results = check_function(
                function, loaded, dims, args.seed, tolerance, args.positive, mine
            )
        except ModelDomainError as error:
            location = f"{error.location}: " if error.location else ""
            print(f"{location}cannot check: {error.message} Hint: {error.hint}", file=sys.stderr)
            failed += 1
            continue
        for result in results:
            failed += not result.passed
            step = f"step {result.step:.1e}" if result.step else "vs eager NumPy"
            verdict = "ok" if result.passed else "FAIL"
            note = f"  ({result.note})" if result.note else ""
            label = f"{Path(function.location.filename).name}:{result.function}"
            print(
                f"{label:<32} {result.quantity:<10} max |error| {result.max_error:9.2e}  "
                f"{result.worst:6.2f} of tolerance  {step:<14}  {verdict}{note}"
            )
    return EXIT_FAILED if failed else 0


# -- gradgen show


def _show_command(args: argparse.Namespace) -> int:
    from gradgen.compiler import compile_function, compile_source
    from gradgen.highlight import highlight

    path, name = split_target(args.target)
    if args.ir:
        functions = select_functions(path, name)
        text = "\n".join(compile_function(function).ir_text() for function in functions)
    else:
        select_functions(path, name)  # a clear error for a wrong name, before compiling
        text = compile_source(path)
        if name is not None:
            text = _function_part(text, name)
    terminal = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    color = args.color == "always" or (args.color == "auto" and terminal)
    sys.stdout.write(highlight(text) if color and not args.ir else text)
    return 0


def _function_part(module_text: str, name: str) -> str:
    """The generated functions of one gg.function (f, f_forward, f_backward, ...)."""
    from gradgen.compiler import GENERATED_SUFFIXES

    wanted = {name + suffix for suffix in GENERATED_SUFFIXES}
    lines = module_text.splitlines(keepends=True)
    parts = [
        "".join(lines[node.lineno - 1 : node.end_lineno])
        for node in ast.parse(module_text).body
        if isinstance(node, ast.FunctionDef) and node.name in wanted
    ]
    return "\n\n".join(parts)


# -- gradgen graph


def _graph_command(args: argparse.Namespace) -> int:
    from gradgen.compiler import compile_function
    from gradgen.visualize import render_svg, to_dot, to_mermaid

    path, name = split_target(args.target)
    functions = select_functions(path, name)
    if len(functions) > 1:
        names = ", ".join(f.name for f in functions)
        raise GradgenError(
            f"{path} defines several functions ({names}).",
            hint=f"name one: gradgen graph {path}:{functions[0].name}",
        )
    compiled = compile_function(functions[0])
    title = f"{path.name}:{functions[0].name}"
    if args.format == "mermaid":
        output: bytes = to_mermaid(compiled, title).encode()
    elif args.format == "svg":
        output = render_svg(to_dot(compiled, title))
    else:
        output = to_dot(compiled, title).encode()
    if args.output:
        from gradgen.compiler import write_atomically

        write_atomically(Path(args.output), output.decode())
    else:
        sys.stdout.buffer.write(output)
        sys.stdout.flush()
    return 0


# -- the parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradgen",
        description="Compile NumPy-style losses into standalone NumPy gradient modules.",
        epilog="run `gradgen COMMAND --help` for each command's options and examples",
    )
    parser.add_argument("--version", action="version", version=f"gradgen {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--traceback", action="store_true", help="show Python tracebacks for user errors"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str, examples: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help,
            description=description,
            epilog="examples:\n" + examples,
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    compile_parser = command(
        "compile",
        "write <stem>_grad.py for each model file",
        "Trace each @gg.function in the model files, differentiate it and write a standalone "
        "NumPy module <stem>_grad.py. Nothing is written unless every model compiles.",
        "  gradgen compile model.py\n"
        "  gradgen compile examples/ -o generated/\n"
        "  gradgen compile examples/ --check      # in CI or pre-commit: exit 1 if stale\n"
        "  gradgen compile model.py --emit-tests  # also write test_model_grad.py",
    )
    compile_parser.add_argument("paths", nargs="+", help="model files or directories of them")
    compile_parser.add_argument(
        "-o", "--out-dir", default="generated", help="output folder (default: generated/)"
    )
    compile_parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if an output is stale"
    )
    compile_parser.add_argument(
        "--diff", action="store_true", help="like --check, and print a diff of what would change"
    )
    compile_parser.add_argument(
        "--emit-tests",
        action="store_true",
        help="also write test_<stem>_grad.py, a pytest file verifying the module",
    )
    compile_parser.add_argument(
        "--inputs",
        metavar="FILE.npz",
        help="with --emit-tests: the tests read these arrays (by argument name) at test time",
    )
    compile_parser.add_argument(
        "-v", "--verbose", action="store_true", help="print each phase's time and graph size"
    )
    compile_parser.add_argument(
        "--verify",
        action="store_true",
        help="check every graph's shapes and types after every pass (a failure is a gradgen bug)",
    )
    compile_parser.set_defaults(run=_compile_command)

    check_parser = command(
        "check",
        "verify generated derivatives against finite differences",
        "Compile in memory (or load --module) and compare every gradient with central finite "
        "differences of the generated value on random inputs of the annotated shapes. Prints "
        "the max error per function and parameter (an element passes where |error| <= atol + "
        "rtol |expected|, as in torch.autograd.gradcheck); exit 1 on any failure. A model that "
        "fails at random inputs (not finite, LinAlgError) needs --inputs.",
        "  gradgen check model.py\n"
        "  gradgen check model.py:loss --dim N=32 --seed 3\n"
        "  gradgen check model.py --module generated/model_grad.py  # the committed code\n"
        "  gradgen check model.py --inputs inputs.npz  # arrays by argument name",
    )
    check_parser.add_argument("targets", nargs="+", metavar="PATH[:FUNC]")
    check_parser.add_argument(
        "--dim", action="append", default=[], metavar="NAME=SIZE", help="size of a named dim"
    )
    check_parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    check_parser.add_argument(
        "--rtol", type=float, default=1e-5, help="relative tolerance (default 1e-5)"
    )
    check_parser.add_argument(
        "--atol", type=float, default=1e-6, help="absolute tolerance (default 1e-6)"
    )
    check_parser.add_argument(
        "--inputs", metavar="FILE.npz", help="arrays by argument name; the others are random"
    )
    check_parser.add_argument(
        "--positive", action="store_true", help="draw floats from U(0.5, 2) (for log, sqrt)"
    )
    check_parser.add_argument("--module", help="check this generated module file instead")
    check_parser.set_defaults(run=_check_command)

    show_parser = command(
        "show",
        "print the generated module, or one function's part",
        "Print what `gradgen compile` would write (colored on a terminal), or with --ir the "
        "traced graph, the differentiated and optimized graph and each derived function's "
        "graph, one equation per line.",
        "  gradgen show model.py\n  gradgen show model.py:loss\n  gradgen show model.py --ir",
    )
    show_parser.add_argument("target", metavar="PATH[:FUNC]")
    show_parser.add_argument("--ir", action="store_true", help="print the graph IR instead")
    show_parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    show_parser.set_defaults(run=_show_command)

    graph_parser = command(
        "graph",
        "draw the computational graph (dot, mermaid or svg)",
        "The forward nodes with your names and shapes, the backward (chain-rule) nodes in "
        "another color. svg needs graphviz's `dot` program; dot and mermaid need nothing.",
        "  gradgen graph model.py:loss > loss.dot\n"
        "  gradgen graph model.py --format mermaid\n"
        "  gradgen graph model.py --format svg -o loss.svg",
    )
    graph_parser.add_argument("target", metavar="PATH[:FUNC]")
    graph_parser.add_argument("--format", choices=("dot", "mermaid", "svg"), default="dot")
    graph_parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    graph_parser.set_defaults(run=_graph_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except GradgenError as error:
        if args.traceback:
            traceback.print_exc()
        location = f"{error.location}: " if error.location else ""
        hint = f" Hint: {error.hint}" if error.hint else ""
        print(f"{location}error: {error.message}{hint}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception:
        traceback.print_exc()
        print(
            "gradgen: internal error (a bug in gradgen, not in your model). Please report it "
            "with the model file and the traceback above.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
