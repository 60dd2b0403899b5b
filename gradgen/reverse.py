"""Reverse mode: extend a traced graph with the equations of its vector-Jacobian product.

`reverse_mode(graph, wrt)` walks the equations backwards once, calling each op's rule from
`gradgen.derivatives` and summing the contributions a value receives from its consumers.
The result is one joint graph: inputs are the originals plus `d_value` (the cotangent of the
value, the first output), outputs are the value, the gradients of the `wrt` inputs, then
the graph's other outputs (aux values, never differentiated).
"""

from __future__ import annotations

from collections.abc import Sequence

from gradgen.aliasing import own_outputs
from gradgen.derivatives import rule_for
from gradgen.graph_builder import Builder, Tracer
from gradgen.ir import Equation, Graph, Var
from gradgen.loop_reverse import depends_on, reverse_cond, reverse_scan
from gradgen.naming import GradHint, is_named
from gradgen.ops import OPS


def reverse_mode(graph: Graph, wrt: list[int]) -> Graph:
    """The joint forward + backward graph for the gradients of `graph.inputs[i]`, i in wrt."""
    value, *aux = graph.outputs
    builder = Builder(frozenset())
    builder.equations = list(graph.equations)
    builder.hints = dict(graph.hints)
    d_value = builder.new_var(value.shape)
    builder.hints[d_value] = "d_value"

    needs_grad = depends_on(graph.equations, {graph.inputs[i] for i in wrt})
    contributions = backpropagate(builder, graph.equations, {value: [d_value]}, needs_grad)
    grads: list[Var] = []
    for i in wrt:
        grads.append(_gradient_output(builder, graph.inputs[i], contributions))
    outputs = (value, *grads, *aux)
    joint = Graph(graph.inputs + (d_value,), tuple(builder.equations), outputs, builder.hints)
    # The value and gradients own their memory: f(x) = x[1:] is a view of x, d_x = d_value.
    return own_outputs(joint, 1 + len(wrt), gradient_names(graph.inputs, wrt))


def gradient_names(inputs: Sequence[Var], wrt: Sequence[int]) -> list[GradHint | None]:
    """Names for copies of the outputs (value, gradients...): d_<parameter>."""
    return [None, *(GradHint(inputs[i]) for i in wrt)]


def backpropagate(
    builder: Builder,
    equations: Sequence[Equation],
    contributions: dict[Var, list[Var]],
    needs_grad: set[Var],
) -> dict[Var, list[Var]]:
    """The reversed loop: from the seeded `contributions` (var -> cotangent parts), emit
    into `builder` each equation's rule, adding the parts each input of `needs_grad`
    receives; returns `contributions`."""
    projections: dict[Var, dict[int, Var]] = {}  # a loop's token -> its results by index
    for eq in equations:
        if eq.op == "scan_output":
            projections.setdefault(eq.inputs[0], {})[eq.param("result")] = eq.out  # type: ignore
    for eq in reversed(list(equations)):
        if OPS[eq.op].multiple_results:
            _reverse_loop(builder, eq, projections.get(eq.out, {}), contributions, needs_grad)
            continue
        if eq.out not in contributions or not any(v in needs_grad for v in eq.vars()):
            continue
        builder.origin, builder.source = eq, eq.source
        grad = _total(builder, eq.out, contributions[eq.out])
        for atom, contribution in zip(eq.inputs, _apply_rule(builder, grad, eq)):
            if isinstance(atom, Var) and atom in needs_grad and contribution is not None:
                contributions.setdefault(atom, []).append(contribution)
    builder.origin = builder.source = None
    return contributions


def _reverse_loop(
    builder: Builder,
    eq: Equation,
    results: dict[int, Var],
    contributions: dict[Var, list[Var]],
    needs_grad: set[Var],
) -> None:
    """A loop's reverse (`loop_reverse.reverse_scan`), given its results' cotangents."""
    if not any(v in needs_grad for v in eq.vars()):
        return
    builder.origin, builder.source = eq, eq.source
    cotangents = {
        index: _total(builder, v, contributions[v])
        for index, v in sorted(results.items())
        if v in contributions
    }
    if cotangents:
        wanted = [isinstance(a, Var) and a in needs_grad for a in eq.inputs]
        reverse = reverse_cond if eq.op == "cond" else reverse_scan
        found = reverse(builder, eq, cotangents, wanted, backpropagate, _total)
        for atom, contribution in zip(eq.inputs, found):
            if isinstance(atom, Var) and contribution is not None:
                contributions.setdefault(atom, []).append(contribution)
    builder.origin = builder.source = None


def transpose_linear(
    builder: Builder, equations: Sequence[Equation], out: Var, grad: Var, wrt: Sequence[Var]
) -> list[Var | None]:
    """For equations computing `out` linearly from `wrt` (a user's JVP rule), the
    cotangents of `wrt` given `grad` for `out`: the transposed map (None where zero)."""
    needs_grad = depends_on(equations, set(wrt))
    contributions = backpropagate(builder, equations, {out: [grad]}, needs_grad)
    step, builder.origin = builder.origin, None
    totals = [_total(builder, v, contributions[v]) if v in contributions else None for v in wrt]
    builder.origin = step
    return totals


def _apply_rule(builder: Builder, grad: Var, eq: Equation) -> list[Var | None]:
    rule = rule_for(eq.op).reverse
    if rule is None:  # a non-differentiable op
        return [None] * len(eq.inputs)
    operands = [Tracer(a, builder) if isinstance(a, Var) else a for a in eq.inputs]
    results = rule(Tracer(grad, builder), Tracer(eq.out, builder), *operands, **dict(eq.params))
    return [r.variable if isinstance(r, Tracer) else None for r in results]


def _total(builder: Builder, of: Var, parts: list[Var]) -> Var:
    """The sum of the gradient contributions `of` received, named d_<of>. One
    contribution may already be another value's gradient (`t = joint - m` passes d_t on
    to joint unchanged): it is named after the one of them the user named."""
    if len(parts) == 1:
        current = builder.hints.get(parts[0])
        unnamed = isinstance(current, GradHint) and not is_named(current.of, builder.hints)
        if current is None or (unnamed and is_named(of, builder.hints)):
            builder.hints[parts[0]] = GradHint(of)
        return parts[0]
    for part in parts:
        builder.hints.setdefault(part, GradHint(of, partial=True))
    step, builder.origin = builder.origin, None  # accumulation is no step of the user's
    total = parts[0]
    for part in parts[1:]:
        total = builder.emit("add", [total, part])
    builder.origin = step
    builder.hints[total] = GradHint(of)
    return total


def _gradient_output(builder: Builder, param: Var, contributions: dict[Var, list[Var]]) -> Var:
    """The gradient returned for `param`: the sum of its contributions, or zeros of its
    shape and dtype when nothing depends on it."""
    if param not in contributions:
        grad = builder.emit("zeros_like", [param])
        builder.hints[grad] = GradHint(param)
        return grad
    return _total(builder, param, contributions[param])


__all__ = ["backpropagate", "gradient_names", "reverse_mode", "transpose_linear"]
