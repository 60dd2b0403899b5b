"""Reverse mode through a loop: the scan's body differentiated once, split into the step
the forward loop runs and the step a reversed loop runs (JAX's partial evaluation and
transpose of `scan`).

The body's joint graph (its equations and their vector-Jacobian product, made by the
reverse-mode loop `backpropagate` passed in) is split in two:

- the forward step: the primal equations, which now also output the residuals, the
  values of one step the backward step reads. The forward scan stacks each residual on a
  leading axis (`h_steps[t] = h`), as it stacks the `y`s;
- the backward step: the rest. A scan with `reverse` flipped runs it (over the steps a
  while loop ran, its length): its carries are the
  carries' cotangents and, for each const that needs one, the cotangent summed over the
  steps; its slices are the residuals, the slices and the `y`s it reads and the `y`s'
  cotangents; its `y`s are the slices' cotangents.

What the backward step reads is not computed again: a const is read as a const, a slice
from its operand again, a `y` from the stacked ys, and any other value from its stack;
but free views and integer data are made again, and a `remat` loop (a segment of a
checkpointed scan) makes again every value of the step from its stacked carries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gradgen.graph_builder import Builder
from gradgen.ir import Atom, Equation, Graph, Lit, Var, live_vars
from gradgen.naming import GradHint, NameHint
from gradgen.ops import OPS
from gradgen.ops.control import (
    ScanParts,
    cond_params,
    cond_parts,
    scan_params,
    scan_parts,
    with_loop_results,
)

# backpropagate(builder, equations, contributions, needs_grad) -> contributions
Backpropagate = Callable[[Builder, Sequence[Equation], dict[Var, list[Var]], set[Var]], dict]
Total = Callable[[Builder, Var, list[Var]], Var]


def reverse_scan(
    builder: Builder,
    eq: Equation,
    cotangents: dict[int, Var],
    wanted: Sequence[bool],
    backpropagate: Backpropagate,
    total: Total,
) -> list[Var | None]:
    """Emit into `builder` the reverse of the scan `eq`, given the cotangents of some of
    its results (by index); `wanted[i]` says whether operand i needs a cotangent. The
    forward scan in `builder.equations` is replaced by one that also stacks the
    residuals. Returns one cotangent per operand (None where none is wanted)."""
    parts = scan_parts(eq)
    body = parts.body
    n_carry = len(parts.carries)
    hints = builder.hints

    # 1. The body's joint graph.
    inner = Builder(builder.user_files)
    inner.equations = list(body.equations)
    inner.hints = hints
    d_new_carries = [inner.new_var(v.shape) for v in parts.new_carries]
    d_ys = {j: inner.new_var(y.shape) for j, y in enumerate(parts.ys) if n_carry + j in cotangents}
    seeds: dict[Var, list[Var]] = {}
    for v, d in zip(parts.new_carries, d_new_carries):
        seeds.setdefault(v, []).append(d)
        _name_gradient(hints, d, v)
    for j, d in d_ys.items():
        seeds.setdefault(parts.ys[j], []).append(d)
        _name_gradient(hints, d, parts.ys[j])
    const_wanted = list(wanted[: len(parts.consts)])
    slice_wanted = list(wanted[len(parts.consts) + n_carry :])
    sources = {v for v, w in zip(parts.body_consts, const_wanted) if w}
    sources |= {v for v in parts.body_carries}
    sources |= {v for v, w in zip(parts.body_slices, slice_wanted) if w}
    needs_grad = depends_on(body.equations, sources)
    contributions = backpropagate(inner, body.equations, seeds, needs_grad)

    def cotangent_of(v: Var, like: Var) -> Var:
        """v's cotangent; zeros like `like` (a value of v's type the backward step has)
        when it has none."""
        if v in contributions:
            return total(inner, v, contributions[v])
        zero = inner.emit("zeros_like", [like])
        _name_gradient(hints, zero, v)
        return zero

    step, inner.origin = inner.origin, None
    d_carries = [cotangent_of(v, d) for v, d in zip(parts.body_carries, d_new_carries)]
    accumulators, sums = [], []
    for v, w in zip(parts.body_consts, const_wanted):
        if w:
            accumulator = inner.new_var(v.shape)
            _name_gradient(hints, accumulator, v)
            accumulators.append(accumulator)
            if v in contributions:
                summed = inner.emit("add", [accumulator, total(inner, v, contributions[v])])
                if accumulator in hints:
                    hints[summed] = hints[accumulator]
            else:
                summed = accumulator
            sums.append(summed)
    d_slices = [cotangent_of(v, v) for v, w in zip(parts.body_slices, slice_wanted) if w]
    inner.origin = step

    # 2. The split: what the forward step computes, and what the backward step reads of it.
    primal = list(body.outputs)
    forward_live = with_loop_results(inner.equations, live_vars(inner.equations, primal))
    forward_eqs = [e for e in inner.equations if e.out in forward_live]
    backward_outputs = [*d_carries, *sums, *d_slices]
    needed = live_vars(inner.equations, backward_outputs)
    backward_eqs = [e for e in inner.equations if e.out in needed and e.out not in forward_live]
    given = {*d_new_carries, *d_ys.values(), *accumulators}
    ys_reused = {v: j for j, v in reversed(list(enumerate(parts.ys)))}
    defined = [*parts.body_carries, *(e.out for e in forward_eqs)]
    producers = {e.out: e for e in forward_eqs}
    while True:
        read = {v for e in backward_eqs for v in e.vars()} | set(backward_outputs)
        made_in_backward = {e.out for e in backward_eqs}
        residuals = [
            v
            for v in dict.fromkeys(defined)
            if v in read and v not in made_in_backward and v not in given and v not in ys_reused
        ]
        # a view NumPy makes for free (`y[0]`, `w.T`) is made again, its source stacked,
        # and so is integer data (a mask, the counter plus one), which no float stack holds;
        # a remat loop makes every value of the step again, from the carries it stacks
        views = [
            producers[v]
            for v in residuals
            if v in producers and (parts.remat or OPS[producers[v].op].view or v.integer)
        ]
        if not views:
            break
        order = {e: k for k, e in enumerate(inner.equations)}
        backward_eqs = sorted([*views, *backward_eqs], key=order.__getitem__)
    consts_read = [v for v in parts.body_consts if v in read]
    slices_read = [v for v in parts.body_slices if v in read]
    reused = [v for v in dict.fromkeys(defined) if v in read and v in ys_reused]

    # 3. The forward scan, stacking the residuals too.
    forward_body = _graph(body.inputs, forward_eqs, (*primal, *residuals), hints)
    forward = _replace_scan(builder, eq, parts, forward_body)
    residual_stacks = [
        _result(
            builder,
            forward,
            len(primal) + k,
            (parts.length, *v.shape),
            _steps_name(hints, v, "checkpoints" if parts.remat else "steps"),
        )
        for k, v in enumerate(residuals)
    ]
    ys_stacks = [
        _result(
            builder,
            forward,
            n_carry + ys_reused[v],
            (parts.length, *v.shape),
            _steps_name(hints, v),
        )
        for v in reused
    ]

    # 4. The backward scan.
    const_atoms = [a for a, v in zip(parts.consts, parts.body_consts) if v in read]
    slice_atoms = [a for a, v in zip(parts.xs, parts.body_slices) if v in read]
    init = [
        cotangents[k] if k in cotangents else _zero(builder, a) for k, a in enumerate(parts.carries)
    ]
    init += [builder.emit("zeros_like", [a]) for a, w in zip(parts.consts, const_wanted) if w]
    d_y_atoms = [cotangents[n_carry + j] for j in d_ys]
    xs_atoms = [*residual_stacks, *ys_stacks, *slice_atoms, *d_y_atoms]
    backward_inputs = (
        parts.counter,
        *consts_read,
        *d_new_carries,
        *accumulators,
        *residuals,
        *reused,
        *slices_read,
        *d_ys.values(),
    )
    backward_body = _graph(backward_inputs, backward_eqs, backward_outputs, hints)
    params = scan_params(
        backward_body,
        parts.length,
        len(consts_read),
        len(d_new_carries) + len(accumulators),
        not parts.reverse,
    )
    token = builder.emit("scan", [*const_atoms, *init, *xs_atoms], params)
    hints[token] = "loop"
    shapes = [v.shape for v in (*d_carries, *sums)]
    shapes += [(parts.length, *v.shape) for v in d_slices]
    results = [
        builder.emit("scan_output", [token], {"result": k, "result_shape": s})
        for k, s in enumerate(shapes)
    ]

    # 5. One cotangent per operand.
    n_consts = len(parts.consts)
    d_consts = iter(results[n_carry : n_carry + len(accumulators)])
    d_xs = iter(results[n_carry + len(accumulators) :])
    cotangents_out: list[Var | None] = [next(d_consts) if w else None for w in const_wanted]
    for a, w, d in zip(parts.carries, wanted[n_consts : n_consts + n_carry], results):
        cotangents_out.append(d if w and isinstance(a, Var) else None)
    cotangents_out += [next(d_xs) if w else None for w in slice_wanted]
    return cotangents_out


def _graph(
    inputs: Sequence[Var], equations: Sequence[Equation], outputs: Sequence[Var], hints: dict
) -> Graph:
    """A body graph, with the hints of its own vars."""
    values = {*inputs, *(e.out for e in equations)}
    own = {v: h for v, h in hints.items() if v in values}
    return Graph(tuple(inputs), tuple(equations), tuple(outputs), own)


def depends_on(equations: Sequence[Equation], sources: set[Var]) -> set[Var]:
    """The float values computed from `sources`: the ones gradients flow through (a loop's
    token too, through which its results depend on its operands)."""
    reached = set(sources)
    for e in equations:
        if (not e.out.integer or OPS[e.op].multiple_results) and any(
            v in reached for v in e.vars()
        ):
            reached.add(e.out)
    return reached


def _replace_scan(builder: Builder, eq: Equation, parts: ScanParts, body: Graph) -> Equation:
    """Put a scan with `body` (same operands and token) in `eq`'s place in the builder."""
    params = scan_params(
        body,
        parts.length,
        len(parts.consts),
        len(parts.carries),
        parts.reverse,
        parts.cond,
        parts.max_steps,
        parts.remat,
    )
    new = Equation(eq.op, eq.inputs, eq.out, tuple(sorted(params.items())), eq.source, eq.origin)
    index = next(i for i, e in enumerate(builder.equations) if e is eq)
    builder.equations[index] = new
    return new


