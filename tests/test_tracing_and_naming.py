"""Tracing (names, unrolled loops, eager calls, NumPy interop) and the names and memory
behaviour of the generated functions."""

from __future__ import annotations

import numpy as np
import pytest
from support import compile_to_module

import gradgen as gg
from gradgen import Array, IntArray
from gradgen.codegen.module import emit_module
from gradgen.compiler import compile_function


def _text(*functions: gg.Function) -> str:
    return emit_module([compile_function(f).source() for f in functions], "test", "0")


def test_user_names_are_kept_and_loops_unroll_with_numbered_names(tmp_path) -> None:
    @gg.function(wrt="W")
    def deep(W: Array["D", "D"], x: Array["N", "D"]):
        h = x
        for _ in range(3):
            h = gg.tanh(h @ W)
        return gg.sum(h)

    text = _text(deep)
    for name in ("h = x @ W", "np.tanh(h_1, out=h_1)", "h_2 = h_1 @ W", "d_h_1", "d_W"):
        assert name in text, name
    module = compile_to_module([deep], tmp_path)
    rng = np.random.default_rng(0)
    W, x = rng.normal(size=(3, 3)), rng.normal(size=(4, 3))
    h = x
    for _ in range(3):
        h = np.tanh(h @ W)
    assert module.deep(W, x) == pytest.approx(h.sum(), rel=1e-14)


def test_temporaries_never_take_a_user_name() -> None:
    @gg.function(wrt="x")
    def f(x: Array["N"]):
        t0 = gg.exp(x)
        t1 = gg.sin(t0) * gg.cos(x)
        return gg.sum(t1 * t1)

    text = _text(f)
    compile(text, "generated", "exec")
    bindings = {line.strip() for line in text.splitlines() if line.strip().startswith("t0 =")}
    assert bindings == {"t0 = np.exp(x)", "t0 = exp(x)"}  # code, and the docstring formula


def test_temporaries_are_named_after_what_they_hold(tmp_path) -> None:
    """A stable softmax's pieces: the shift, the exponentials and their sum, by name."""

    @gg.function(wrt="w")
    def f(w: Array["D", "C"], x: Array["N", "D"]):
        logits = x @ w
        return gg.sum(gg.log_softmax(logits, axis=1) * x[:, :1])

    text = _text(f)
    for binding in ("logits_max = logits.max(", "exp_logits = ", "exp_logits_sum = exp_logits"):
        assert binding in text, binding
    module = compile_to_module([f], tmp_path)
    rng = np.random.default_rng(2)
    w, x = rng.normal(size=(3, 4)), rng.normal(size=(5, 3))
    logits = x @ w
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    assert module.f(w, x) == pytest.approx((log_softmax * x[:, :1]).sum(), rel=1e-12)


def test_a_product_gives_no_name_and_a_named_temporary_keeps_its_value() -> None:
    """exp(sin(x) * y) is not `exp_sin_x`; and `cos_y`, once named, never holds another
    value while it is read: no spare writes a sub-expression into it (only a bare `t<k>`
    may hold one), and a step that takes its memory is its last use."""

    @gg.function(wrt=("x", "y"))
    def f(x: Array["N"], y: Array["N"]):
        return gg.sum(gg.log1p(gg.exp(gg.sin(x) * y)) * gg.cos(y))

    text = _text(f)
    assert "sin_x = np.sin(x)" in text and "cos_y = np.cos(y)" in text
    assert "exp_sin" not in text
    assert "cos_y *=" not in text
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if "out=cos_y)" in line:
            rest = next((i for i in range(k + 1, len(lines)) if lines[i].startswith("def ")), None)
            assert all("cos_y" not in later for later in lines[k + 1 : rest]), line


def test_a_gradient_passed_on_unchanged_takes_the_users_name() -> None:
    """d(y - 1) is d(y): the one array is the gradient of both, and `y` is the user's."""

    @gg.function(wrt="w")
    def f(w: Array["N"]):
        y = gg.exp(w)
        return gg.sum((y - 1.0) ** 2)

    text = _text(f)
    assert "d_y = " in text
    assert "d_t" not in text


def test_static_python_control_flow_on_shapes(tmp_path) -> None:
    @gg.function(wrt="w")
    def f(w: Array[3], x: Array["N", 3]):
        if x.shape[1] == 3:
            w = w * 2.0
        return gg.sum(x @ w)

    module = compile_to_module([f], tmp_path)
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(module.f_grad(np.ones(3), x), 2.0 * x.sum(axis=0))


