"""Statements: each equation of a straight-line graph as lines of Python.

`inlined` chooses the temporaries written into their one reader instead of a statement.
`statements` does the rest in three phases: `lower` decides how each statement is
computed (`lowered.py`): elementwise results in place (`inplace.py`) in arrays the function
owns and no longer needs (`buffers.py`), or in their region of the scatter that reads them
(`d_t0 = d_x[:-1]`); `writes.check_writes` checks every in-place write on the IR; and
`print_lowered` writes the text. A statement is a list of lines and `Block`s (a header
such as `with np.errstate(...):` and the lines under it); the template indents blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gradgen.codegen.buffers import BufferPlan, plan_buffers
from gradgen.codegen.inplace import InPlace, best_in_place, in_region
from gradgen.codegen.lowered import (
    Lowered,
    LoweredBranch,
    LoweredCond,
    LoweredLoop,
    LoweredProgram,
)
from gradgen.codegen.printer import Code, NumPyCodePrinter, atom_code
from gradgen.codegen.symbols import MaskSymbol
from gradgen.codegen.writes import check_writes
from gradgen.ir import Equation, Graph, Var
from gradgen.naming import GradHint, NameHint, assign_names, is_named, says_nothing
from gradgen.ops import OPS
from gradgen.ops.control import cond_parts, scan_parts
from gradgen.passes.prune_loops import pruned_cond, pruned_scan
from gradgen.shapes import dim_expr, dim_names
from gradgen.source import statement_text
from gradgen.symbolic import operand_occurrences


@dataclass(frozen=True)
class Block:
    """A compound statement: its header line (ending in `:`) and the lines under it."""

    head: str  # e.g. "if d_value is None:"
    body: list[Line]  # indented one level under the header


Line = str | Block


_STATEMENT_OPS = frozenset({"scatter", "scatter_sum", "take_add", "along_axis_add"})
# A loop and its results are statements of their own, and a loop reads its operands by name.
_LOOP_OPS = frozenset({"scan", "cond", "scan_output"})


def inlined(
    equations: Sequence[Equation], kept: Iterable[Var], hints: Mapping[Var, NameHint]
) -> set[Var]:
    """Temporaries read exactly once, written into their reader instead of a statement.

    Elementwise values nest into elementwise readers as SymPy sub-expressions; a reader
    that is a call or `@` takes any expression.
    """
    kept = set(kept)
    readers: dict[Var, list[Equation]] = {}
    for eq in equations:
        for v in eq.vars():
            readers.setdefault(v, []).append(eq)
    inline = set()
    for eq in equations:
        reader = readers.get(eq.out, [])
        if (
            eq.op in _STATEMENT_OPS | _LOOP_OPS  # two statements: nothing to write inline
            or (reader and reader[0].op in _STATEMENT_OPS | _LOOP_OPS)  # read twice, or by name
            or eq.out in kept
            or is_named(eq.out, hints)
            or len(reader) != 1
            or reader[0].inputs.count(eq.out) != 1
        ):
            continue
        if (
            OPS[eq.op].elementwise
            and OPS[reader[0].op].elementwise
            and operand_occurrences(reader[0], eq.out) > 1
        ):
            continue  # written into x * (1 - x**2), it would be computed twice
        if eq.op == "matmul" and OPS[reader[0].op].elementwise and eq.out.ndim > 0:
            if reader[0].op not in ("add", "sub"):
                continue  # `x @ w + b` reads well; `(x @ w) * c` is better on its own line
        inline.add(eq.out)
    return inline


def statements(
    equations: Sequence[Equation],
    names: dict[Var, str],
    inline: set[Var],
    printer: NumPyCodePrinter,
    keep: Iterable[Var],
    hints: Mapping[Var, NameHint],
    dtype_from: Sequence[Var] = (),
) -> list[tuple[Equation, list[Line]]]:
    """One statement text per equation not written inline: the equations lowered
    (`lower`), their in-place writes checked (`writes.check_writes`), then printed."""
    keep = list(keep)
    program = lower(equations, names, inline, printer, keep, hints, dtype_from)
    check_writes(program, equations, keep)
    return print_lowered(program, printer)


def lower(
    equations: Sequence[Equation],
    names: dict[Var, str],
    inline: set[Var],
    printer: NumPyCodePrinter,
    keep: Iterable[Var],
    hints: Mapping[Var, NameHint],
    dtype_from: Sequence[Var] = (),
    taken: set[str] | None = None,
) -> LoweredProgram:
    """How each equation not written inline is computed. Elementwise results are
    computed in place (`inplace.py`) in arrays the function owns and no longer needs
    (`buffers.py`), or in their region of the scatter that reads them; `keep` are the
    values that must survive the statements (returned or saved), `hints` tell temporaries
    from named values. A float value computed from masks and numbers only takes the dtype
    of the first float in `dtype_from` (the function's arguments). The printer builds each
    right-hand side (`printer.expression`) and says which ufunc a node prints as."""
    keep = set(keep)
    plan = plan_buffers(equations, inline, keep, hints) if printer.in_place else None
    while True:
        program, unwritten = _lowered(
            equations, names, inline, printer, keep, hints, dtype_from, plan, taken
        )
        if plan is None or not unwritten:
            return program
        # a buffer renamed for a statement with no in-place form keeps its own name, and
        # the statement is one expression (`h = _erf(x @ w)`, not `h = x @ w; h = _erf(h)`)
        plan = plan.without(unwritten)


def _lowered(
    equations: Sequence[Equation],
    names: dict[Var, str],
    inline: set[Var],
    printer: NumPyCodePrinter,
    keep: set[Var],
    hints: Mapping[Var, NameHint],
    dtype_from: Sequence[Var],
    plan: BufferPlan | None,
    taken: set[str] | None = None,
) -> tuple[LoweredProgram, set[Var]]:
    """`lower` with the buffer plan `plan`, and the buffers it renamed whose statement has
    no in-place form after all."""
    names = dict(names)  # (a loop's initial carry may take its carry's name)
    # every name the function's code binds, in this program and the bodies in it: a loop
    # body's names are new ones (its start may take its carry's name after other loops ran)
    taken = taken if taken is not None else set()
    taken |= set(names.values())
    if plan is not None and plan.renamed:
        inline = inline - plan.materialize
        for eq, buffers in plan.reusable.items():
            if buffers[0] in plan.renamed:
                names[buffers[0]] = names[eq.out]  # `h = x @ w`, then `h += b` in its memory
    float_dtype = _float_dtype(dtype_from, names, printer)
    codes: dict[Var, Code] = {}
    lowered: list[Lowered] = []
    unwritten: set[Var] = set()
    written_first: set[Equation] = set()  # scatters whose first region holds its value
    results = _loop_results(equations)
    for eq in equations:
        if eq.op == "scan_output":
            continue  # bound by its loop
        operands = [
            codes[a] if isinstance(a, Var) and a in codes else atom_code(a, names)
            for a in eq.inputs
        ]
        if eq.op == "cond":
            branch = _lowered_cond(eq, results.get(eq.out, {}), names, printer, taken)
            lowered.append(Lowered(eq, Code("", True), branch=branch))
            continue
        if eq.op == "scan":
            found = results.get(eq.out, {})
            carries = _carry_names(eq, found, lowered, equations, names, keep, hints)
            loop = _lowered_loop(eq, found, names, printer, carries, hints, keep, taken)
            lowered.append(Lowered(eq, Code("", True), loop=loop))
            continue
        if eq in written_first:  # `d_x[1:] += d_t1`: the zeros and `d_x[:-1]` came first
            lowered.append(Lowered(eq, operands[0], rest=tuple(operands[1:])))
            continue
        code = printer.expression(eq, operands, float_dtype)
        if eq.out in inline:
            codes[eq.out] = code
            continue
        scatter = plan.destinations.get(eq.out) if plan is not None else None
        steps = _in_region(eq, code, names, printer) if scatter is not None else None
        if scatter is not None and steps is not None:
            # `d_x = np.zeros(...)`, `d_t0 = d_x[:-1]`, then d_t0 computed in place
            lowered.append(Lowered(eq, code, steps, region_of=scatter))
            written_first.add(scatter)
            continue
        if plan is not None:
            buffers = plan.reusable.get(eq, ())
            steps = _in_place(eq, code, buffers, names, hints, printer)
            if steps is None and buffers[:1] and buffers[0] in plan.renamed:
                unwritten.add(buffers[0])
        lowered.append(Lowered(eq, code, steps))
    return LoweredProgram(lowered, names, frozenset(inline)), unwritten


def _loop_results(equations: Sequence[Equation]) -> dict[Var, dict[int, Var]]:
    """For each loop's token, its results the equations bind, by index."""
    results: dict[Var, dict[int, Var]] = {}
    for eq in equations:
        if eq.op == "scan_output":
            token = eq.inputs[0]
            assert isinstance(token, Var)
            results.setdefault(token, {})[eq.param("result")] = eq.out  # type: ignore[index]
    return results


def _lowered_loop(
    eq: Equation,
    results: dict[int, Var],
    names: dict[Var, str],
    printer: NumPyCodePrinter,
    carry_names: dict[int, str | None],
    hints: Mapping[Var, NameHint],
    keep: set[Var],
    taken: set[str],
) -> LoweredLoop:
    """A scan as a `for` loop computing the results bound here (`results`, by index):
    its body lowered as a program of its own, whose names are new but for the consts
    (their operands' names) and the carries (`carry_names`, else their final results'
    names when the user gave one or the code prints it elsewhere; else a result takes its
    carry's name). An initial carry already bound under its carry's name is not assigned
    again."""
    loop, numbers = pruned_scan(eq, set(results))
    results = {numbers.get(k, k): v for k, v in results.items()}
    carry_names = {
        numbers.get(k, k): name for k, name in carry_names.items() if k in numbers or not numbers
    }
    parts = scan_parts(loop)
    body = parts.body
    n_carry = len(parts.carries)
    fixed = dict(names)  # every name outside the loop stays taken
    for inner, outer in zip(parts.body_consts, parts.consts):
        fixed[inner] = atom_code(outer, names).text
    for k, inner in enumerate(parts.body_carries):
        if carry_names.get(k) is not None:
            fixed[inner] = carry_names[k]  # type: ignore[assignment]
        elif k in results and (isinstance(hints.get(results[k]), str) or results[k] in keep):
            fixed[inner] = names[results[k]]  # the user's name for the result, or its own
    taken |= dim_names(parts.length)  # (a loop's length may be a dim the code binds)
    while_loop = parts.cond is not None
    if while_loop:  # the counter counts the steps: it is the loop's length once it ends
        fixed[parts.counter] = str(parts.length)
    condition, test, cond_names = None, None, {}
    if parts.cond is not None:
        cond = parts.cond
        cond_inline = inlined(cond.equations, cond.outputs, cond.hints)
        cond_names = assign_names(cond, skip=cond_inline, fixed=fixed, taken=taken)
        taken |= set(cond_names.values())
        condition = lower(
            cond.equations,
            {**names, **cond_names},
            cond_inline,
            printer,
            cond.outputs,
            cond.hints,
            cond.inputs,
            taken,
        )
        check_writes(condition, cond.equations, cond.outputs)
        test = cond_names[cond.outputs[0]]
        fixed = {**fixed, **cond_names}
    inline = inlined(body.equations, body.outputs, body.hints)
    own = assign_names(body, skip=inline, fixed=fixed, taken=taken)
    body_names = {v: own[v] for v in (*body.inputs, *(e.out for e in body.equations)) if v in own}
    taken |= set(body_names.values())
    program = lower(
        body.equations,
        {**names, **body_names},
        inline,
        printer,
        body.outputs,
        body.hints,
        body.inputs,
        taken,
    )
    check_writes(program, body.equations, body.outputs)
    for k, (inner, start) in enumerate(zip(parts.body_carries, parts.carries)):
        if k in results and inner not in fixed:  # a result with no name of its own: the carry's
            names[results[k]] = body_names[inner]
        if k in carry_names and carry_names[k] is None:  # a start computed for the loop alone
            names[start] = body_names[inner]  # type: ignore[index]
    counter = body_names[parts.counter]
    before = [
        f"{body_names[inner]} = {atom_code(outer, names).text}"
        for inner, outer in zip(parts.body_carries, parts.carries)
        if body_names[inner] != atom_code(outer, names).text
    ]
    stacked = [(k, v) for k, v in sorted(results.items()) if k >= n_carry]
    dtype = _stack_dtype(loop, names, printer)
    after: list[str] = []
    if while_loop:  # rows appended, then stacked: the number of steps is known at the end
        before += [f"{names[v]} = []" for _, v in stacked]
        before.append(f"{counter} = 0")
        stores = [f"{names[v]}.append({{}})" for _, v in stacked]
        for _, v in stacked:
            empty = f"{printer.np('empty')}({printer.shape((0, *v.shape[1:]))}, dtype={dtype})"
            after.append(
                f"{names[v]} = {printer.np('stack')}({names[v]}) if {counter} else {empty}"
            )
        cap = parts.max_steps
        cap_text = cap if not isinstance(cap, str) else printer.doprint(dim_expr(cap))
        head = f"while {counter} < {cap_text}:" if cap is not None else "while True:"
    else:
        before += [
            f"{names[v]} = {printer.np('empty')}({printer.shape(v.shape)}, dtype={dtype})"
            for _, v in stacked
        ]
        stores = [f"{names[v]}[{counter}] = {{}}" for _, v in stacked]
        length = parts.length
        steps = f"range({length if isinstance(length, int) else printer.doprint(dim_expr(length))})"
        head = f"for {counter} in {'reversed(' + steps + ')' if parts.reverse else steps}:"
    inputs = set(body.inputs)
    first = [
        f"{body_names[inner]} = {names[outer]}[{counter}]"  # type: ignore[index]
        for inner, outer in zip(parts.body_slices, parts.xs)
    ]
    last = []
    for store, (k, _) in zip(stores, stacked):
        value = parts.ys[k - n_carry]
        (first if value in inputs else last).append(store.format(body_names[value]))
    updates = [
        (body_names[inner], body_names[new])
        for inner, new in zip(parts.body_carries, parts.new_carries)
        if body_names[inner] != body_names[new]
    ]
    if updates:  # at once: a carry's new value may be another carry's old one
        last.append(f"{', '.join(n for n, _ in updates)} = {', '.join(v for _, v in updates)}")
    if while_loop:
        last.append(f"{counter} += 1")
    after += [
        f"{names[results[k]]} = {body_names[inner]}"
        for k, inner in enumerate(parts.body_carries)
        if k in results and names[results[k]] != body_names[inner]
    ]
    return LoweredLoop(before, head, condition, test, first, program, last, after, body, parts.cond)


def _lowered_cond(
    eq: Equation,
    results: dict[int, Var],
    names: dict[Var, str],
    printer: NumPyCodePrinter,
    taken: set[str],
) -> LoweredCond:
    """A cond as an `if` computing the results bound here: each branch lowered as a
    program of its own, reading the operands by their names, and giving each result the
    name it has after the `if` (computed under it where a statement computes it)."""
    pruned, numbers = pruned_cond(eq, set(results))
    results = {numbers.get(k, k): v for k, v in results.items()}
    parts = cond_parts(pruned)
    fixed = dict(names)  # every name outside the branches stays taken
    for inner, operand in zip(parts.inputs, parts.operands):
        fixed[inner] = atom_code(operand, names).text
    sides = []
    for graph in (parts.true, parts.false):
        computed = {e.out for e in graph.equations}
        own = dict(fixed)
        for k, v in enumerate(graph.outputs):
            if k in results and v in computed and graph.outputs.count(v) == 1:
                own[v] = names[results[k]]  # (a new name: nothing in the branch reads it)
        inline = inlined(graph.equations, graph.outputs, graph.hints)
        branch_names = assign_names(graph, skip=inline, fixed=own, taken=taken)
        taken |= set(branch_names.values())
        program = lower(
            graph.equations,
            {**names, **branch_names},
            inline,
            printer,
            graph.outputs,
            graph.hints,
            graph.inputs,
            taken,
        )
        check_writes(program, graph.equations, graph.outputs)
        bound = [
            f"{names[results[k]]} = {branch_names[v]}"
            for k, v in enumerate(graph.outputs)
            if k in results and branch_names[v] != names[results[k]]
        ]
        sides.append(LoweredBranch(program, graph, bound))
    return LoweredCond(atom_code(parts.pred, names).text, *sides)


def _branch_lines(branch: LoweredBranch, printer: NumPyCodePrinter) -> list[Line]:
    lines = commented(
        print_lowered(branch.body, printer), branch.graph.hints, branch.graph, branch.body.names
    )
    return lines + branch.results or ["pass"]


def _carry_names(
    eq: Equation,
    results: dict[int, Var],
    lowered: Sequence[Lowered],
    equations: Sequence[Equation],
    names: dict[Var, str],
    keep: set[Var],
    hints: Mapping[Var, NameHint],
) -> dict[int, str | None]:
    """The name each carry of the loop `eq` has, by carry index (None: the loop's own
    name for it, which its initial value then takes too), where one name can serve
    the initial value, the carry and the final result. An initial carry computed just for
    the loop (by one plain statement, read by nothing else, kept for nothing) is bound
    under the carry's name: `d_w = np.zeros_like(w)`, and the loop adds into `d_w`. When
    its own name says what it is and the final result is neither a user's variable nor
    read by name outside these statements (returned, saved), that name is the carry's and
    the result's (`d_h = np.broadcast_to(...)`, carried, then copied out)."""
    statements = {s.eq.out: s for s in lowered}
    reads: dict[Var, int] = {}
    for e in equations:
        for v in e.vars():
            reads[v] = reads.get(v, 0) + 1
    chosen: dict[int, str | None] = {}
    for k, operand in enumerate(scan_parts(eq).carries):
        statement = statements.get(operand) if isinstance(operand, Var) else None
        if (
            statement is None
            or statement.in_place is not None
            or statement.region_of is not None
            or statement.rest is not None
            or statement.loop is not None
            or reads.get(operand) != 1  # type: ignore[arg-type]
            or operand in keep
        ):
            continue
        result = results.get(k)
        own = names[operand]  # type: ignore[index]
        printed_elsewhere = result in keep  # returned or saved by name
        nameless = result is None or (says_nothing(names[result]) and result not in keep)
        if says_nothing(own) and nameless:
            chosen[k] = None  # the loop's own name for the carry, given to its start too
            continue
        if result is not None and (
            says_nothing(own) or isinstance(hints.get(result), str) or printed_elsewhere
        ):
            names[operand] = names[result]  # type: ignore[index]
        elif result is not None:
            names[result] = own
        chosen[k] = names[operand]  # type: ignore[index]
    return chosen


def _stack_dtype(loop: Equation, names: Mapping[Var, str], printer: NumPyCodePrinter) -> str:
    """The dtype of the arrays a loop stacks its values in: NumPy's for its float
    operands (a float64 when it has none)."""
    floats = list(dict.fromkeys(names[a] for a in loop.vars() if not a.integer))
    if not floats:
        return "float"
    if len(floats) == 1:
        return f"{printer.np('result_type')}({floats[0]})"
    return f"{printer.np('result_type')}({', '.join(floats)})"


def _loop_lines(loop: LoweredLoop, printer: NumPyCodePrinter) -> list[Line]:
    """A loop's statements: the setup, the `for` or `while` block (a while loop's test
    first in it), and what follows."""
    body: list[Line] = []
    if loop.condition is not None and loop.cond_graph is not None:
        test = print_lowered(loop.condition, printer)
        body += commented(test, loop.cond_graph.hints, loop.cond_graph, loop.condition.names)
        body.append(Block(f"if not {loop.test}:", ["break"]))
    body += loop.first
    statements_ = print_lowered(loop.body, printer)
    body += commented(statements_, loop.graph.hints, loop.graph, loop.body.names)
    body += loop.last
    return [*loop.before, Block(loop.head, body or ["pass"]), *loop.after]


def print_lowered(
    program: LoweredProgram, printer: NumPyCodePrinter
) -> list[tuple[Equation, list[Line]]]:
    """Each statement of `program` as its lines."""
    names = program.names
    lines: list[tuple[Equation, list[Line]]] = []
    for statement in program.statements:
        eq, code = statement.eq, statement.code
        if statement.loop is not None:
            lines.append((eq, _loop_lines(statement.loop, printer)))
            continue
        if statement.branch is not None:
            branch = statement.branch
            blocks: list[Line] = [
                Block(f"if {branch.pred}:", _branch_lines(branch.true, printer)),
                Block("else:", _branch_lines(branch.false, printer)),
            ]
            lines.append((eq, blocks))
            continue
        if statement.rest is not None:
            written = printer.scatter_rest(eq, [code, *statement.rest], names[eq.out])
        elif statement.region_of is not None and statement.in_place is not None:
            output = names[statement.region_of.out]
            head = printer.scatter_destination(statement.region_of, output, names[eq.out], code)
            written = head + printer.in_place_lines(statement.in_place, code.uncast or code.text)
        else:
            written = _printed(eq, code, statement.in_place, names, printer)
        lines.append((eq, written))
    return lines


def _float_dtype(
    dtype_from: Sequence[Var], names: Mapping[Var, str], printer: NumPyCodePrinter
) -> str:
    """The dtype of a float value made of masks and numbers only: the first float
    argument's (an array's, else a scalar's, a Python float's too)."""
    floats = sorted(
        (v for v in dtype_from if not v.integer and v in names), key=lambda v: not v.ndim
    )
    if not floats:
        return "float"  # float64, as NumPy gives when no float argument says otherwise
    first = names[floats[0]]
    return f"{first}.dtype" if floats[0].ndim else f"{printer.np('result_type')}({first})"


def _in_region(
    eq: Equation, code: Code, names: Mapping[Var, str], printer: NumPyCodePrinter
) -> InPlace | None:
    """The steps computing `eq`'s value in its region of the scatter that reads it."""
    if code.expr is None or code.guarded:
        return None
    if not any(not isinstance(s, MaskSymbol) for s, _ in code.leaf_shapes):
        return None  # no float operand to take the dtype of (a mask's is bool)
    shapes = dict(code.leaf_shapes)
    return in_region(code.expr, names[eq.out], eq.out.shape, shapes, printer.ufunc_form)


def _in_place(
    eq: Equation,
    code: Code,
    buffers: tuple[Var, ...],
    names: Mapping[Var, str],
    hints: Mapping[Var, NameHint],
    printer: NumPyCodePrinter,
) -> InPlace | None:
    """The steps computing an elementwise float array statement in place, in one of the
    dead `buffers` or in an array its first operation allocates."""
    if (
        not OPS[eq.op].elementwise
        or code.expr is None
        or code.guarded
        or eq.out.ndim == 0
        or eq.out.integer
    ):
        return None
    return best_in_place(
        code.expr,
        names[eq.out],
        eq.out.shape,
        tuple(names[v] for v in buffers),
        # a spare holds a sub-expression under its own name: `t3`, not `cos_y`
        # (nor a user's variable the user happened to call `t3`)
        tuple(names[v] for v in buffers if says_nothing(names[v]) and not is_named(v, hints)),
        dict(code.leaf_shapes),
        printer.ufunc_form,
        printer.is_atom,
        cast=code.uncast is not None,
        shallow=isinstance(hints.get(eq.out), str),
        named=frozenset(names[v] for v in buffers if is_named(v, hints)),
    )


def _printed(
    eq: Equation,
    code: Code,
    lowered: InPlace | None,
    names: Mapping[Var, str],
    printer: NumPyCodePrinter,
) -> list[Line]:
    """The lines of one statement: its in-place steps, the statement its op prints as
    (`code.statement`), or `name = expression` (under np.errstate when guarded)."""
    name = names[eq.out]
    lines: list[Line] = []
    if lowered is not None:
        lines += printer.in_place_lines(lowered, code.uncast or code.text)
    elif code.statement is not None:
        lines += code.statement.format(name=name).split("\n")
    elif code.guarded and printer.errstate:
        # np.where computes both branches everywhere: the one not taken may warn.
        errstate = printer.np("errstate")
        head = f'with {errstate}(divide="ignore", invalid="ignore", over="ignore"):'
        lines.append(Block(head, [f"{name} = {code.text}"]))
    else:
        lines.append(f"{name} = {code.text}")
    return lines


def dim_bindings(inputs: Sequence[Var], names: dict[Var, str], dims: Iterable[str]) -> list[str]:
    """`N, D = x.shape` (or `N = x.shape[0]`) for each dimension the code reads."""
    wanted = set(dims)
    lines = []
    for v in inputs:
        here = [d for d in v.shape if isinstance(d, str) and d in wanted]
        if not here:
            continue
        if here == list(v.shape) and len(set(here)) == len(here):
            lines.append(f"{', '.join(here)} = {names[v]}.shape" + ("" if len(here) > 1 else "[0]"))
        else:
            for d in dict.fromkeys(here):
                lines.append(f"{d} = {names[v]}.shape[{v.shape.index(d)}]")
        wanted -= set(here)
    return lines


def commented(
    statements: list[tuple[Equation, list[Line]]],
    hints: Mapping[Var, NameHint],
    graph: Graph,
    names: Mapping[Var, str],
) -> list[Line]:
    """Statements grouped under comments naming the user's line each comes from. A sum of
    a value's gradient parts is headed by the line that defines the value (whose rule
    reads the sum next); a parameter's, by its name."""
    producers = {eq.out: eq for eq in graph.equations}
    body: list[Line] = []
    previous_comment = None
    for eq, lines in statements:
        comment = step_comment(eq)
        hint = hints.get(eq.out)
        if comment is None and isinstance(hint, GradHint) and eq.op in ("add", "ew"):
            producer = producers.get(hint.of)  # type: ignore[call-overload]
            if producer is not None and producer.source is not None:
                comment = statement_text(producer.source) or None
            elif hint.of in names:
                comment = f"the gradient of {names[hint.of]}, added up from its uses"  # type: ignore[index]
        if comment and comment != previous_comment:
            body.append(f"# {comment}")
            previous_comment = comment
        body.extend(lines)
    return body


def step_comment(eq: Equation) -> str | None:
    """The user's source line of the forward step this derivative equation comes from."""
    origin = eq.origin
    if origin is None or origin.source is None:
        return None
    return statement_text(origin.source) or None
