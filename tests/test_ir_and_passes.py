"""The IR's printed form, `verify`, and each pass on small graphs (before/after text)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sympy
from support import REPO, GraphMaker

from gradgen.aliasing import own_outputs
from gradgen.compiler import compile_function, load_functions
from gradgen.derivative_graphs import value_and_grad_graph
from gradgen.passes import (
    cse,
    dce,
    fold_broadcasts,
    fuse_elementwise,
    merge_scatters,
    simplify_views,
)
from gradgen.passes.pipeline import optimize
from gradgen.reverse import reverse_mode
from gradgen.verify import IRError, verify

GOLDEN = REPO / "tests" / "golden"


EXAMPLES = sorted((REPO / "examples").glob("*.py"))
MODELS = [m for m in EXAMPLES if load_functions(m)]


def example_ir(model: Path) -> str:
    """Every graph of every function of an example (verified after every pass), as text."""
    return "\n".join(compile_function(f, check=verify).ir_text() for f in load_functions(model))


@pytest.mark.parametrize("model", MODELS, ids=[m.stem for m in MODELS])
def test_example_ir_matches_golden(model: Path) -> None:
    """The traced, the optimized joint and every derived graph of each example, pinned as
    text. Set GRADGEN_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change
    (then read their diff: it is the change in what the compiler does)."""
    text = example_ir(model)
    golden = GOLDEN / f"{model.stem}.ir"
    if os.environ.get("GRADGEN_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert golden.exists(), f"no golden IR for {model.name}: run with GRADGEN_UPDATE_GOLDEN=1"
    assert text == golden.read_text(), f"the IR of {model.name} changed (see the docstring)"


def test_every_golden_file_has_its_example() -> None:
    assert {p.stem for p in GOLDEN.glob("*.ir")} == {m.stem for m in MODELS}


@pytest.mark.parametrize("hash_seed", ["1", "2"])
def test_compiling_is_deterministic_across_hash_seeds(hash_seed: str) -> None:
    """A compile in a fresh process under another PYTHONHASHSEED (set iteration order
    changes) writes the same IR and the same module as the committed golden files."""
    models = [REPO / "examples" / "gaussian_mixture.py", REPO / "examples" / "attention.py"]
    script = (
        "import sys, pathlib\n"
        f"sys.path.insert(0, {str(REPO / 'tests')!r})\n"
        "from test_ir_and_passes import example_ir\n"
        "import gradgen\n"
        "for m in sys.argv[1:]:\n"
        "    sys.stdout.write(example_ir(pathlib.Path(m)))\n"
        "    relative = pathlib.Path(m).relative_to(pathlib.Path.cwd())\n"
        "    sys.stdout.write(gradgen.compile_source(relative))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    result = subprocess.run(
        [sys.executable, "-c", script, *map(str, models)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
    )
    expected = "".join(
        (GOLDEN / f"{m.stem}.ir").read_text()
        + (REPO / "generated" / f"{m.stem}_grad.py").read_text()
        for m in models
    )
    assert result.stdout == expected


def test_verify_rejects_use_before_definition() -> None:
    g = GraphMaker()
    x = g.input("x")
    y = g("exp", x)
    z = g("log", y)
    graph = g.graph(z)
    swapped = graph.replace(equations=tuple(reversed(graph.equations)))
    with pytest.raises(IRError, match="before it is bound"):
        verify(swapped)


def test_verify_rejects_a_wrong_shape() -> None:
    g = GraphMaker()
    x = g.input("x", ("N",))
    w = g.input("w", ("D",))
    y = g("add", x, x)
    graph = g.graph(y)
    from dataclasses import replace

    bad = replace(graph.equations[0], inputs=(x, w))
    with pytest.raises((IRError, ValueError)):
        verify(graph.replace(equations=(bad,)))


def test_dce_drops_unused_equations() -> None:
    g = GraphMaker()
    x = g.input("x")
    g("sin", x, name="unused")
    y = g("exp", x, name="y")
    after = dce.run(g.graph(y))
    assert str(after) == "{ lambda x:f[N] .\n    y:f[N] = exp x\n  in (y) }"


def test_cse_merges_repeated_equations() -> None:
    g = GraphMaker()
    x = g.input("x")
    a = g("exp", x, name="a")
    b = g("exp", x, name="b")
    c = g("add", a, b, name="c")
    after = verify(dce.run(cse.run(g.graph(c))))
    assert str(after) == "{ lambda x:f[N] .\n    a:f[N] = exp x\n    c:f[N] = add a a\n  in (c) }"


def test_fold_broadcasts_into_elementwise_consumers() -> None:
    g = GraphMaker()
    x = g.input("x", ("N", "D"))
    s = g.input("s", ())
    wide = g("broadcast_to", s, shape=("N", "D"))
    y = g("mul", wide, x, name="y")
    after = verify(dce.run(fold_broadcasts.run(g.graph(y))))
    assert str(after) == "{ lambda x:f[N,D] s:f[] .\n    y:f[N,D] = mul s x\n  in (y) }"


def test_fold_keeps_a_broadcast_that_sets_the_shape() -> None:
    g = GraphMaker()
    s = g.input("s", ())
    t = g.input("t", ())
    wide = g("broadcast_to", s, shape=("N",))
    y = g("mul", wide, t, name="y")
    graph = g.graph(y)
    assert str(fold_broadcasts.run(graph)) == str(graph)


def test_fuse_merges_derivative_chains_but_not_user_code() -> None:
    g = GraphMaker()
    x = g.input("x")
    a = g("sin", x)  # forward temporaries: the user's code is never fused
    y = g("exp", a, name="y")
    g.derivative_steps()
    t = g("mul", y, 2.0)
    d = g("neg", t)
    after = verify(dce.run(fuse_elementwise.run(g.graph(y, d))))
    assert str(after) == (
        "{ lambda x:f[N] .\n"
        "    sin_x:f[N] = sin x\n"
        "    y:f[N] = exp sin_x\n"
        "    t0:f[N] = ew[expr=-2.0*a0] y\n"
        "  in (y, t0) }"
    )


def test_fuse_keeps_named_gradients() -> None:
    g = GraphMaker()
    x = g.input("x")
    y = g("exp", x, name="y")
    g.derivative_steps()
    d_y = g("mul", y, 3.0, name="d_y")  # a user-visible name: kept as its own statement
    out = g("neg", d_y)
    graph = g.graph(y, out)
    assert str(fuse_elementwise.run(graph)) == str(graph)


def test_pipeline_reaches_a_fixed_point_and_keeps_the_graph_valid() -> None:
    (function,) = load_functions(REPO / "examples" / "logistic_regression.py")
    compiled = compile_function(function, check=verify)
    assert str(optimize(compiled.joint, verify)) == str(compiled.joint)


def test_reverse_mode_builds_nothing_for_data_inputs() -> None:
    (function,) = load_functions(REPO / "examples" / "linear_regression.py")
    compiled = compile_function(function)
    joint = optimize(reverse_mode(compiled.forward, [0]))  # only w
    printed = str(joint)
    assert "outer" not in printed  # the gradient of x is never built after DCE
    assert "d_b" not in printed and joint.outputs[1:] and len(joint.outputs) == 2


FULL = ("slice", None, None, None)
HEAD = (("slice", None, -1, None),)  # x[:-1]
TAIL = (("slice", 1, None, None),)  # x[1:]


def test_merge_scatters_sums_parts_at_one_slice_and_adds_the_others() -> None:
    g = GraphMaker()
    a = g.input("a", ("N - 1",))
    b = g.input("b", ("N - 1",))
    c = g.input("c", ("N - 1",))
    parts = [
        g("scatter", a, index=HEAD, shape=("N",)),
        g("scatter", b, index=HEAD, shape=("N",)),
        g("scatter", c, index=TAIL, shape=("N",)),
    ]
    total = g("add", g("add", parts[0], parts[1]), parts[2], name="d_x")
    after = verify(dce.run(merge_scatters.run(merge_scatters.run(g.graph(total)))))
    assert str(after) == (
        "{ lambda a:f[N - 1] b:f[N - 1] c:f[N - 1] .\n"
        "    t0:f[N - 1] = add a b\n"
        "    d_x:f[N] = scatter_sum[indices=((('slice', None, -1, None),),"
        "(('slice', 1, None, None),)) shape=(N,)] t0 c\n"
        "  in (d_x) }"
    )


def test_merge_scatters_leaves_a_scatter_read_elsewhere() -> None:
    g = GraphMaker()
    a = g.input("a", ("N - 1",))
    first = g("scatter", a, index=HEAD, shape=("N",))
    second = g("scatter", a, index=TAIL, shape=("N",))
    total = g("add", first, second)
    graph = g.graph(total, first)  # `first` is an output too: its buffer must stay its own
    assert str(merge_scatters.run(graph)) == str(graph)


def test_simplify_views_drops_identities() -> None:
    g = GraphMaker()
    x = g.input("x", ("N", "D"))
    same = g("reshape", x, shape=("N", "D"))
    eye = g("eye", x, n="N")
    product = g("matmul", eye, same)
    y = g("mul", g("stop_gradient", product), 2.0, name="y")
    after = verify(dce.run(simplify_views.run(g.graph(y))))
    assert str(after) == "{ lambda x:f[N,D] .\n    y:f[N,D] = mul x 2.0\n  in (y) }"


def test_own_outputs_copies_aliases_of_inputs_and_of_each_other() -> None:
    g = GraphMaker()
    x = g.input("x")
    alias = g("ew", x, expr=sympy.Symbol("a0", real=True), name="d_x")  # prints as `x`
    view = g("transpose", alias)
    fresh = g("exp", x, name="e")
    graph = g.graph(alias, view, fresh, fresh)
    after = verify(own_outputs(graph, 4))
    copies = [eq for eq in after.equations if eq.op == "copy"]
    assert [eq.inputs[0] for eq in copies] == [alias, view, fresh]  # the second `fresh`
    assert after.outputs[2] is fresh and len(set(after.outputs)) == 4


def test_value_and_grad_folds_the_cotangent_one() -> None:
    g = GraphMaker()
    x = g.input("x")
    y = g("exp", x, name="y")
    value = g("sum", y)
    joint = optimize(reverse_mode(g.graph(value), [0]))  # as the compiler does
    assert "d_value" in str(joint)
    fused = verify(optimize(value_and_grad_graph(joint, [0])))
    assert str(fused) == (
        "{ lambda x:f[N] .\n"
        "    y:f[N] = exp x\n"
        "    y_sum:f[] = sum[axis=None keepdims=False] y\n"
        "    d_x:f[N] = ew[expr=a0] y\n"  # 1 * y: printed `d_x = y`, no multiply
        "  in (y_sum, d_x) }"
    )
