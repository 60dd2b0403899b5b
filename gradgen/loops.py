"""The loops and branches users write: `gg.scan`, `gg.fori_loop`, `gg.while_loop` and
`gg.cond`, with JAX's names and signatures.

While tracing, each traces its body once, on tracers of the carry's shapes and of one
slice of `xs`, into a graph of its own: one `scan` equation (`gradgen.ops.control`), so
the generated code holds a real loop and its size does not depend on the trip count. A
body may read the enclosing function's values (weights, data), which become the loop's
consts, as in JAX; what the body computes from them is computed in the body, at each step
(a branch's only when it is taken). Outside a trace, on NumPy arrays, each runs as the
Python loop it means.

Carries, `xs` and `y`s are an array or a (nested) tuple or list of arrays; carries are
float arrays or Python floats whose shapes the body keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradgen.errors import GradgenError, SourceLocation
from gradgen.graph_builder import (
    Builder,
    Tracer,
    active_builder,
    apply,
    building,
    name_unnamed,
)
from gradgen.ir import Atom, DimSize, Graph, Lit, Var
from gradgen.ops.control import cond_params, scan_params
from gradgen.shapes import Dim, dim_expr, dim_from_expr, format_shape

Leaves = list[Any]
Rebuild = Callable[[Leaves], Any]


def scan(
    f: Callable[[Any, Any], tuple[Any, Any]],
    init: Any,
    xs: Any = None,
    length: int | str | None = None,
    reverse: bool = False,
    *,
    checkpoint_every: int | None = None,
) -> tuple[Any, Any]:
    """Loop `f(carry, x) -> (carry, y)` over the leading axis of `xs` (or `length` times
    with x None): returns the final carry and the `y`s stacked on a new leading axis (None
    when every y is None). With `reverse`, the steps run from the last slice to the first,
    and row t of the stacked ys is still step t's.

    With `checkpoint_every=k`, the reverse mode keeps the carry of every k-th step only,
    and runs each segment of k steps again in the backward to get what it reads: memory
    O(T/k + k) carries instead of O(T) residuals, for one more forward pass. The loop is
    then a loop over the T // k segments of a loop of k steps (and a loop over the T % k
    steps left); its values and gradients are those of the plain loop."""
    builder = _builder_of(init, xs)
    if builder is None:
        return _eager_scan(f, init, xs, length, reverse)
    if checkpoint_every is not None:
        return _checkpointed_scan(builder, f, init, xs, length, reverse, checkpoint_every)
    return _traced_scan(
        builder, lambda t, carry, x: f(carry, x), init, xs, length, reverse, "t", "gg.scan"
    )


def _checkpointed_scan(
    builder: Builder,
    f: Callable[[Any, Any], tuple[Any, Any]],
    init: Any,
    xs: Any,
    length: Dim | None,
    reverse: bool,
    every: int,
) -> tuple[Any, Any]:
    """scan with `checkpoint_every=every`: a remat scan over the segments of `every`
    steps, each a scan of its own, then a plain scan over the steps left (first, with
    `reverse`); the ys of both, stacked on one leading axis again."""
    where = builder.location()
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise GradgenError(
            f"checkpoint_every of gg.scan must be a positive int, not {every!r}.", where
        )
    leaves, rebuild_xs = _flatten(xs) if xs is not None else ([], None)
    atoms = [_sliced_atom(builder, leaf, "gg.scan", where) for leaf in leaves]
    total = _length(atoms, length, "gg.scan", where)
    if isinstance(total, int) and total <= every:
        return scan(f, init, xs, length=total, reverse=reverse)
    segments = dim_from_expr(dim_expr(total) // every)
    covered = dim_from_expr(dim_expr(segments) * every)
    rest = dim_from_expr(dim_expr(total) - dim_expr(covered))

    def rows(leaf: Any, start: Dim | None, stop: Dim | None) -> Any:
        index = (("slice", start, stop, None),) + (("slice", None, None, None),) * (
            len(leaf.shape) - 1
        )
        return apply("getitem", leaf, index=index)

    def split(start: Dim | None, stop: Dim | None, shape: Callable[[Any], tuple]) -> Any:
        if rebuild_xs is None:
            return None
        return rebuild_xs([apply("reshape", rows(x, start, stop), shape=shape(x)) for x in leaves])

    segment_xs = split(None, covered, lambda x: (segments, every, *x.shape[1:]))
    rest_xs = split(covered, None, lambda x: (rest, *x.shape[1:]))
    carry_name = _parameter_name(f, 0, "carry")
    xs_names = [_hint(builder, leaf, "xs") for leaf in leaves]
    name_unnamed(_leaves(segment_xs), [f"{n}_segments" for n in xs_names])
    name_unnamed(_leaves(rest_xs), [f"{n}_rest" for n in xs_names])

    def segment(t: Tracer, carry: Any, x: Any) -> tuple[Any, Any]:
        names = _leaf_names(carry, carry_name)
        name_unnamed(_leaves(carry), names)
        name_unnamed(_leaves(x), [f"{n}_segment" for n in xs_names])
        carry, ys = scan(f, carry, x, length=every, reverse=reverse)
        name_unnamed(_leaves(carry), names)
        name_unnamed(_leaves(ys), _leaf_names(ys, "ys_segment"))
        return carry, ys

    def outer(carry: Any) -> tuple[Any, Any]:
        return _traced_scan(
            _builder_of(carry) or builder,
            segment,
            carry,
            segment_xs,
            segments,
            reverse,
            "segment",
            "gg.scan",
            remat=True,
        )

    def left(carry: Any) -> tuple[Any, Any]:
        if rest == 0:
            return carry, None
        return scan(f, carry, rest_xs, length=rest, reverse=reverse)

    if reverse:
        carry, rest_ys = left(init)
        carry, segment_ys = outer(carry)
    else:
        carry, segment_ys = outer(init)
        carry, rest_ys = left(carry)
    if segment_ys is None:
        return carry, None
    name_unnamed(_leaves(segment_ys), _leaf_names(segment_ys, "ys_segments"))
    name_unnamed(_leaves(rest_ys), _leaf_names(rest_ys, "ys_rest"))
    y_leaves, rebuild_ys = _flatten(segment_ys)
    stacked = [apply("reshape", y, shape=(covered, *y.shape[2:])) for y in y_leaves]
    if rest_ys is not None:
        stacked = [
            apply("concatenate", y, tail, axis=0) for y, tail in zip(stacked, _leaves(rest_ys))
        ]
    return carry, rebuild_ys(stacked)


def fori_loop(
    lower: int | str,
    upper: int | str,
    body_fun: Callable[[Any, Any], Any],
    init_val: Any,
    *,
    while_fun: Callable[[Any], Any] | None = None,
    counter_name: str | None = None,
    carry_names: Sequence[str] | None = None,
) -> Any:
    """`val = body_fun(i, val)` for i from `lower` up to `upper` (exclusive); returns the
    final val. The bounds are ints, named dims ("T") or expressions of them ("T - 1").

    With `while_fun`, a test of val (a traced scalar comparison) before each step, the
    loop also ends as soon as it is false: a while loop of at most upper - lower steps
    (a Python `for` loop with a `break`). `counter_name` and `carry_names` name the
    counter and the carry's leaves in the code and in messages (a Python `for`
    statement's variables, `gradgen.autograph`)."""
    builder = _builder_of(init_val)
    if builder is None and isinstance(lower, int) and isinstance(upper, int):
        value = init_val
        for i in range(lower, upper):
            if while_fun is not None and not while_fun(value):
                break
            value = body_fun(i, value)
        return value
    if builder is None:
        raise GradgenError(
            "gg.fori_loop with named bounds runs only inside a @gg.function.",
            hint="give int bounds to run it on NumPy arrays.",
        )
    length = dim_from_expr(dim_expr(upper) - dim_expr(lower))
    if isinstance(length, int) and length < 0:
        length = 0
    counter = counter_name or _parameter_name(body_fun, 0, "i")

    def step(t: Tracer, carry: Any, x: Any) -> tuple[Any, None]:
        i = t if lower == 0 else t + (DimSize(lower) if isinstance(lower, str) else lower)
        return body_fun(i, carry), None

    # the step counter is the user's i when the loop starts at 0 (else i = t + lower)
    name = counter if lower == 0 else "t"
    if while_fun is not None:  # a while loop, capped at the steps the range has
        carry, _ = _traced_scan(
            builder,
            step,
            init_val,
            None,
            builder.fresh_dim("steps"),
            False,
            name,
            "gg.fori_loop",
            while_fun,
            length,
            carry_names,
        )
        return carry
    carry, _ = _traced_scan(
        builder, step, init_val, None, length, False, name, "gg.fori_loop", None, None, carry_names
    )
    return carry


