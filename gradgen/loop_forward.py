"""Forward mode through a loop: one scan computing the primal values and their tangents
together, its body the body's JVP (JAX's `scan` JVP).

The scan in the builder is extended in place: each const, carry and sliced operand with a
tangent gets a tangent operand beside it, each carry whose tangent is not zero a tangent
carry (its initial tangent zero where the operand has none), and each `y` with a tangent a
tangent `y`. The loop's existing results keep their vars (those after the new tangent
carries are numbered again), so the primal code reading them is unchanged, and the loop
is not run twice. With a batch of tangents (Jacobians, Hessians) each tangent has a
leading batch axis; a sliced operand's tangent is sliced along its second axis (time),
and so is a stacked `y`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from gradgen.graph_builder import Builder
from gradgen.ir import Atom, Equation, Graph, Lit, Var
from gradgen.naming import TangentHint
from gradgen.ops.control import cond_params, cond_parts, scan_params, scan_parts

# push_tangents(builder, equations, dots, batched) -> dots
PushTangents = Callable[[Builder, Sequence[Equation], dict[Var, Var], bool], dict[Var, Var]]


def jvp_scan(
    builder: Builder,
    token: Var,
    dots: dict[Var, Var],
    batched: bool,
    push_tangents: PushTangents,
) -> None:
    """Extend the scan binding `token` in `builder.equations` with the tangents of its
    results given `dots` (var -> tangent) of its operands; record in `dots` the tangent
    of each of its results the builder's projections bind. The scan now reads tangents
    the builder may bind after it: the caller puts the equations in dependency order."""
    index = next(i for i, e in enumerate(builder.equations) if e.op == "scan" and e.out is token)
    eq = builder.equations[index]
    parts = scan_parts(eq)
    operand_dots = [dots.get(a) if isinstance(a, Var) else None for a in eq.inputs]
    if all(d is None for d in operand_dots):
        return
    n_consts, n_carry = len(parts.consts), len(parts.carries)
    const_dots = operand_dots[:n_consts]
    carry_dots = operand_dots[n_consts : n_consts + n_carry]
    xs_dots = operand_dots[n_consts + n_carry :]
    batch = next(d for d in operand_dots if d is not None).shape[0] if batched else None

    def tangent_var(of: Var) -> Var:
        var = builder.new_var(((batch,) if batched else ()) + of.shape)
        builder.hints[var] = TangentHint(of)
        return var

    # The carries with a tangent: those whose initial value has one, and those a step
    # gives one (a fixed point: a step may carry a tangent into another carry).
    carried = {k for k, d in enumerate(carry_dots) if d is not None}
    while True:
        seeds = {v: tangent_var(v) for v, d in zip(parts.body_consts, const_dots) if d is not None}
        seeds |= {
            parts.body_carries[k]: tangent_var(parts.body_carries[k]) for k in sorted(carried)
        }
        seeds |= {v: tangent_var(v) for v, d in zip(parts.body_slices, xs_dots) if d is not None}
        inner = Builder(builder.user_files)
        inner.equations = list(parts.body.equations)
        inner.hints = builder.hints
        found = push_tangents(inner, parts.body.equations, dict(seeds), batched)
        more = {k for k, v in enumerate(parts.new_carries) if v in found} - carried
        if not more:
            break
        carried |= more

    def out_tangent(v: Var) -> Var:
        if v in found:
            return found[v]
        if batched:
            return inner.emit("zeros", [v], {"shape": (batch, *v.shape)})
        return inner.emit("zeros_like", [v])

    carries_with = sorted(carried)
    ys_with = [j for j, y in enumerate(parts.ys) if y in found]
    body = parts.body
    const_seeds = [seeds[v] for v, d in zip(parts.body_consts, const_dots) if d is not None]
    carry_seeds = [seeds[parts.body_carries[k]] for k in carries_with]
    slice_seeds = [seeds[v] for v, d in zip(parts.body_slices, xs_dots) if d is not None]
    inputs = (
        body.inputs[0],
        *parts.body_consts,
        *const_seeds,
        *parts.body_carries,
        *carry_seeds,
        *parts.body_slices,
        *slice_seeds,
    )
    new_carry_dots = [out_tangent(parts.new_carries[k]) for k in carries_with]
    y_dots = [found[parts.ys[j]] for j in ys_with]
    outputs = (*parts.new_carries, *new_carry_dots, *parts.ys, *y_dots)
    values = {*inputs, *(e.out for e in inner.equations)}
    hints = {v: h for v, h in builder.hints.items() if v in values}
    jvp_body = Graph(inputs, tuple(inner.equations), outputs, hints)

    # The outer operands: the tangents beside their primals.
    init_dots: list[Atom] = []
    for k in carries_with:
        given = carry_dots[k]
        init_dots.append(given if given is not None else _zero(builder, parts.carries[k], batch))
    xs_dot_atoms = [d for d in xs_dots if d is not None]
    if batched:
        xs_dot_atoms = [_swap_leading(builder, d) for d in xs_dot_atoms]
    operands = (
        *parts.consts,
        *(d for d in const_dots if d is not None),
        *parts.carries,
        *init_dots,
        *parts.xs,
        *xs_dot_atoms,
    )
    params = scan_params(
        jvp_body,
        parts.length,
        n_consts + len(const_seeds),
        n_carry + len(carries_with),
        parts.reverse,
        parts.cond,
        parts.max_steps,
        parts.remat,
    )
    builder.equations[index] = Equation(
        "scan", operands, token, tuple(sorted(params.items())), eq.source, eq.origin
    )

    # The results: the primal ys move after the tangent carries; the tangents are new.
    shift = len(carries_with)
    projections = {}
    for i, e in enumerate(builder.equations):
        if e.op == "scan_output" and e.inputs[0] is token:
            result = int(e.param("result"))  # type: ignore[arg-type]
            projections[result] = e.out
            if result >= n_carry:
                params_ = dict(e.params)
                params_["result"] = result + shift
                builder.equations[i] = replace(e, params=tuple(sorted(params_.items())))
    for position, k in enumerate(carries_with):
        if k in projections:
            shape = new_carry_dots[position].shape
            dots[projections[k]] = _project(builder, token, n_carry + position, shape)
    for position, j in enumerate(ys_with):
        if n_carry + j in projections:
            result = n_carry + shift + len(parts.ys) + position
            row = y_dots[position].shape
            stacked = _project(builder, token, result, (parts.length, *row))
            if batched:  # rows of steps, each a batch: the batch axis goes first
                stacked = _swap_leading(builder, stacked)
            dots[projections[n_carry + j]] = stacked


def _project(builder: Builder, token: Var, result: int, shape: tuple) -> Var:
    return builder.emit("scan_output", [token], {"result": result, "result_shape": shape})


def _zero(builder: Builder, carry: Atom, batch: object) -> Atom:
    """A zero tangent for an initial carry (batched when `batch` is a size)."""
    shape = carry.shape if isinstance(carry, Var) else ()
    if batch is not None:
        return builder.emit("zeros", [carry], {"shape": (batch, *shape)})
    return builder.emit("zeros_like", [carry]) if isinstance(carry, Var) else Lit(0.0)


def _swap_leading(builder: Builder, v: Var) -> Var:
    axes = (1, 0, *range(2, v.ndim))
    return builder.emit("transpose", [v], {"axes": axes})


def jvp_cond(
    builder: Builder,
    token: Var,
    dots: dict[Var, Var],
    batched: bool,
    push_tangents: PushTangents,
) -> None:
    """Extend the cond binding `token` with the tangents of its results (as `jvp_scan`
    does for a loop): tangent operands after the operands, and each branch giving the
    tangents of the results after them (zeros where the branch makes none)."""
    index = next(i for i, e in enumerate(builder.equations) if e.op == "cond" and e.out is token)
    eq = builder.equations[index]
    parts = cond_parts(eq)
    operand_dots = [dots.get(a) if isinstance(a, Var) else None for a in parts.operands]
    if all(d is None for d in operand_dots):
        return
    batch = next(d for d in operand_dots if d is not None).shape[0] if batched else None
    seeds = {}
    for v, d in zip(parts.inputs, operand_dots):
        if d is not None:
            seeds[v] = builder.new_var(((batch,) if batched else ()) + v.shape)
            builder.hints[seeds[v]] = TangentHint(v)
    pushed = []
    for graph in (parts.true, parts.false):
        inner = Builder(builder.user_files)
        inner.equations = list(graph.equations)
        inner.hints = builder.hints
        pushed.append((inner, push_tangents(inner, graph.equations, dict(seeds), batched)))
    with_tangent = [
        k
        for k in range(len(parts.true.outputs))
        if any(
            graph.outputs[k] in found
            for graph, (_, found) in zip((parts.true, parts.false), pushed)
        )
    ]
    inputs = (*parts.inputs, *seeds.values())
    branches = []
    for graph, (inner, found) in zip((parts.true, parts.false), pushed):
        tangents = []
        for k in with_tangent:
            v = graph.outputs[k]
            if v in found:
                tangents.append(found[v])
            elif batched:
                tangents.append(inner.emit("zeros", [v], {"shape": (batch, *v.shape)}))
            else:
                tangents.append(inner.emit("zeros_like", [v]))
        values = {*inputs, *(e.out for e in inner.equations)}
        hints = {v: h for v, h in builder.hints.items() if v in values}
        branches.append(Graph(inputs, tuple(inner.equations), (*graph.outputs, *tangents), hints))
    operands = (parts.pred, *parts.operands, *(d for d in operand_dots if d is not None))
    params = cond_params(*branches)
    builder.equations[index] = Equation(
        "cond", operands, token, tuple(sorted(params.items())), eq.source, eq.origin
    )
    projections = {
        int(e.param("result")): e.out  # type: ignore[arg-type]
        for e in builder.equations
        if e.op == "scan_output" and e.inputs[0] is token
    }
    n = len(parts.true.outputs)
    for position, k in enumerate(with_tangent):
        if k in projections:
            shape = branches[0].outputs[n + position].shape
            dots[projections[k]] = _project(builder, token, n + position, shape)
