"""The memory plan (`codegen/buffers.py`) and in-place printing (`codegen/inplace.py`):
which buffers may be reused on small graphs, the
printed statements pinned as text, and, on random expressions, that the in-place
statements compute what the plain expression computes, in the buffer's own memory, while
every array that is not a dead buffer stays as it was."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
import sympy
from autograd import grad
from autograd import numpy as anp
from hypothesis import given, settings
from hypothesis import strategies as st
from support import GraphMaker, compile_to_module

import gradgen as gg
import gradgen.codegen.statements as statements_module
from gradgen import Array
from gradgen.codegen.buffers import BufferPlan, plan_buffers
from gradgen.codegen.inplace import InPlace, Step, best_in_place, verify_steps
from gradgen.codegen.lowered import Lowered, LoweredProgram
from gradgen.codegen.printer import MAXIMUM, Code, NumPyCodePrinter
from gradgen.codegen.statements import statements
from gradgen.codegen.symbols import ScalarSymbol
from gradgen.codegen.writes import check_writes
from gradgen.naming import assign_names
from gradgen.ops.sympy_definitions import Relu
from gradgen.verify import IRError

# -- the memory plan


def test_a_temporary_read_for_the_last_time_may_take_the_result() -> None:
    g = GraphMaker()
    x = g.input("x")
    t = g("exp", x)
    u = g("mul", t, 2.0)
    graph = g.graph(u)
    plan = plan_buffers(graph.equations, set(), graph.outputs, graph.hints)
    assert plan.reusable == {graph.equations[1]: (t,)}  # never x: the caller's array


def test_a_temporary_read_later_or_returned_or_viewed_is_kept() -> None:
    g = GraphMaker()
    x = g.input("x", ("N", "N"))
    read_later = g("exp", x)
    returned = g("sin", x)
    viewed = g("cos", x)
    view = g("transpose", viewed)
    first = g("mul", read_later, 2.0)
    second = g("mul", returned, 3.0)
    third = g("mul", viewed, 4.0)
    last = g("add", g("add", read_later, view), g("add", first, g("add", second, third)))
    graph = g.graph(last, returned)
    plan = plan_buffers(graph.equations, set(), graph.outputs, graph.hints)
    producers = {eq.out: eq for eq in graph.equations}
    for product in (first, second, third):  # each read its operand while it is still needed
        assert producers[product] not in plan.reusable
    assert plan.reusable[producers[last]] == producers[last].inputs  # two dead sums


def test_a_named_value_comes_last_and_a_shared_temporary_is_not_renamed() -> None:
    """`early` is read here alone: it takes the result's name. `shared` is read twice: it
    cannot take the last reader's name, which would bind one buffer to two names; it may
    be taken by a first step, or hold a sub-expression. `hidden` is the user's: taken only
    after its last read, never renamed, never a spare."""
    g = GraphMaker()
    x = g.input("x", ("N",))
    hidden = g("exp", x, name="hidden")
    shared = g("sin", x)
    early = g("mul", shared, 2.0)
    inner = g("add", hidden, shared)
    last = g("add", inner, early)
    graph = g.graph(last)
    inline = {inner}  # written into its reader: `hidden + shared + early`
    plan = plan_buffers(graph.equations, inline, graph.outputs, graph.hints)
    producers = {eq.out: eq for eq in graph.equations}
    assert plan.reusable[producers[last]] == (early, shared, hidden)  # early takes the name
    assert plan.renamed == {early}


def test_a_buffer_read_through_a_view_in_the_same_statement_is_kept() -> None:
    g = GraphMaker()
    x = g.input("x", ("N", "N"))
    t = g("exp", x)
    symmetric = g("add", t, g("transpose", t))  # writing t in place would change t.T
    graph = g.graph(symmetric)
    assert plan_buffers(graph.equations, set(), graph.outputs, graph.hints).reusable == {}


def test_a_single_operand_einsum_is_a_view_of_its_operand() -> None:
    g = GraphMaker()
    x = g.input("x", ("N", "N"))
    t = g("exp", x)
    transposed = g("einsum", t, subscripts="ij->ji")  # NumPy returns a view of t
    doubled = g("mul", t, 2.0)
    total = g("add", g("sum", doubled), g("sum", transposed))
    graph = g.graph(total)
    assert (
        graph.equations[2]
        not in plan_buffers(graph.equations, set(), graph.outputs, graph.hints).reusable
    )


def test_a_buffer_must_have_the_results_shape_and_hold_floats() -> None:
    g = GraphMaker()
    x = g.input("x", ("N",))
    y = g.input("y", ("M", "N"))
    labels = g.input("labels", ("M", "N"))
    row = g("exp", x)
    wide = g("mul", row, y)  # (M, N): the (N,) row cannot hold it
    mask = g("greater", labels, 0.0)
    masked = g("mul", mask, wide)
    graph = g.graph(masked)
    plan = plan_buffers(graph.equations, set(), graph.outputs, graph.hints)
    assert row not in {v for buffers in plan.reusable.values() for v in buffers}
    assert plan.reusable.get(graph.equations[-1]) == (wide,)  # not the boolean mask


def test_an_inlined_matmul_becomes_the_buffer_of_its_sum() -> None:
    g = GraphMaker()
    x = g.input("x", ("N", "D"))
    w = g.input("w", ("D", "H"))
    b = g.input("b", ("H",))
    product = g("matmul", x, w)
    hidden = g("tanh", g("add", product, b), name="hidden")
    graph = g.graph(hidden)
    inline = {product, graph.equations[1].out}
    plan = plan_buffers(graph.equations, inline, graph.outputs, graph.hints)
    assert plan.materialize == {product}
    assert plan.reusable == {graph.equations[2]: (product,)}


# -- the memory check: every write of the lowered program, checked on the IR


def _lowered_with_plan(graph, reusable: dict, renamed=frozenset()) -> list[str]:
    """The statements of `graph` printed with a planted buffer plan (writes checked)."""
    plan = BufferPlan(reusable, frozenset(renamed), frozenset(), {})
    names = assign_names(graph)
    keep = graph.outputs
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(statements_module, "plan_buffers", lambda *args: plan)
        lines = statements(graph.equations, names, set(), NumPyCodePrinter(), keep, graph.hints)
    return [line for _, block in lines for line in block]


def _tanh_then_product():
    """t = exp(x); h = tanh(t); return h * t: t is read after h's statement."""
    g = GraphMaker()
    x = g.input("x")
    t = g("exp", x)
    h = g("tanh", t)
    out = g("mul", h, t)
    return g.graph(out), x, t, h, out


