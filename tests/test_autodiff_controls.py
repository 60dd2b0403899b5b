"""The everyday autodiff controls: custom rules (custom_vjp, custom_jvp), auxiliary outputs
(has_aux), gradient accumulation (accumulate_into), and the errors for asking what cannot be
made (emit kinds, shapes of tangents and vectors)."""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad, hessian, jacobian, make_jvp
from support import compile_to_module, load_text

import gradgen as gg
from gradgen import Array, GradgenError
from gradgen.checking import check_function
from gradgen.codegen.module import emit_module
from gradgen.compiler import compile_function


def _detached(x):  # noqa: ANN001, ANN202
    """x's value without autograd tracking (the oracle's stop_gradient)."""
    return getattr(x, "_value", x)


# -- custom_vjp -----------------------------------------------------------------------------


@gg.custom_vjp
def safe_norm(x):  # noqa: ANN001, ANN201
    return gg.sqrt(gg.sum(x * x))


@safe_norm.defvjp
def safe_norm_vjp(grad, result, x):  # noqa: ANN001, ANN201
    return (grad * gg.where(result > 0, x / result, 0.0),)


@gg.custom_vjp
def round_ste(x):  # noqa: ANN001, ANN201
    return gg.where(x > 0.5, 1.0, 0.0)


@round_ste.defvjp
def round_ste_vjp(grad, result, x):  # noqa: ANN001, ANN201
    return (grad,)  # straight through


@gg.custom_vjp
def scaled_grad(x, factor):  # noqa: ANN001, ANN201
    return x + 0.0


@scaled_grad.defvjp
def scaled_grad_vjp(grad, result, x, factor):  # noqa: ANN001, ANN201
    return (grad * factor, None)  # a number argument arrives as a Python number


@gg.function(wrt="x", emit=("grad", "jacobian", "hessian", "hvp"))
def custom_loss(x: Array["N"], y: Array["N"]):
    n = safe_norm(x - y)
    q = round_ste(x)
    s = scaled_grad(x, 3.0)
    return n + gg.sum(q * y) + gg.sum(s * y)


def _custom_oracle(y):  # noqa: ANN001, ANN202
    def f(x):  # noqa: ANN001, ANN202
        n = anp.sqrt(anp.sum((x - y) ** 2))
        q = x + _detached(anp.where(_detached(x) > 0.5, 1.0, 0.0) - x)  # straight through
        s = 3.0 * x - _detached(2.0 * x)  # value x, gradient 3
        return n + anp.sum(q * y) + anp.sum(s * y)

    return f


def test_custom_vjp_rules_replace_the_derivative_of_the_body(tmp_path) -> None:
    module = compile_to_module([custom_loss], tmp_path)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=6), rng.normal(size=6)
    oracle = _custom_oracle(y)
    np.testing.assert_allclose(module.custom_loss(x, y), oracle(x), rtol=1e-14)
    np.testing.assert_allclose(module.custom_loss_grad(x, y), grad(oracle)(x), rtol=1e-13)
    np.testing.assert_allclose(module.custom_loss_jacobian(x, y), grad(oracle)(x), rtol=1e-13)
    # Forward over reverse differentiates the user's backward rule as written.
    v = rng.normal(size=6)
    np.testing.assert_allclose(module.custom_loss_hessian(x, y), hessian(oracle)(x), atol=1e-13)
    np.testing.assert_allclose(
        module.custom_loss_hvp(x, y, v), hessian(oracle)(x) @ v, rtol=1e-12, atol=1e-14
    )


def test_safe_norm_has_a_finite_gradient_at_zero(tmp_path) -> None:
    module = compile_to_module([custom_loss], tmp_path)
    y = np.linspace(-1.0, 1.0, 6)
    with np.errstate(all="raise"):
        d_x = module.custom_loss_grad(y.copy(), y)
    expected = y + 3.0 * y  # the norm's part is 0 at x = y; round and scale pass through
    np.testing.assert_allclose(d_x, expected, rtol=1e-15)


def test_the_rule_is_inlined_in_the_generated_code() -> None:
    source = emit_module([compile_function(custom_loss).source()], "m.py", "0")
    backward = source.split("def custom_loss_backward", 1)[1].split("\ndef ", 1)[0]
    code = [line for line in backward.split('"""')[2].splitlines() if "#" not in line]
    assert "        d_x_1 = d_value * np.where((n > 0), x_1 / n, 0.0)" in code
    assert not any("safe_norm" in line or "custom" in line for line in code)


# -- custom_jvp -----------------------------------------------------------------------------


@gg.custom_jvp
def softclip(x, limit):  # noqa: ANN001, ANN201
    return limit * gg.tanh(x / limit)