def _traced_scan(
    builder: Builder,
    f: Callable[[Tracer, Any, Any], Any],
    init: Any,
    xs: Any,
    length: Dim | None,
    reverse: bool,
    counter_name: str,
    what: str,
    cond: Callable[[Any], Any] | None = None,
    max_steps: Dim | None = None,
    carry_names: Sequence[str] | None = None,
    remat: bool = False,
) -> tuple[Any, Any]:
    """Trace `f(t, carry, x)` once into a body graph and record the scan equation and its
    results in `builder`; with `cond` (a while loop's test of the carry), trace it first,
    into a graph over the same inputs."""
    where = builder.location()
    init_leaves, rebuild_carry = _flatten(init)
    init_atoms = [_carry_atom(builder, leaf, k, what, where) for k, leaf in enumerate(init_leaves)]
    xs_leaves, rebuild_xs = _flatten(xs) if xs is not None else ([], None)
    xs_atoms = [_sliced_atom(builder, leaf, what, where) for leaf in xs_leaves]
    length = _length(xs_atoms, length, what, where)

    body = Builder(builder.user_files, builder)
    counter = body.new_var((), integer=True)
    body.hints[counter] = counter_name
    carries = [body.new_var(_shape(a)) for a in init_atoms]
    slices = [body.new_var(x.shape[1:], x.integer) for x in xs_atoms]
    test: Var | None = None
    if cond is not None:
        with building(body):
            flag = cond(rebuild_carry([Tracer(c, body) for c in carries]))
        test = _flag(body, flag, what, where)
    tested = len(body.equations)  # the condition's equations come first
    with building(body):
        result = f(
            Tracer(counter, body),
            rebuild_carry([Tracer(c, body) for c in carries]),
            rebuild_xs([Tracer(s, body) for s in slices]) if rebuild_xs is not None else None,
        )
    if not (isinstance(result, tuple) and len(result) == 2):
        raise GradgenError(
            f"the function of {what} returns {_kind(result)}, not a pair (carry, y).",
            where,
            "return (new_carry, y); y may be None.",
        )
    new_carry, ys = result
    new_leaves, _ = _flatten(new_carry)
    if len(new_leaves) != len(carries):
        raise GradgenError(
            f"the function of {what} returns a carry of {len(new_leaves)} arrays, but the "
            f"initial carry has {len(carries)}.",
            where,
            "return a carry of the same structure as the initial one.",
        )
    new_vars = [_body_value(body, leaf, what, where, "carry") for leaf in new_leaves]
    for k, (before, after) in enumerate(zip(carries, new_vars)):
        if before.shape != after.shape or after.integer:
            kind = "integer data" if after.integer else f"shape {format_shape(after.shape)}"
            carry = carry_names[k] if carry_names is not None else f"carry {k}"
            raise GradgenError(
                f"{carry} of {what} has shape {format_shape(before.shape)} on entry and "
                f"{kind} after a step.",
                where,
                "a loop's carry keeps its shape and dtype from step to step.",
            )
    y_leaves, rebuild_ys = _flatten(ys) if ys is not None else ([], None)
    y_vars = [_body_value(body, leaf, what, where, "y") for leaf in y_leaves]
    outer = list(body.captured)
    inputs = (counter, *(body.captured[v] for v in outer), *carries, *slices)
    values = set(inputs) | {eq.out for eq in body.equations}
    hints = {v: h for v, h in body.hints.items() if v in values}
    graph = Graph(inputs, tuple(body.equations[tested:]), (*new_vars, *y_vars), hints)
    condition = None
    if test is not None:
        condition = Graph(inputs, tuple(body.equations[:tested]), (test,), hints)
    params = scan_params(
        graph, length, len(outer), len(carries), reverse, condition, max_steps, remat
    )
    token = builder.emit("scan", [*outer, *init_atoms, *xs_atoms], params)
    builder.hints[token] = "loop"  # (a token: the printed code never names it)
    shapes = [v.shape for v in new_vars] + [(length, *v.shape) for v in y_vars]
    results = [
        Tracer(builder.emit("scan_output", [token], {"result": k, "result_shape": s}), builder)
        for k, s in enumerate(shapes)
    ]
    final = rebuild_carry(results[: len(carries)])
    stacked = rebuild_ys(results[len(carries) :]) if rebuild_ys is not None else None
    return final, stacked