def test_the_memory_check_passes_the_plans_own_writes() -> None:
    graph, *_ = _tanh_then_product()
    plan = plan_buffers(graph.equations, set(), graph.outputs, graph.hints)
    lines = _lowered_with_plan(graph, plan.reusable, plan.renamed)
    assert graph.equations[-1] in plan.reusable  # the product takes tanh's dead result
    assert any("*=" in line or "out=" in line for line in lines), lines


@pytest.mark.parametrize(
    "planted, problem",
    [
        ("read later", "read by a later statement"),
        ("argument", "an argument"),
        ("returned", "returned or saved"),
    ],
)
def test_the_memory_check_refuses_a_write_into_a_live_array(planted: str, problem: str) -> None:
    """A planted plan that lets tanh overwrite t (which the product reads next), exp
    overwrite the caller's x, or tanh overwrite t when t is returned: lowering follows
    the plan, and the check refuses it."""
    graph, x, t, h, out = _tanh_then_product()
    producers = {eq.out: eq for eq in graph.equations}
    statement, buffer = (producers[t], x) if planted == "argument" else (producers[h], t)
    if planted == "returned":  # h and t are the results: no product after them
        graph = dataclasses.replace(graph, equations=graph.equations[:2], outputs=(h, t))
    with pytest.raises(IRError, match=problem):
        _lowered_with_plan(graph, {statement: (buffer,)}, renamed={buffer})


def test_the_memory_check_refuses_a_write_through_a_view() -> None:
    """tanh may not be computed in x.T's memory: a transpose shares exp(x)'s array."""
    g = GraphMaker()
    x = g.input("x", ("N", "N"))
    view = g("transpose", g("exp", x))
    h = g("tanh", view)
    graph = g.graph(h)
    with pytest.raises(IRError, match="may share another array's memory"):
        _lowered_with_plan(graph, {graph.equations[-1]: (view,)}, renamed={view})