def _result(
    builder: Builder, scan: Equation, index: int, shape: tuple, hint: NameHint | None
) -> Var:
    """The var of result `index` of `scan`: its projection, added after the scan when
    there is none yet."""
    for e in builder.equations:
        if e.op == "scan_output" and e.inputs[0] is scan.out and e.param("result") == index:
            return e.out
    out = builder.new_var(shape)
    projection = Equation(
        "scan_output",
        (scan.out,),
        out,
        (("result", index), ("result_shape", shape)),
        scan.source,
        scan.origin,
    )
    position = next(i for i, e in enumerate(builder.equations) if e is scan)
    builder.equations.insert(position + 1, projection)
    if hint is not None:
        builder.hints[out] = hint
    return out


def _zero(builder: Builder, carry: Atom) -> Atom:
    return builder.emit("zeros_like", [carry]) if isinstance(carry, Var) else Lit(0.0)


def _name_gradient(hints: dict[Var, NameHint], d: Var, of: Var) -> None:
    hint = hints.get(of)
    if isinstance(hint, str):
        hints[d] = "d_" + hint
    elif hint is not None:
        hints[d] = GradHint(of)


def _steps_name(hints: dict[Var, NameHint], v: Var, suffix: str = "steps") -> NameHint | None:
    hint = hints.get(v)
    return f"{hint}_{suffix}" if isinstance(hint, str) else None