def while_loop(
    cond_fun: Callable[[Any], Any],
    body_fun: Callable[[Any], Any],
    init_val: Any,
    max_steps: int | str | None = None,
    *,
    carry_names: Sequence[str] | None = None,
) -> Any:
    """`val = body_fun(val)` while `cond_fun(val)` (a traced scalar comparison) holds, and
    at most `max_steps` times (an int or a named dim); returns the final val. Unlike JAX's,
    it can be differentiated in reverse mode: the forward loop records how many steps it
    ran and stacks what the backward reads, and the backward runs that many steps in
    reverse.
    `carry_names` name the carry's leaves in messages (a Python `while` statement's
    variables, `gradgen.autograph`)."""
    builder = _builder_of(init_val)
    if builder is None:
        value, steps = init_val, 0
        while (max_steps is None or steps < max_steps) and cond_fun(value):
            value = body_fun(value)
            steps += 1
        return value
    if max_steps is not None and not (
        isinstance(max_steps, int)
        and not isinstance(max_steps, bool)
        and max_steps >= 0
        or isinstance(max_steps, str)
        and max_steps.isidentifier()
    ):
        raise GradgenError(
            "max_steps of gg.while_loop must be a non-negative int or a named dim, not "
            f"{max_steps!r}.",
            builder.location(),
        )
    carry, _ = _traced_scan(
        builder,
        lambda t, carry, x: (body_fun(carry), None),
        init_val,
        None,
        builder.fresh_dim("steps"),
        False,
        "t",
        "gg.while_loop",
        cond_fun,
        max_steps,
        carry_names,
    )
    return carry