def test_a_buffer_whose_reader_has_no_in_place_form_keeps_its_name(tmp_path) -> None:
    """erf has no ufunc to write with out=: `h = x @ w1; h = _erf(h)` would read h while it
    holds the matmul, so the buffer keeps its own name; and the check refuses that code."""

    @gg.function(wrt="w1")
    def net(w1: Array["D", "H"], x: Array["N", "D"]):
        h = gg.erf(x @ w1)
        return gg.sum(h * h)

    module = compile_to_module([net], tmp_path)
    source = open(module.__file__).read()
    assert "h = _erf(t0)" in source and "h = _erf(h)" not in source
    rng = np.random.default_rng(0)
    w1, x = rng.normal(size=(3, 4)), rng.normal(size=(5, 3))
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(module.net(w1, x), np.sum(erf(x @ w1) ** 2), rtol=1e-14)

    g = GraphMaker()
    x, w = g.input("x", ("N", "N")), g.input("w", ("N", "N"))
    product = g("matmul", x, w)
    h = g("erf", product, name="h")
    graph = g.graph(h)
    names = {x: "x", w: "w", product: "h", h: "h"}  # the matmul renamed into h
    program = LoweredProgram(
        [Lowered(eq, Code("...", True)) for eq in graph.equations], names, frozenset()
    )
    with pytest.raises(IRError, match="h is read while it holds another value"):
        check_writes(program, graph.equations, [h])


def test_a_slices_gradient_is_computed_in_its_region_of_the_result(tmp_path) -> None:
    """The gradient of x[:-1] is computed in d_x[:-1] itself (no copy, no array of its
    own); float32 stays float32 (in the backward too, given a Python float cotangent), and
    the gradient is autograd's."""

    @gg.function(wrt="x", emit=("grad",))
    def chain(x: Array["N"]):
        return gg.sum(x[:-1] * gg.exp(x[1:]) + x[:-1] ** 2 * x[1:])

    module = compile_to_module([chain], tmp_path)
    source = open(module.__file__).read()
    assert re.search(r"^ *d_t\d+ = d_x\[1?:(-1)?\]$", source, re.M)  # a region, named
    assert not re.search(r"d_x\[.*\] = ", source)  # nothing copied into it
    x = np.random.default_rng(0).normal(size=7)
    expected = grad(lambda x: anp.sum(x[:-1] * anp.exp(x[1:]) + x[:-1] ** 2 * x[1:]))(x)
    np.testing.assert_allclose(module.chain_grad(x), expected, rtol=1e-13)
    np.testing.assert_allclose(module.chain_value_and_grad(x)[1], expected, rtol=1e-13)
    single = x.astype(np.float32)
    _, saved = module.chain_forward(single)
    for gradient in (module.chain_grad(single), module.chain_backward(saved, 1.0)):
        assert gradient.dtype == np.float32  # a Python float cotangent does not promote
        np.testing.assert_allclose(gradient, expected, rtol=1e-5)


def test_only_a_temporary_read_once_by_a_scatter_is_computed_in_its_region() -> None:
    """A temporary the scatter alone reads, once: computed in its region. A value the user
    named keeps its whole value under its name; one the scatter reads twice is needed
    after its region is written."""
    head = ((("slice", None, -1, None),),)
    g = GraphMaker()
    x = g.input("x", (4,))
    temporary, named, twice = g("exp", x), g("sin", x, name="mine"), g("cos", x)
    scatters = [
        g("scatter", temporary, index=head[0], shape=(5,)),
        g("scatter", named, index=head[0], shape=(5,)),
        g(
            "scatter_sum",
            twice,
            twice,
            indices=(head[0], ((("slice", 1, None, None),))),
            shape=(5,),
        ),
    ]
    graph = g.graph(*scatters)
    plan = plan_buffers(graph.equations, set(), graph.outputs, graph.hints)
    producers = {eq.out: eq for eq in graph.equations}
    assert plan.destinations == {temporary: producers[scatters[0]]}


# -- in-place statements, as text

a, b, c, row = (sympy.Symbol(name, real=True) for name in ("a", "b", "c", "row"))
SHAPES = {a: ("N", "D"), b: ("N", "D"), c: ("N", "D"), row: ("D",)}
s = ScalarSymbol("s", real=True)


def _in_place(
    expr: sympy.Expr, target: str = "out", buffer: str | None = None, spares: tuple[str, ...] = ()
) -> str | None:
    """The in-place statements, one per line (None when there are none); `buffer` names a
    dead buffer the expression reads (`target` itself when renamed to it)."""
    buffers = () if buffer is None else (buffer,)
    lines = in_place_text(expr, target, buffers, spares)
    return None if lines is None else "\n".join(lines)


