"""Which arrays a result may share memory with, and how outputs are kept from sharing it.

Generated functions return arrays that share memory with no argument and no other result
(so a caller may update them in place). NumPy answers some ops with views; `base_of`
follows those back, and `owned_output` copies a result that would otherwise be a view of
memory the caller owns, or a read-only broadcast.
"""

from __future__ import annotations

from gradgen.ir import Var
from gradgen.tracing import Builder

# Ops whose NumPy result is a view of (or, for broadcast_to, a read-only view of) operand 0.
VIEWS = frozenset(
    {"getitem", "transpose", "reshape", "squeeze", "expand_dims", "broadcast_to", "stop_gradient"}
)


def base_of(var: Var, builder: Builder) -> Var:
    """The array `var` may be a view of: followed back through view ops."""
    producers = {eq.out: eq for eq in builder.equations}
    while var in producers and producers[var].op in VIEWS:
        source = producers[var].inputs[0]
        if not isinstance(source, Var):
            break
        var = source
    return var


def _read_only(var: Var, builder: Builder) -> bool:
    """Whether `var` is (a view of) a broadcast_to result, which NumPy makes read-only."""
    producers = {eq.out: eq for eq in builder.equations}
    while var in producers and producers[var].op in VIEWS:
        if producers[var].op == "broadcast_to":
            return True
        source = producers[var].inputs[0]
        if not isinstance(source, Var):
            break
        var = source
    return False


def owned_output(builder: Builder, var: Var, caller_memory: set[Var]) -> Var:
    """`var`, or a copy of it when it is (a view of) one of `caller_memory` or a read-only
    broadcast; the returned array's base is added to `caller_memory` so later outputs do
    not share it either."""
    if base_of(var, builder) in caller_memory or _read_only(var, builder):
        var = builder.emit("copy", [var])
    caller_memory.add(base_of(var, builder))
    return var