def reverse_cond(
    builder: Builder,
    eq: Equation,
    cotangents: dict[int, Var],
    wanted: Sequence[bool],
    backpropagate: Backpropagate,
    total: Total,
) -> list[Var | None]:
    """Emit into `builder` the reverse of the cond `eq` (as `reverse_scan` does for a
    loop): each branch differentiated and split; the forward cond now also gives each
    branch's residuals (zeros from the branch not taken), and a backward cond on the same
    predicate runs the taken branch's backward part. One cotangent per operand (the
    predicate's is None)."""
    parts = cond_parts(eq)
    hints = builder.hints
    inputs = parts.inputs
    wanted_inputs = list(wanted[1:])
    seeds_of = {k: builder.new_var(parts.true.outputs[k].shape) for k in sorted(cotangents)}
    for k, d in seeds_of.items():
        _name_gradient(hints, d, parts.true.outputs[k])
    splits = []
    for graph in (parts.true, parts.false):
        inner = Builder(builder.user_files)
        inner.equations = list(graph.equations)
        inner.hints = hints
        seeds: dict[Var, list[Var]] = {}
        for k, d in seeds_of.items():
            seeds.setdefault(graph.outputs[k], []).append(d)
        sources = {v for v, w in zip(inputs, wanted_inputs) if w}
        contributions = backpropagate(
            inner, graph.equations, seeds, depends_on(graph.equations, sources)
        )
        step, inner.origin = inner.origin, None
        grads = []
        for v, w in zip(inputs, wanted_inputs):
            if not w:
                continue
            if v in contributions:
                grads.append(total(inner, v, contributions[v]))
            else:
                grads.append(inner.emit("zeros_like", [v]))
        inner.origin = step
        primal = list(graph.outputs)
        live = with_loop_results(inner.equations, live_vars(inner.equations, primal))
        forward_eqs = [e for e in inner.equations if e.out in live]
        needed = live_vars(inner.equations, grads)
        backward_eqs = [e for e in inner.equations if e.out in needed and e.out not in live]
        producers = {e.out: e for e in forward_eqs}
        order = {e: k for k, e in enumerate(inner.equations)}
        while True:
            read = {v for e in backward_eqs for v in e.vars()} | set(grads)
            made = {e.out for e in backward_eqs}
            residuals = [e.out for e in forward_eqs if e.out in read and e.out not in made]
            again = [producers[v] for v in residuals if v.integer]  # (masks: made again)
            if not again:
                break
            backward_eqs = sorted([*again, *backward_eqs], key=order.__getitem__)
        splits.append((inner, forward_eqs, backward_eqs, residuals, grads, read))

    # The forward cond: each branch gives its results, then every residual slot.
    (t_inner, t_fwd, _, t_res, _, _), (f_inner, f_fwd, _, f_res, _, _) = splits
    slots = [*t_res, *f_res]
    branches = []
    for inner, forward_eqs, own in ((t_inner, t_fwd, t_res), (f_inner, f_fwd, f_res)):
        graph = parts.true if inner is t_inner else parts.false
        start = len(inner.equations)
        like = next(v for v in (*graph.outputs, *inputs) if not v.integer)
        filled = [v if v in own else inner.emit("zeros", [like], {"shape": v.shape}) for v in slots]
        zeros = inner.equations[start:]
        branches.append(_graph(inputs, [*forward_eqs, *zeros], (*graph.outputs, *filled), hints))
    params = cond_params(*branches)
    new = Equation(eq.op, eq.inputs, eq.out, tuple(sorted(params.items())), eq.source, eq.origin)
    index = next(i for i, e in enumerate(builder.equations) if e is eq)
    builder.equations[index] = new
    n_results = len(parts.true.outputs)
    stacks = [
        _result(
            builder,
            new,
            n_results + k,
            v.shape,
            hints.get(v) if isinstance(hints.get(v), str) else None,
        )
        for k, v in enumerate(slots)
    ]

    # The backward cond: the operands and residuals either backward part reads, and the
    # results' cotangents.
    read_any = splits[0][5] | splits[1][5]
    inputs_read = [v for v in inputs if v in read_any]
    operand_of = dict(zip(inputs, parts.operands))
    backward_inputs = (*inputs_read, *slots, *seeds_of.values())
    backward_branches = [
        _graph(backward_inputs, backward_eqs, grads, hints)
        for _, _, backward_eqs, _, grads, _ in splits
    ]
    operands = [parts.pred, *(operand_of[v] for v in inputs_read), *stacks]
    operands += [cotangents[k] for k in seeds_of]
    token = builder.emit("cond", operands, cond_params(*backward_branches))
    hints[token] = "branch"
    found = iter(
        builder.emit("scan_output", [token], {"result": k, "result_shape": v.shape})
        for k, v in enumerate(splits[0][4])
    )
    return [None, *(next(found) if w else None for w in wanted_inputs)]