def in_place_text(
    expr: sympy.Expr,
    target: str,
    buffers: tuple[str, ...],
    spares: tuple[str, ...] = (),
    named: frozenset[str] = frozenset(),
) -> list[str] | None:
    """The steps `best_in_place` chooses for `expr` of shape (N, D), as printed lines."""
    printer = NumPyCodePrinter()
    lowered = best_in_place(
        expr,
        target,
        ("N", "D"),
        buffers,
        spares,
        SHAPES,
        printer.ufunc_form,
        printer.is_atom,
        named=named,
    )
    return None if lowered is None else printer.in_place_lines(lowered, "f")


def _unevaluated(text: str) -> sympy.Expr:
    names = {"a": a, "b": b, "c": c, "row": row, "s": s}
    with sympy.evaluate(False):
        return sympy.sympify(text, locals=names, evaluate=False)


def test_tanh_derivative_is_computed_in_the_dead_buffer() -> None:
    text = _in_place(_unevaluated("b*(1 - a**2)"), "a", "a")
    assert text == (
        "# a = f, in place:\n" "np.square(a, out=a)\n" "np.subtract(1.0, a, out=a)\n" "a *= b"
    )


def test_relu_and_abs_are_computed_in_place_too() -> None:
    """np.maximum and np.abs have a bool loop besides their float one; float operands
    select the float one, so they write into a float buffer like any ufunc (a comparison,
    whose float loop makes masks, never does)."""
    assert _in_place(Relu(a), "a", "a") == "np.maximum(a, 0.0, out=a)"
    assert _in_place(MAXIMUM(a, b), "a", "a") == "np.maximum(a, b, out=a)"
    assert _in_place(sympy.Abs(a - 1.0), "a", "a") == "a -= 1.0\nnp.abs(a, out=a)"
    assert _in_place(sympy.Heaviside(a - 1.0, 0), "a", "a") is None  # a mask: `a > 1.0`


def test_a_buffer_read_before_is_taken_by_the_first_step() -> None:
    """No `out = a` alias: the first step writes into a and binds the result's name."""
    text = _in_place(_unevaluated("b*(1 - a**2)"), "out", "a")
    assert text == (
        "# out = f, in place:\n"
        "out = np.square(a, out=a)\n"
        "np.subtract(1.0, out, out=out)\n"
        "out *= b"
    )
    assert _in_place(_unevaluated("b - 2*a"), "out", "a") == (
        "out = np.multiply(a, 2.0, out=a)\nnp.subtract(b, out, out=out)"
    )


def test_a_named_buffer_is_taken_only_for_a_chain_of_steps() -> None:
    """`b*(1 - a**2)` in a's memory saves a whole array: taken. `a + b` saves one
    allocation and would hide the user's `+`: not taken."""
    a_named = frozenset({"a"})
    lines = in_place_text(_unevaluated("b*(1 - a**2)"), "out", ("a",), named=a_named)
    assert lines is not None and lines[1] == "out = np.square(a, out=a)"
    single = in_place_text(_unevaluated("a + b*c"), "out", ("a",), named=a_named)
    assert single is None or all("out=a" not in line for line in single)


def test_without_a_buffer_the_largest_part_is_computed_fresh_and_the_rest_in_place() -> None:
    text = _in_place(_unevaluated("a*b*cos(c)"), "d_x")
    assert text == "d_x = np.cos(c)\nd_x *= a\nd_x *= b"


def test_a_negated_name_under_a_function_starts_a_fresh_array() -> None:
    text = _in_place(_unevaluated("b*exp(-a)"), "d_x")
    assert text == "d_x = -a\nnp.exp(d_x, out=d_x)\nd_x *= b"


def test_a_spare_buffer_holds_a_sub_expression_under_its_own_name() -> None:
    text = _in_place(_unevaluated("a*c + b*cos(c)"), "a", "a", spares=("b",))
    assert text == "# a = f, in place:\na *= c\nb *= np.cos(c)\na += b"


def test_smaller_operands_are_combined_before_touching_the_buffer() -> None:
    text = _in_place(_unevaluated("a*row*s + row + 2.0"), "a", "a")
    assert text == "a *= s*row\na += row + 2.0"


def test_a_sign_is_left_to_the_subtraction_it_belongs_to() -> None:
    text = _in_place(_unevaluated("b - 2*a"), "a", "a")
    assert text == "a *= 2.0\nnp.subtract(b, a, out=a)"


@pytest.mark.parametrize(
    ("expr", "buffer"),
    [
        ("a + b", None),  # one operation: nothing to gain
        ("Piecewise((a, b > 0), (c, True))", "a"),  # np.where has no out=
        ("a*(1 - a**2)", "a"),  # a buffer read twice is not written
    ],
)
def test_no_in_place_form(expr: str, buffer: str | None) -> None:
    assert _in_place(_unevaluated(expr), buffer or "out", buffer) is None