def test_eager_call_runs_numpy() -> None:
    @gg.function(wrt=("w", "b"))
    def loss(w: Array["D"], b: Array[()], x: Array["N", "D"], y: Array["N"]):
        return gg.mean((y - gg.tanh(x @ w + b)) ** 2)

    rng = np.random.default_rng(1)
    w, x, y = rng.normal(size=3), rng.normal(size=(5, 3)), rng.normal(size=5)
    expected = np.mean((y - np.tanh(x @ w + 0.5)) ** 2)
    assert loss(w, 0.5, x, y) == pytest.approx(expected, rel=1e-15)


def test_numpy_functions_on_traced_values_mean_the_gradgen_op(tmp_path) -> None:
    @gg.function(wrt="x")
    def f(x: Array["N"]):
        return np.sum(np.exp(x) * np.sin(x))

    module = compile_to_module([f], tmp_path)
    x = np.linspace(-1, 1, 4)
    np.testing.assert_allclose(
        module.f_grad(x), np.exp(x) * np.sin(x) + np.exp(x) * np.cos(x), rtol=1e-14
    )


def test_single_name_wrt_returns_one_array_and_float_annotation(tmp_path) -> None:
    @gg.function(wrt="a")
    def f(a: float, b: float):
        return a * a * b

    module = compile_to_module([f], tmp_path)
    assert module.f_grad(3.0, 2.0) == 12.0
    value, grads = module.f_value_and_grad(3.0, 2.0)
    assert (value, grads) == (18.0, 12.0)


@pytest.mark.parametrize("kind", [float, np.float64, np.asarray])
def test_scalars_may_be_floats_numpy_scalars_or_0d_arrays(kind, tmp_path) -> None:
    @gg.function(wrt=("a", "b"))
    def f(a: Array[()], b: Array[()], x: Array["N"]):
        return gg.sum(gg.exp(a * x) + b)

    module = compile_to_module([f], tmp_path)
    x = np.array([0.5, -1.0])
    d_a, d_b = module.f_grad(kind(0.3), kind(2.0), x)
    assert np.shape(d_a) == () and np.shape(d_b) == ()
    assert float(d_a) == pytest.approx(np.sum(x * np.exp(0.3 * x)), rel=1e-14)
    assert float(d_b) == 2.0


def test_gradients_never_alias_arguments_or_each_other(tmp_path) -> None:
    @gg.function(wrt=("x", "y"))
    def f(x: Array["N"], y: Array["N"]):
        return x + y

    module = compile_to_module([f], tmp_path)
    x, y, head = np.ones(3), np.ones(3), np.array([1.0, 2.0, 3.0])
    _, saved = module.f_forward(x, y)
    d_x, d_y = module.f_backward(saved, head)
    assert not np.shares_memory(d_x, head) and not np.shares_memory(d_x, d_y)
    d_x += 1.0  # writable
    np.testing.assert_array_equal(d_y, head)


def test_gradient_of_a_reduction_is_a_writable_array(tmp_path) -> None:
    @gg.function(wrt="x")
    def f(x: Array["N", "D"]):
        return gg.sum(x)

    module = compile_to_module([f], tmp_path)
    grad = module.f_grad(np.zeros((2, 3)))
    grad += 1.0
    np.testing.assert_array_equal(grad, np.full((2, 3), 2.0))


def test_generated_code_never_writes_into_its_arguments(tmp_path) -> None:
    @gg.function(wrt=("w", "b"))
    def loss(w: Array["D"], b: Array[()], x: Array["N", "D"], labels: IntArray["N"]):
        h = gg.relu(x @ w + b)
        return gg.mean(gg.sigmoid(h) * labels)

    module = compile_to_module([loss], tmp_path)
    rng = np.random.default_rng(3)
    args = [rng.normal(size=3), 0.1, rng.normal(size=(6, 3)), rng.integers(0, 2, size=6)]
    copies = [np.copy(a) for a in args]
    module.loss_value_and_grad(*args)
    module.loss_grad(*args)
    for original, copy in zip(args, copies, strict=True):
        np.testing.assert_array_equal(original, copy)


