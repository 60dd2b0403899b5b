"""Loops and branches compute only what is read (a cond's branches lose the same results
and the operands neither reads): a scan's results nobody reads are dropped with the
body equations only they need, and so are the consts and slices the body no longer reads
(or reads twice: two consts of one operand, after CSE, are one). A carry stays while a kept
value of a step depends on it (the final carry itself need not be read). The results left
are numbered again, in order."""

from __future__ import annotations

from dataclasses import replace

from gradgen.ir import Equation, Graph, Var, live_vars
from gradgen.ops import OPS
from gradgen.ops.control import ScanParts, cond_params, cond_parts, scan_params, scan_parts


def run(graph: Graph) -> Graph:
    if not any(OPS[eq.op].multiple_results for eq in graph.equations):
        return graph
    read: dict[Var, set[int]] = {}  # a loop's token -> the indices of its results in use
    for eq in graph.equations:
        if eq.op == "scan_output":
            read.setdefault(eq.inputs[0], set()).add(eq.param("result"))  # type: ignore
    renumbered: dict[Var, dict[int, int]] = {}
    equations: list[Equation] = []
    for eq in graph.equations:
        if OPS[eq.op].multiple_results and eq.out in read:
            prune = pruned_cond if eq.op == "cond" else pruned_scan
            pruned, numbers = prune(eq, read[eq.out])
            if pruned is not eq:
                renumbered[eq.out] = numbers
            eq = pruned
        elif eq.op == "scan_output" and eq.inputs[0] in renumbered:
            index = renumbered[eq.inputs[0]][eq.param("result")]  # type: ignore[index]
            params = dict(eq.params)
            params["result"] = index
            eq = replace(eq, params=tuple(sorted(params.items())))
        equations.append(eq)
    return graph.replace(equations=tuple(equations))


def pruned_scan(eq: Equation, used: set[int]) -> tuple[Equation, dict[int, int]]:
    """The scan without its results not in `used` (indices) and the operands it then no
    longer reads, and each kept result's new index by its old one ({} when nothing is
    dropped: the scan itself)."""
    parts = scan_parts(eq)
    body = _without_repeated_operands(parts)
    if body is not parts.body:
        parts = replace(parts, body=body)
    n_carry = len(parts.carries)
    kept_carries = {k for k in range(n_carry) if k in used}
    kept_ys = [j for j in range(len(parts.ys)) if n_carry + j in used]
    condition = parts.cond.vars_read() if parts.cond is not None else set()
    while True:
        targets = [parts.new_carries[k] for k in sorted(kept_carries)]
        targets += [parts.ys[j] for j in kept_ys]
        live = live_vars(body.equations, targets) | condition  # a while loop's test reads
        more = {k for k, v in enumerate(parts.body_carries) if v in live} - kept_carries
        if not more:
            break
        kept_carries |= more
    carries = sorted(kept_carries)
    consts = [k for k, v in enumerate(parts.body_consts) if v in live]
    slices = [k for k, v in enumerate(parts.body_slices) if v in live]
    if (
        len(carries) == n_carry
        and len(kept_ys) == len(parts.ys)
        and len(consts) == len(parts.consts)
        and len(slices) == len(parts.xs)
    ):
        return eq, {}
    inputs = (
        parts.counter,
        *(parts.body_consts[k] for k in consts),
        *(parts.body_carries[k] for k in carries),
        *(parts.body_slices[k] for k in slices),
    )
    outputs = (*(parts.new_carries[k] for k in carries), *(parts.ys[j] for j in kept_ys))
    equations = tuple(e for e in body.equations if e.out in live)
    pruned_body = Graph(inputs, equations, outputs, body.hints)
    operands = (
        *(parts.consts[k] for k in consts),
        *(parts.carries[k] for k in carries),
        *(parts.xs[k] for k in slices),
    )
    params = scan_params(
        pruned_body,
        parts.length,
        len(consts),
        len(carries),
        parts.reverse,
        parts.cond,
        parts.max_steps,
        parts.remat,
    )
    numbers = {k: i for i, k in enumerate(carries)}
    numbers |= {n_carry + j: len(carries) + i for i, j in enumerate(kept_ys)}
    return replace(eq, inputs=operands, params=tuple(sorted(params.items()))), numbers


def _without_repeated_operands(parts: ScanParts) -> Graph:
    """The body reading each const operand (and each sliced one) through its first input
    only: the others are then unread, and dropped."""
    first: dict[object, Var] = {}
    mapping: dict[Var, Var] = {}
    for group, inputs in (("const", parts.body_consts), ("slice", parts.body_slices)):
        operands = parts.consts if group == "const" else parts.xs
        for operand, inner in zip(operands, inputs):
            key = (group, operand.id if isinstance(operand, Var) else repr(operand))
            if key in first:
                mapping[inner] = first[key]
            else:
                first[key] = inner
    return parts.body.substitute(mapping) if mapping else parts.body


def pruned_cond(eq: Equation, used: set[int]) -> tuple[Equation, dict[int, int]]:
    """The cond without its results not in `used` and the operands neither branch then
    reads, and each kept result's new index by its old one ({}: the cond itself)."""
    parts = cond_parts(eq)
    kept = sorted(k for k in range(len(parts.true.outputs)) if k in used)
    branches = [parts.true, parts.false]
    lives = [live_vars(g.equations, [g.outputs[k] for k in kept]) for g in branches]
    inputs = [k for k, v in enumerate(parts.inputs) if any(v in live for live in lives)]
    if len(kept) == len(parts.true.outputs) and len(inputs) == len(parts.inputs):
        return eq, {}
    new_inputs = tuple(parts.inputs[k] for k in inputs)
    graphs = [
        Graph(
            new_inputs,
            tuple(e for e in g.equations if e.out in live),
            tuple(g.outputs[k] for k in kept),
            g.hints,
        )
        for g, live in zip(branches, lives)
    ]
    operands = (parts.pred, *(parts.operands[k] for k in inputs))
    params = cond_params(*graphs)
    numbers = {k: i for i, k in enumerate(kept)}
    return replace(eq, inputs=operands, params=tuple(sorted(params.items()))), numbers
