"""Agreement of every contender with the hand-written code, before anything is timed.

`check_all(quick=True)` is the pytest-free self-check a CI test can call: it builds the
small cases, runs each available contender once and raises `VerificationError` when a
value or a gradient differs from the hand-written one by more than 1e-8 relative.
"""

from __future__ import annotations

import numpy as np

from benchmarks import cases as cases_module
from benchmarks.contenders import BASELINE, CONTENDERS, Prepared, Skip, prepare

RTOL = 1e-8


class VerificationError(AssertionError):
    """A contender's value or gradient disagrees with the hand-written code."""


def relative_error(got: np.ndarray | float, want: np.ndarray | float) -> float:
    """max |got - want| / max |want| (the scale of the whole array, so near-zero entries
    of a gradient do not count as large relative errors)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(want), initial=0.0)), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(got - want), initial=0.0)) / scale


def compare(name: str, case_label: str, got: tuple, want: tuple) -> float:
    """The largest relative error over the value and each gradient; raises when > RTOL."""
    (value, grads), (want_value, want_grads) = got, want
    if len(grads) != len(want_grads):
        raise VerificationError(
            f"{name} on {case_label}: {len(grads)} gradients, expected {len(want_grads)}"
        )
    errors = {"value": relative_error(value, want_value)}
    errors.update(
        {f"grad {i}": relative_error(g, w) for i, (g, w) in enumerate(zip(grads, want_grads))}
    )
    worst = max(errors, key=errors.get)
    if not errors[worst] <= RTOL:
        raise VerificationError(
            f"{name} on {case_label}: {worst} differs from the hand-written result by "
            f"{errors[worst]:.3g} relative (tolerance {RTOL:g})"
        )
    return errors[worst]


def verify_case(prepared: dict[str, Prepared], case_label: str) -> dict[str, float]:
    """Run each prepared contender once and compare with the baseline; the worst
    relative error per contender."""
    want = prepared[BASELINE].result(prepared[BASELINE].run())
    return {
        name: compare(name, case_label, p.result(p.run()), want)
        for name, p in prepared.items()
        if name != BASELINE
    }


def check_all(quick: bool = True, models: tuple[str, ...] = cases_module.MODELS) -> dict:
    """Verify every available contender on every case (small ones when `quick`); no
    timing. Returns {case label: {contender: worst relative error or skip note}}."""
    report: dict[str, dict[str, float | str]] = {}
    for case in cases_module.cases(models, quick=quick):
        params, data = case.inputs()
        prepared, notes = {}, {}
        for name in CONTENDERS:
            try:
                prepared[name] = prepare(name, case.model, params, data)
            except Skip as skip:
                notes[name] = f"skipped: {skip}"
        label = f"{case.model} {case.size}"
        report[label] = {**verify_case(prepared, label), **notes}
    return report


if __name__ == "__main__":
    for label, row in check_all().items():
        print(label, row)
