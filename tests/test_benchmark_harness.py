"""The benchmark (run on demand, not here) stays runnable: on its small cases every
available contender agrees with the hand-written NumPy code before anything is timed."""

from __future__ import annotations

from benchmarks.verify import check_all


def test_benchmark_contenders_agree_on_small_cases() -> None:
    report = check_all(quick=True)
    assert len(report) == 6  # one small case per model
    for label, row in report.items():
        errors = {name: e for name, e in row.items() if not isinstance(e, str)}
        assert "gradgen" in errors, (label, row)  # torch, jax (and autograd without scipy) may skip
        assert all(e <= 1e-8 for e in errors.values()), (label, row)