@softclip.defjvp
def softclip_jvp(dots, result, x, limit):  # noqa: ANN001, ANN201
    x_dot, _ = dots
    return x_dot * (1 - (result / limit) ** 2)


@gg.custom_jvp
def wrong_sin(x):  # noqa: ANN001, ANN201
    return gg.sin(x)


@wrong_sin.defjvp
def wrong_sin_jvp(dots, result, x):  # noqa: ANN001, ANN201
    return 2.0 * dots[0]  # deliberately not cos: proves the rule is what is used


@gg.function(wrt=("x", "w"), emit=("grad", "jvp", "hvp"))
def jvp_loss(x: Array["N"], w: Array["N"]):
    return gg.sum(softclip(x * w, 3.0) ** 2) + gg.sum(wrong_sin(w))


def _jvp_oracle(x, w):  # noqa: ANN001, ANN202
    c = 3.0 * anp.tanh(x * w / 3.0)
    return anp.sum(c**2) + anp.sum(2.0 * w - _detached(2.0 * w) + _detached(anp.sin(w)))


def test_custom_jvp_is_used_forward_and_transposed_for_reverse(tmp_path) -> None:
    module = compile_to_module([jvp_loss], tmp_path)
    rng = np.random.default_rng(1)
    x, w, t, u = (rng.normal(size=5) for _ in range(4))
    np.testing.assert_allclose(module.jvp_loss(x, w), _jvp_oracle(x, w), rtol=1e-14)
    d_x, d_w = module.jvp_loss_grad(x, w)
    np.testing.assert_allclose(d_x, grad(_jvp_oracle, 0)(x, w), rtol=1e-13)
    np.testing.assert_allclose(d_w, grad(_jvp_oracle, 1)(x, w), rtol=1e-13)
    _, value_dot = module.jvp_loss_jvp(x, w, t, u)
    expected = make_jvp(lambda a: _jvp_oracle(a[0], a[1]))(np.stack([x, w]))(np.stack([t, u]))
    np.testing.assert_allclose(value_dot, expected[1], rtol=1e-13)


# -- errors of custom rules -----------------------------------------------------------------


def test_forward_mode_refuses_a_custom_vjp_rule() -> None:
    @gg.function(wrt="x", emit=("jvp",))
    def f(x: Array["N"]):
        return safe_norm(x)

    with pytest.raises(GradgenError, match="custom_vjp rule of safe_norm"):
        compile_function(f)


@gg.function(wrt=("x", "w"), emit=("jacobian",))
def jvp_vector(x: Array["N"], w: Array["N"]):
    return softclip(x * w, 3.0) + wrong_sin(w)


@gg.function(wrt=("x", "w"), emit=("hessian",))
def jvp_scalar(x: Array["N"], w: Array["N"]):
    return gg.sum(softclip(x * w, 3.0) ** 2) + gg.sum(wrong_sin(w))


def test_jacobians_and_hessians_batch_a_custom_jvp_rule(tmp_path) -> None:
    """A batch of tangents goes through the user's rule (batched like any other code): the
    Jacobian of wrong_sin is its rule's 2, not cos."""
    module = compile_to_module([jvp_vector, jvp_scalar], tmp_path)
    rng = np.random.default_rng(2)
    x, w = rng.normal(size=5), rng.normal(size=5)

    def vector_oracle(x, w):  # noqa: ANN001, ANN202
        return 3.0 * anp.tanh(x * w / 3.0) + 2.0 * w - _detached(2.0 * w) + _detached(anp.sin(w))

    j_x, j_w = module.jvp_vector_jacobian(x, w)
    np.testing.assert_allclose(j_x, jacobian(vector_oracle, 0)(x, w), rtol=1e-13)
    np.testing.assert_allclose(j_w, jacobian(vector_oracle, 1)(x, w), rtol=1e-13)
    blocks = module.jvp_scalar_hessian(x, w)
    joint = hessian(lambda a: _jvp_oracle(a[0], a[1]))(np.stack([x, w]))  # (2, 5, 2, 5)
    for i, j in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        np.testing.assert_allclose(blocks[i][j], joint[i, :, j, :], rtol=1e-12, atol=1e-14)


def test_a_rule_with_the_wrong_count_or_shape_is_named() -> None:
    @gg.custom_vjp
    def twice(x):  # noqa: ANN001, ANN202
        return 2.0 * x

    @twice.defvjp
    def twice_vjp(grad, result, x):  # noqa: ANN001, ANN202
        return grad * 2.0  # not a tuple

    @gg.function(wrt="x")
    def f(x: Array["N"]):
        return gg.sum(twice(x))

    with pytest.raises(GradgenError, match="twice_vjp .* must return a tuple of 1 cotangent"):
        compile_function(f)

    @twice.defvjp
    def twice_vjp_summed(grad, result, x):  # noqa: ANN001, ANN202
        return (gg.sum(grad),)

    with pytest.raises(GradgenError, match=r"cotangent of shape \(\), but .* shape \(N,\)"):
        compile_function(f)