def test_without_a_buffer_a_name_read_twice_starts_a_fresh_array() -> None:
    text = _in_place(_unevaluated("a*(1 - a**2)"))
    assert text == "out = a**2\nnp.subtract(1.0, out, out=out)\nout *= a"


def test_steps_that_would_change_the_memorys_shape_or_kind_are_refused() -> None:
    """verify_steps, which every lowering passes: a row target cannot take a matrix
    operand, a fresh start must have the target's shape, and a comparison is no step."""
    good = InPlace("row", None, [Step("multiply", (row, s), "row")])
    assert verify_steps(good, ("D",), SHAPES) is good
    wider = InPlace("row", None, [Step("add", (row, a), "row")])
    smaller_start = InPlace("out", row, [Step("add", (sympy.Symbol("out", real=True), a), "out")])
    mask = InPlace("a", None, [Step("greater", (a, b), "a")])
    for bad, shape in ((wider, ("D",)), (smaller_start, ("N", "D")), (mask, ("N", "D"))):
        with pytest.raises(IRError):
            verify_steps(bad, shape, SHAPES)


# -- in-place statements, run


def _tree(draw: st.DrawFn, depth: int) -> sympy.Expr:
    leaves = [a, b, c, row, s, sympy.Float(0.5), sympy.Integer(2)]
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(leaves))
    kinds = ["add", "sub", "mul", "div", "neg_div", "scale", "neg", "square", "tanh", "exp"]
    kinds.append("mask")
    kind = draw(st.sampled_from(kinds))
    x = _tree(draw, depth - 1)
    with sympy.evaluate(False):
        if kind in ("add", "sub", "mul", "div", "neg_div"):
            y = _tree(draw, depth - 1)
            return {
                "add": lambda: sympy.Add(x, y),
                "sub": lambda: sympy.Add(x, sympy.Mul(-1, y)),
                "mul": lambda: sympy.Mul(x, y),
                "div": lambda: sympy.Mul(x, sympy.Pow(sympy.exp(y), -1)),  # never 1/0
                "neg_div": lambda: sympy.Mul(-1, s, x, sympy.Pow(1 + sympy.exp(y), -1)),
            }[kind]()
        return {
            "neg": lambda: sympy.Mul(-1, x),
            "scale": lambda: sympy.Mul(sympy.Float(-0.5), x, s),
            "mask": lambda: sympy.Mul(sympy.Pow(sympy.Heaviside(x - 1, 0), 2), b),  # int8*b
            "square": lambda: sympy.Pow(x, 2),
            "tanh": lambda: sympy.tanh(x),
            "exp": lambda: sympy.exp(sympy.tanh(x)),  # bounded: no overflow
        }[kind]()


@st.composite
def expressions(draw: st.DrawFn) -> sympy.Expr:
    return _tree(draw, 4)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(
    expressions(),
    st.sampled_from(
        [
            ("out", None, ()),
            ("a", "a", ()),
            ("out", "a", ()),
            ("a", "a", ("b",)),
            ("out", None, ("b",)),
        ]
    ),
)
def test_in_place_statements_compute_the_expression_in_the_buffer(expr, buffers) -> None:
    """The target is `a` itself (the dead buffer, renamed) or `out`, fresh or taking `a`'s
    memory in its first step; `b` a spare."""
    target, buffer, spares = buffers
    rng = np.random.default_rng(0)
    arrays = {name: rng.uniform(0.5, 1.5, size=(4, 3)) for name in ("a", "b", "c")}
    arrays["row"] = rng.uniform(0.5, 1.5, size=3)
    text = _in_place(expr, target, buffer, spares)
    if text is None:
        return
    printer = NumPyCodePrinter()
    expected = np.broadcast_to(
        eval(printer.doprint(expr), {"np": np, "s": 0.7, **arrays}), (4, 3)  # noqa: S307
    )
    namespace = {"np": np, "s": 0.7, **{k: v.copy() for k, v in arrays.items()}}
    objects = dict(namespace)
    exec(text, namespace)  # noqa: S102
    result = namespace[target]
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12, err_msg=text)
    if buffer == target or f"out={buffer})" in text:  # the result is the buffer's own array
        assert result is objects[buffer], text
    for name, array in arrays.items():
        assert namespace[name] is objects[name] or name == target, text  # no name rebound
        if name not in (buffer, *spares):  # dead buffers may be written; nothing else
            np.testing.assert_array_equal(namespace[name], array, err_msg=text)