def test_a_value_made_by_a_transposing_einsum_is_not_the_arguments_memory(tmp_path) -> None:
    @gg.function(wrt="x")
    def f(x: Array["N", "N"]):
        return gg.einsum("ij->ji", x)  # np.einsum answers with a view of x

    module = compile_to_module([f], tmp_path)
    x = np.arange(4.0).reshape(2, 2)
    value = module.f(x)
    assert not np.shares_memory(value, x)
    np.testing.assert_array_equal(value, x.T)


def test_integer_data_gets_no_gradient_code() -> None:
    @gg.function(wrt="w")
    def loss(w: Array["D"], x: Array["N", "D"], labels: IntArray["N"]):
        return gg.mean((x @ w - labels) ** 2)

    text = _text(loss)
    assert "d_labels" not in text and "d_x" not in text


def test_an_argument_called_value_keeps_d_value_for_the_cotangent(tmp_path) -> None:
    @gg.function(wrt=("value", "saved"))
    def f(value: Array["N"], saved: Array["N"]):  # names the generated code also uses
        return gg.sum(value + saved * 2.0)

    module = compile_to_module([f], tmp_path)
    d_value, d_saved = module.f_grad(np.ones(2), np.ones(2))
    np.testing.assert_array_equal(d_value, [1.0, 1.0])
    np.testing.assert_array_equal(d_saved, [2.0, 2.0])
    assert "def f(value, saved):" in _text(f)


def test_two_functions_may_not_generate_the_same_name(tmp_path) -> None:
    model = tmp_path / "clash.py"
    model.write_text(
        "import gradgen as gg\n"
        "@gg.function\n"
        "def loss(x: float):\n"
        "    return x * x\n"
        "@gg.function\n"
        "def loss_grad(x: float):\n"
        "    return x * x\n"
    )
    with pytest.raises(gg.GradgenError, match="loss_grad would be made for both"):
        gg.compile_source(model)


def test_backward_comments_quote_whole_statements(tmp_path) -> None:
    model = tmp_path / "multiline.py"
    model.write_text(
        "import gradgen as gg\n"
        "from gradgen import Array\n"
        "@gg.function(wrt='w')\n"
        "def loss(w: Array['D'], x: Array['N', 'D']):\n"
        "    h = gg.tanh(\n"
        "        x @ w\n"
        "    )\n"
        "    for _ in range(2):\n"
        "        h = h * h\n"
        "    return gg.sum(h)\n"
    )
    text = gg.compile_source(model)
    assert "    # h = gg.tanh( x @ w )\n" in text
    assert "    # h = h * h\n" in text


def test_array_methods_mean_the_gradgen_functions(tmp_path) -> None:
    @gg.function(wrt="x")
    def f(x: Array[3, 3]):
        return (
            x.max(axis=0).sum()
            + x.min()
            + x.prod(axis=1).mean()
            + x.var()
            + x.std(axis=1).sum()
            + x.clip(-0.5, 0.5).sum()
            + x[:1].squeeze(0).dot(x[0])
            + x.trace()
        )

    module = compile_to_module([f], tmp_path)
    x = np.random.default_rng(2).normal(size=(3, 3))
    expected = (
        x.max(axis=0).sum()
        + x.min()
        + x.prod(axis=1).mean()
        + x.var()
        + x.std(axis=1).sum()
        + x.clip(-0.5, 0.5).sum()
        + x[0].dot(x[0])
        + x.trace()
    )
    assert module.f(x) == pytest.approx(expected, rel=1e-13)
    assert f(x) == pytest.approx(expected, rel=1e-13)  # the same methods on NumPy arrays


def test_gradients_that_are_views_are_copied(tmp_path) -> None:
    """A gradient that would be a view of d_value (through slicing and transposes) or the
    same scalar array as another gradient is copied."""

    @gg.function(wrt=("a", "b"))
    def views(a: Array[2, 3], b: Array[2, 3]):
        return gg.concatenate([a.T, b.T])

    @gg.function(wrt=("a", "b"))
    def scalars(a: Array[()], b: Array[()]):
        return a + b

    module = compile_to_module([views, scalars], tmp_path)
    _, saved = module.views_forward(np.ones((2, 3)), np.ones((2, 3)))
    head = np.arange(12.0).reshape(6, 2)
    d_a, d_b = module.views_backward(saved, head)
    assert not np.shares_memory(d_a, head) and not np.shares_memory(d_b, head)
    np.testing.assert_array_equal(d_a, head[:3].T)
    d_a, d_b = module.scalars_grad(1.0, 2.0)
    d_a += 5.0
    assert d_b == 1.0
