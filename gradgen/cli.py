"""The `gradgen` command line: `gradgen compile PATH... [-o DIR] [--check]`.

User errors print one line (`file:line: error: ... Hint: ...`) and exit 2; `--check`
exits 1 when a generated module is missing or stale; internal errors print a traceback
and ask for a report (exit 3).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from gradgen.compiler import compile_source, display_path, output_path, write_atomically
from gradgen.errors import GradgenError, NoFunctionsError
from gradgen.version import __version__

EXIT_STALE = 1
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
            raise GradgenError(f"{raw}: no such file or directory.")
    return found


def _compile_command(args: argparse.Namespace) -> int:
    files = model_files(args.paths)
    explicit = {Path(p) for p in args.paths if Path(p).is_file()}
    outputs: dict[Path, str] = {}
    for model in files:
        try:
            text = compile_source(model)
        except NoFunctionsError:
            if model in explicit:
                raise
            continue  # a script beside the models, such as a training loop
        outputs[output_path(model, args.out_dir)] = text
        if args.verbose:
            print(f"compiled {display_path(model)}", file=sys.stderr)
    if args.check:
        stale = [p for p, text in outputs.items() if not p.is_file() or p.read_text() != text]
        for path in stale:
            state = "missing" if not path.is_file() else "stale"
            print(f"{path}: {state}; run `gradgen compile` to regenerate it", file=sys.stderr)
        return EXIT_STALE if stale else 0
    for path, text in outputs.items():  # nothing is written unless everything compiled
        write_atomically(path, text)
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradgen",
        description="Compile NumPy-style losses into standalone NumPy gradient modules.",
    )
    parser.add_argument("--version", action="version", version=f"gradgen {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    compile_parser = commands.add_parser(
        "compile",
        help="write <stem>_grad.py for each model file",
        description="Trace each @gg.function in the model files, differentiate it and write "
        "a standalone NumPy module <stem>_grad.py.",
        epilog="examples:\n  gradgen compile model.py\n  gradgen compile examples/ -o generated/"
        "\n  gradgen compile examples/ --check",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compile_parser.add_argument("paths", nargs="+", help="model files or directories of them")
    compile_parser.add_argument(
        "-o", "--out-dir", default="generated", help="output folder (default: generated/)"
    )
    compile_parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any output is stale"
    )
    compile_parser.add_argument("-v", "--verbose", action="store_true", help="say what is done")
    compile_parser.add_argument(
        "--traceback", action="store_true", help="show Python tracebacks for user errors"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _compile_command(args)
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