def test_a_custom_function_without_a_rule_is_an_error() -> None:
    @gg.custom_vjp
    def bare(x):  # noqa: ANN001, ANN202
        return x * 1.0

    @gg.function(wrt="x")
    def f(x: Array["N"]):
        return gg.sum(bare(x))

    with pytest.raises(GradgenError, match="bare is a custom_vjp function with no rule"):
        compile_function(f)


def test_custom_functions_run_eagerly_on_arrays() -> None:
    assert safe_norm(np.array([3.0, 4.0])) == 5.0


# -- has_aux --------------------------------------------------------------------------------


@gg.function(wrt=("w", "b"), has_aux=True)
def classifier(w: Array["D"], b: Array[()], x: Array["N", "D"], y: Array["N"]):
    z = x @ w + b
    loss = gg.mean(gg.softplus(z) - y * z)
    accuracy = gg.mean(gg.where((z > 0) == (y > 0.5), 1.0, 0.0))
    return loss, {"accuracy": accuracy, "logits": z}


def test_aux_outputs_come_beside_the_value(tmp_path) -> None:
    module = compile_to_module([classifier], tmp_path)
    rng = np.random.default_rng(2)
    w, b, x = rng.normal(size=3), 0.2, rng.normal(size=(7, 3))
    y = (rng.random(7) > 0.5).astype(float)
    z = x @ w + b
    accuracy = np.mean((z > 0) == (y > 0.5))
    value, aux = module.classifier(w, b, x, y)
    assert set(aux) == {"accuracy", "logits"} and aux["accuracy"] == accuracy
    np.testing.assert_allclose(aux["logits"], z, rtol=1e-15)
    (value2, aux2), (d_w, d_b) = module.classifier_value_and_grad(w, b, x, y)
    assert value2 == value and aux2["accuracy"] == accuracy
    (d_w2, d_b2), aux3 = module.classifier_grad(w, b, x, y)
    np.testing.assert_array_equal(d_w, d_w2)
    assert aux3["accuracy"] == accuracy
    sigmoid = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(d_w, x.T @ (sigmoid - y) / 7, rtol=1e-13)
    np.testing.assert_allclose(d_b, np.sum(sigmoid - y) / 7, rtol=1e-13)


def test_aux_costs_nothing_in_backward() -> None:
    source = emit_module([compile_function(classifier).source()], "m.py", "0")
    backward = source.split("def classifier_backward", 1)[1].split("\ndef ", 1)[0]
    assert "accuracy" not in backward and "0.5" not in backward


@pytest.mark.parametrize(
    "returned, message",
    [
        ("gg.sum(x)", "has has_aux=True but returns Tracer, not a pair"),
        ("gg.sum(x), gg.sum(x), {}", "returns a tuple of 3"),
        ("gg.sum(x), {'not a name': x}", "aux key 'not a name'"),
        ("gg.sum(x), {'n': 3}", "aux 'n' of f is int"),
    ],
)
def test_has_aux_needs_a_value_and_a_dict(returned: str, message: str) -> None:
    namespace: dict = {"gg": gg, "Array": Array}
    exec(f"def f(x: Array['N']):\n    return {returned}\n", namespace)  # noqa: S102
    function = gg.function(namespace["f"], wrt="x", has_aux=True)
    with pytest.raises(GradgenError, match=message):
        compile_function(function)


# -- accumulate_into ------------------------------------------------------------------------


@gg.function(wrt=("w", "b"))
def two_params(w: Array["D"], b: Array[()], x: Array["N", "D"]):
    return gg.sum(gg.tanh(x @ w + b))


@gg.function(wrt="w")
def one_param(w: Array["D"], x: Array["N", "D"]):
    return gg.sum(gg.tanh(x @ w))


def test_accumulation_adds_into_the_given_arrays(tmp_path) -> None:
    module = compile_to_module([two_params, one_param], tmp_path)
    rng = np.random.default_rng(3)
    w, x = rng.normal(size=3), rng.normal(size=(4, 3))
    d_w, d_b = module.two_params_grad(w, 0.5, x)
    acc_w, acc_b = np.ones(3), np.array(1.0)
    for _ in range(2):
        _, saved = module.two_params_forward(w, 0.5, x)
        returned = module.two_params_backward(saved, accumulate_into=(acc_w, acc_b))
        assert returned[0] is acc_w and returned[1] is acc_b
    np.testing.assert_allclose(acc_w, 1 + 2 * d_w, rtol=1e-15)
    np.testing.assert_allclose(acc_b, 1 + 2 * d_b, rtol=1e-15)
    single = np.zeros(3)
    _, saved = module.one_param_forward(w, x)
    assert module.one_param_backward(saved, accumulate_into=single) is single
    np.testing.assert_allclose(single, module.one_param_grad(w, x), rtol=1e-15)