def cond(
    pred: Any, true_fun: Callable[..., Any], false_fun: Callable[..., Any], *operands: Any
) -> Any:
    """`true_fun(*operands)` if `pred` (a traced scalar comparison) holds, else
    `false_fun(*operands)`. Both branches are traced; the generated code runs only the
    one taken (an `if`). Their results (an array or a tuple of arrays) have the same
    shapes; they may read the enclosing function's values, as loop bodies do."""
    builder = _builder_of(pred, *operands)
    if builder is None or not isinstance(pred, Tracer):  # NumPy, or a Python bool
        return true_fun(*operands) if pred else false_fun(*operands)
    where = builder.location()
    test = _flag(builder, pred, "gg.cond", where, "predicate")
    leaves, rebuild = _flatten(list(operands))
    atoms = [
        (
            Lit(float(leaf))
            if isinstance(leaf, (int, float)) and not isinstance(leaf, bool)
            else builder.atom(leaf)
        )
        for leaf in leaves
    ]
    body = Builder(builder.user_files, builder)
    inputs = [
        body.new_var(a.shape if isinstance(a, Var) else (), isinstance(a, Var) and a.integer)
        for a in atoms
    ]
    for v, atom in zip(inputs, atoms):
        if isinstance(atom, Var) and atom in builder.hints:
            body.hints[v] = builder.hints[atom]
    branches = []
    for fn in (true_fun, false_fun):
        start = len(body.equations)
        with building(body):
            result = fn(*rebuild([Tracer(v, body) for v in inputs]))
        result_leaves, rebuild_result = _flatten(result)
        outputs = [_body_value(body, leaf, "gg.cond", where, "result") for leaf in result_leaves]
        branches.append((start, len(body.equations), outputs, rebuild_result))
    (_, _, true_out, rebuild_result), (_, _, false_out, _) = branches
    kinds = [v.type_str() for v in true_out]
    if kinds != [v.type_str() for v in false_out] or any(v.integer for v in true_out):
        raise GradgenError(
            "the branches of gg.cond give results of different shapes or kinds: "
            f"{', '.join(kinds)} and {', '.join(v.type_str() for v in false_out)}.",
            where,
            "both branches return float arrays of the same structure and shapes.",
        )
    outer = list(body.captured)
    branch_inputs = (*inputs, *(body.captured[v] for v in outer))
    values = set(branch_inputs) | {eq.out for eq in body.equations}
    hints = {v: h for v, h in body.hints.items() if v in values}
    graphs = [
        Graph(branch_inputs, tuple(body.equations[start:end]), tuple(outputs), hints)
        for start, end, outputs, _ in branches
    ]
    token = builder.emit("cond", [test, *atoms, *outer], cond_params(*graphs))
    builder.hints[token] = "branch"
    results = [
        Tracer(
            builder.emit("scan_output", [token], {"result": k, "result_shape": v.shape}), builder
        )
        for k, v in enumerate(true_out)
    ]
    return rebuild_result(results)


