"""Peak memory of one value-and-gradients call, by tracemalloc (NumPy reports its array
allocations to it; PyTorch's and XLA's allocators do not, so only the NumPy contenders are
measured). The peak is counted from the memory in use just before the call: inputs are
excluded, the returned gradients included."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable


def peak_bytes(fn: Callable[[], object], repeats: int = 2) -> int:
    """The smallest, over `repeats` calls, of the peak traced memory above the baseline."""
    fn()  # warm-up: caches, lazily imported modules
    peaks = []
    for _ in range(repeats):
        gc.collect()
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            out = fn()
            peaks.append(tracemalloc.get_traced_memory()[1] - baseline)
            del out
        finally:
            tracemalloc.stop()
    return min(peaks)
