"""Round-robin timing: every contender of a case is sampled in turn, so a slow spell of the
machine hits all of them alike. A sample is enough back-to-back calls to take at least
`min_sample` seconds; a contender's time is the median over samples of the time per call."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable


def time_calls(fn: Callable[[], object], calls: int) -> float:
    """Seconds for `calls` back-to-back calls of `fn`, garbage collection off (as timeit)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()


def calibrate(fn: Callable[[], object], min_sample: float) -> int:
    """How many calls of `fn` take at least `min_sample` seconds (after one warm-up call)."""
    fn()
    calls = 1
    while True:
        elapsed = time_calls(fn, calls)
        if elapsed >= min_sample:
            return calls
        grow = min_sample / max(elapsed, 1e-9) * 1.2
        calls = max(calls * 2, int(calls * min(grow, 100.0)))


def round_robin(
    fns: dict[str, Callable[[], object]], samples: int, min_sample: float
) -> dict[str, dict[str, float | int | list[float]]]:
    """Median seconds per call of each function in `fns`, sampled in turn; the order
    rotates between rounds. Returns {name: {"median", "min", "samples", "calls"}}."""
    calls = {name: calibrate(fn, min_sample) for name, fn in fns.items()}
    per_call: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for round_ in range(samples):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()  # every sample starts from the same heap, garbage of others freed
            per_call[name].append(time_calls(fns[name], calls[name]) / calls[name])
    return {
        name: {"median": statistics.median(t), "min": min(t), "samples": t, "calls": calls[name]}
        for name, t in per_call.items()
    }