def _leaves(value: Any) -> Leaves:
    """The leaves of a (nested) tuple or list of values; none for None."""
    return [] if value is None else _flatten(value)[0]


def _hint(builder: Builder, leaf: Any, default: str) -> str:
    """The name a traced leaf has in the code (its user variable's), else `default`."""
    hint = builder.hints.get(leaf.variable) if isinstance(leaf, Tracer) else None
    return hint if isinstance(hint, str) else default


def _leaf_names(value: Any, name: str) -> list[str]:
    """`name` for a value of one leaf, `name_0`, `name_1`... for each leaf of a structure."""
    count = len(_flatten(value)[0])
    return [name] if count == 1 else [f"{name}_{k}" for k in range(count)]


def _flag(
    body: Builder, flag: Any, what: str, where: SourceLocation | None, role: str = "condition"
) -> Var:
    """The var of a while loop's condition, checked: one boolean (a comparison)."""
    var = flag.variable if isinstance(flag, Tracer) and flag.builder is body else None
    if var is None or var.shape != () or not var.integer:
        kind = f"shape {format_shape(var.shape)}" if var is not None and var.shape else None
        kind = kind or ("float data" if var is not None else _kind(flag))
        raise GradgenError(
            f"the {role} of {what} gives {kind}, not one boolean.",
            where,
            "compare scalars: gg.linalg.norm(b) < 1000, gg.sum(x) > 0.",
        )
    return var


def _builder_of(*values: Any) -> Builder | None:
    """The builder of the innermost traced value among `values`' leaves, else the
    active one (a loop over Python floats inside a trace), else None (eager)."""
    builders = [leaf.builder for v in values for leaf in _flatten(v)[0] if isinstance(leaf, Tracer)]
    if builders:
        return max(builders, key=lambda b: b.depth)
    return active_builder()


