"""The benchmark (run on demand, not here) stays runnable: on its small cases every
available contender agrees with the hand-written NumPy code before anything is timed."""

from __future__ import annotations

from benchmarks import report
from benchmarks.verify import check_all


def test_benchmark_contenders_agree_on_small_cases() -> None:
    agreement = check_all(quick=True)
    assert len(agreement) == 7  # one small case per model
    for label, row in agreement.items():
        errors = {name: e for name, e in row.items() if not isinstance(e, str)}
        assert "gradgen" in errors, (label, row)  # torch, jax (and autograd without scipy) may skip
        assert all(e <= 1e-8 for e in errors.values()), (label, row)


def _case(model: str, size: str, times: dict[str, float]) -> dict:
    return {
        "model": model,
        "size": size,
        "label": "n=1",
        "skipped": {},
        "times": {name: {"median": t} for name, t in times.items()},
    }


def test_the_report_judges_every_target_from_the_measurements() -> None:
    """The targets table on made-up numbers: in memory (int keys) as after a run."""
    cases = [
        _case("mlp", "small", {"gradgen": 1.0, "gradgen-value": 0.5, "hand-written": 1.0}),
        _case("mlp", "large", {"gradgen": 2.0, "gradgen-value": 0.5, "hand-written": 1.0}),
        _case("circuit", "small", {"gradgen": 1.2, "hand-written": 1.0, "torch": 100.0}),
    ]
    results = {
        "cases": cases,
        "memory": [{"case": "mlp large", "gradgen": 12, "hand-written": 10, "target": True}],
        "compile": {
            "models_file": {"seconds": 1.0},
            "deep_mlp": {100: {"seconds": 2.0}, 200: {"seconds": 4.0}},
            "deep_ratio": {"layers": [200, 100], "ratio": 2.0},
        },
    }
    rows = {line.split(" | ")[0].lstrip("| "): line for line in report.targets_table(results)}
    assert "1 of 3; worst mlp large 2.00×" in rows["gradgen ≤ 1.10× hand-written, every case"]
    assert rows["geometric mean ≤ 1.00× hand-written"].endswith("| 1.339× | ✗ |")
    assert rows["circuit ≤ 1.5× hand-written"].endswith("| 1.20× | ✓ |")
    assert rows["grad / forward ≤ 3"].endswith("| at most 4.00 | ✗ |")
    assert rows["peak memory ≤ 1.2× hand-written, mlp large"].endswith("| 1.20× | ✓ |")
    assert "| all 1 (gradgen / it) | ✓ |" in rows["faster than torch, every small and medium case"]
    assert "2.00, 4.0 s | ✓" in rows["deep MLP: 200 / 100 layers ≤ 2.3, 200 layers < 30 s"]


def test_the_rnn_loop_forms_compile_and_agree_with_the_hand_written_code(tmp_path) -> None:
    """The loop-forms table's models (checkpointed scan, unrolled loop, final-state
    loss) at a tiny size: their gradients are the hand-written BPTT's."""
    import numpy as np

    from benchmarks import cases, handwritten, loop_forms
    from benchmarks.verify import compare

    T = 5
    params, data = cases.Case("rnn", "tiny", {"T": T, "N": 2, "D": 3, "H": 4}).inputs()
    args = (*params, *data)
    want = handwritten.rnn(*args)
    want = (float(want[0]), [np.asarray(g) for g in want[1]])
    for source, name in (
        (loop_forms.checkpointed_source(2), "rnn_checkpointed"),
        (loop_forms.unrolled_source(T), "rnn_unrolled"),
    ):
        module, seconds, lines = loop_forms.compiled(source, tmp_path, name)
        value, grads = getattr(module, f"{name}_value_and_grad")(*args)
        assert compare(name, "tiny", (float(value), list(grads)), want) <= 1e-8
        assert seconds > 0 and lines > 0
    import autograd
    import autograd.numpy as anp

    def final_state_loss(w_x, w_h, b, w_y, b_y, h0, xs, targets):
        h = h0
        for t in range(xs.shape[0]):
            h = anp.tanh(anp.dot(xs[t], w_x) + anp.dot(h, w_h) + b)
        return anp.mean((anp.dot(h, w_y) + b_y - targets[-1]) ** 2)

    oracle = (
        float(final_state_loss(*args)),
        list(autograd.grad(final_state_loss, argnum=tuple(range(5)))(*args)),
    )
    module, _, _ = loop_forms.compiled(loop_forms.final_state_source(2), tmp_path, "final")
    value, grads = module.rnn_final_value_and_grad(*args)
    assert compare("final", "tiny", (float(value), list(grads)), oracle) <= 1e-8
