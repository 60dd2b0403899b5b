"""Targets: what a generated module is made with.

A target names the IR passes the compiler runs on every differentiated graph, whether
value_and_grad is fused into one graph of its own, and the printer that writes the
statements (whose class decides dot products and in-place code, see
`gradgen.codegen.printer`). A new target, such as an array-API module with no in-place
code, is one more entry here with its own printer subclass and pass list; the compiler,
the passes and the other printers stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gradgen.codegen.printer import NumPyCodePrinter, ReferencePrinter
from gradgen.ir import Graph
from gradgen.passes.pipeline import optimize_and_lower

Check = Callable[[Graph], Graph]


@dataclass(frozen=True)
class Target:
    """The passes, fusion and printer of one kind of generated module."""

    name: str
    optimize: Callable[[Graph, Check | None], Graph]  # the IR passes, `check` after each
    fuse_value_and_grad: bool  # f_value_and_grad as one optimized graph (else via forward)
    printer: type[NumPyCodePrinter]  # a fresh one per module: it records the imports


def _no_passes(graph: Graph, check: Check | None = None) -> Graph:
    return graph


NUMPY = Target("numpy", optimize_and_lower, True, NumPyCodePrinter)
"""The shipped module: every pass (dot products included), value_and_grad fused,
in-place code."""

REFERENCE = Target("reference", _no_passes, False, ReferencePrinter)
"""The unoptimized reference the tests compare shipped code with: no pass, no fusion,
every statement one expression."""

TARGETS = {target.name: target for target in (NUMPY, REFERENCE)}
