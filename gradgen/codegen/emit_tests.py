"""Emit `test_<stem>_grad.py`: a pytest file that keeps verifying a committed generated
module in the user's own CI (finite differences and the dot-product identity), needing
only numpy and pytest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gradgen.api import Function
from gradgen.checking import Tolerance, concrete_shape, dimension_sizes
from gradgen.codegen.module import format_module, load_template


def emit_test_module(
    functions: Sequence[Function],
    module_stem: str,
    source_path: str,
    version: str,
    inputs: Mapping[str, Any] | None = None,
    inputs_path: str | None = None,
) -> str:
    """The test file's text for the generated module `<module_stem>.py`. With `inputs`
    (arrays by argument name, read at test time from `inputs_path`, relative to the test
    file), those arguments are given and only the others are drawn at random."""
    cases = []
    functions = [f for f in functions if "grad" in f.emit]  # the tests check gradients
    for function in functions:
        sizes = dimension_sizes(function, {}, inputs)
        args = [
            (name, concrete_shape(s.shape, sizes), s.integer) for name, s in function.specs.items()
        ]
        names = list(function.specs)
        cases.append(
            {
                "name": function.name,
                "args": repr(args),
                "wrt": repr([names.index(w) for w in function.wrt]),
                "sequence": repr(function.wrt_is_sequence),
            }
        )
    text = load_template("test_module.py.j2").render(
        cases=cases,
        with_aux=repr(sorted(f.name for f in functions if f.has_aux)),
        module_file=f"{module_stem}.py",
        module_stem=module_stem,
        source_path=source_path,
        version=version,
        inputs_path=inputs_path,
        tolerance=Tolerance(),
    )
    return format_module(text)