def _flatten(value: Any) -> tuple[Leaves, Rebuild]:
    """The leaves of a (nested) tuple or list, and how to build the same structure again."""
    if isinstance(value, (tuple, list)):
        parts = [_flatten(item) for item in value]
        sizes = [len(leaves) for leaves, _ in parts]
        kind = type(value)

        def rebuild(leaves: Leaves) -> Any:
            items, start = [], 0
            for (_, rebuild_part), size in zip(parts, sizes):
                items.append(rebuild_part(leaves[start : start + size]))
                start += size
            return kind(items)

        return [leaf for leaves, _ in parts for leaf in leaves], rebuild
    return [value], lambda leaves: leaves[0]


def _carry_atom(
    builder: Builder, leaf: Any, k: int, what: str, where: SourceLocation | None
) -> Atom:
    if isinstance(leaf, (int, float, np.integer, np.floating)) and not isinstance(leaf, bool):
        return Lit(float(leaf))  # a carry is float data
    atom = builder.atom(leaf)
    if isinstance(atom, Var) and atom.integer:
        raise GradgenError(
            f"carry {k} of {what} is integer data; carries are float arrays.",
            where,
            "loop over integer data with the step counter, or carry a float array.",
        )
    return atom


def _sliced_atom(builder: Builder, leaf: Any, what: str, where: SourceLocation | None) -> Var:
    atom = builder.atom(leaf)
    if not isinstance(atom, Var) or atom.ndim == 0:
        raise GradgenError(
            f"xs of {what} must be arrays with a leading axis to loop over, not {_kind(leaf)}.",
            where,
            "pass xs=None with length=... to loop without slicing an array.",
        )
    return atom


def _length(xs: list[Var], length: Dim | None, what: str, where: SourceLocation | None) -> Dim:
    leading = {x.shape[0] for x in xs}
    if len(leading) > 1:
        raise GradgenError(
            f"the xs of {what} have leading axes of different sizes: "
            f"{', '.join(str(d) for d in sorted(leading, key=str))}.",
            where,
            "every array in xs is sliced along its first axis, one slice per step.",
        )
    if length is None and not leading:
        raise GradgenError(f"{what} needs xs or length.", where, "pass length=... when xs is None.")
    if length is not None and leading and leading != {length}:
        raise GradgenError(
            f"{what} has length={length}, but xs have a leading axis of {leading.pop()}.",
            where,
        )
    return length if length is not None else leading.pop()


def _body_value(
    body: Builder, leaf: Any, what: str, where: SourceLocation | None, role: str
) -> Var:
    """The body's var for one leaf of what its function returned."""
    if isinstance(leaf, Tracer):
        atom = body.atom(leaf)
        if isinstance(atom, Var):
            return atom
    raise GradgenError(
        f"the function of {what} returns {_kind(leaf)} as a {role}, not an array computed "
        "in the loop.",
        where,
        "return arrays (a constant carry can be computed from the arguments).",
    )


def _shape(atom: Atom) -> tuple[Dim, ...]:
    return atom.shape if isinstance(atom, Var) else ()


def _kind(value: Any) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    return "None" if value is None else type(value).__name__


def _parameter_name(fn: Callable[..., Any], index: int, default: str) -> str:
    code = getattr(fn, "__code__", None)
    if code is not None and code.co_argcount > index:
        return str(code.co_varnames[index])
    return default


def _eager_scan(
    f: Callable[[Any, Any], tuple[Any, Any]],
    init: Any,
    xs: Any,
    length: int | str | None,
    reverse: bool,
) -> tuple[Any, Any]:
    """scan on NumPy arrays: the Python loop."""
    leaves, rebuild = _flatten(xs) if xs is not None else ([], None)
    count = int(length) if length is not None else len(leaves[0])
    carry, ys = init, []
    steps = range(count - 1, -1, -1) if reverse else range(count)
    for t in steps:
        x = rebuild([leaf[t] for leaf in leaves]) if rebuild is not None else None
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    if not ys or ys[0] is None:
        return carry, None
    y_leaves = [_flatten(y)[0] for y in ys]
    _, rebuild_y = _flatten(ys[0])
    return carry, rebuild_y([np.stack(column) for column in zip(*y_leaves)])


__all__ = ["cond", "fori_loop", "scan", "while_loop"]