def test_accumulation_rejects_what_it_cannot_add_into(tmp_path) -> None:
    module = compile_to_module([two_params], tmp_path)
    _, saved = module.two_params_forward(np.ones(3), 0.5, np.ones((4, 3)))
    with pytest.raises(ValueError, match="2 arrays needed"):
        module.two_params_backward(saved, accumulate_into=(np.zeros(3),))
    with pytest.raises(ValueError, match=r"shape \(4,\) cannot take a gradient of shape \(3,\)"):
        module.two_params_backward(saved, accumulate_into=(np.zeros(4), np.array(0.0)))
    with pytest.raises(ValueError, match="float of shape"):
        module.two_params_backward(saved, accumulate_into=(np.zeros(3), 0.0))


# -- what emit may ask for ------------------------------------------------------------------


def test_unknown_emit_kind_is_named() -> None:
    with pytest.raises(GradgenError, match="asks for 'hessians'"):

        @gg.function(wrt="x", emit=("grad", "hessians"))
        def f(x: Array["N"]):
            return gg.sum(x)


def test_hessian_of_a_vector_value_is_a_compile_time_error() -> None:
    @gg.function(wrt="x", emit=("hvp",))
    def vector(x: Array["N"]):
        return x * x

    with pytest.raises(GradgenError, match=r"emit='hvp' needs a scalar value, but vector"):
        compile_function(vector)


@gg.function(wrt=("w", "b"), emit=("jvp", "hvp"))
def small(w: Array["D"], b: Array[()]):
    return gg.sum(gg.exp(w) * b)


def test_tangents_of_the_wrong_shape_or_count_fail_at_call_time(tmp_path) -> None:
    module = compile_to_module([small], tmp_path)
    w = np.ones(3)
    with pytest.raises(ValueError, match=r"small_jvp: w_dot has shape \(1,\), but its param"):
        module.small_jvp(w, 1.0, np.ones(1), 1.0)
    with pytest.raises(ValueError, match=r"small_hvp: v_b has shape \(3,\)"):
        module.small_hvp(w, 1.0, w, np.ones(3))
    with pytest.raises(TypeError, match="small_jvp"):
        module.small_jvp(w, 1.0, w)
    assert not hasattr(module, "small_grad")  # only what emit asks for


@gg.function(wrt=("w", "b"), emit=("grad", "jvp", "jacobian", "hessian", "hvp"))
def smooth(w: Array["D"], b: Array[()], x: Array["N", "D"]):
    return gg.sum(gg.tanh(x @ w + b) ** 2)


def test_check_catches_a_corrupted_hessian(tmp_path) -> None:
    source = emit_module([compile_function(smooth).source()], "m.py", "0")
    good = load_text(source, tmp_path)
    results = check_function(smooth, good, {"N": 4, "D": 3})
    assert {r.quantity for r in results} == {"value", "w", "b", "jvp", "jacobian", "hessian", "hvp"}
    assert all(r.passed for r in results), results
    broken_text = source.replace("return ((hessian_w_w,", "return ((1.01 * hessian_w_w,")
    assert broken_text != source
    broken = load_text(broken_text, tmp_path)
    results = {r.quantity: r for r in check_function(smooth, broken, {"N": 4, "D": 3})}
    assert not results["hessian"].passed and results["hvp"].passed


@gg.custom_vjp
def doubled(x):
    return 2.0 * x


@doubled.defvjp
def doubled_vjp(grad, result, x):
    return (3.0 * grad,)  # wrong on purpose: the true factor is 2


@gg.function(wrt="x")
def wrong_rule(x: Array["N"]):
    return gg.sum(doubled(x) ** 2)


def test_check_from_python_returns_errors_and_raises_on_a_failure() -> None:
    """gradgen.check at given inputs: each quantity's max error, an AssertionError naming
    the failing one, and the model's domain error for inputs outside it."""
    x = np.array([0.5, -1.0, 2.0])
    errors = gg.check(smooth, inputs={"x": np.ones((4, 3))}, seed=2)
    assert set(errors) == {"value", "w", "b", "jvp", "jacobian", "hessian", "hvp"}
    assert max(errors.values()) < 1e-6
    with pytest.raises(AssertionError, match=r"wrong_rule: x: max error .* \(atol 1e-06 \+ rtol"):
        gg.check(wrong_rule, inputs={"x": x})
    with pytest.raises(gg.GradgenError, match="is not finite at the given inputs"):
        gg.check(wrong_rule, inputs={"x": np.array([np.inf, 0.0])})
