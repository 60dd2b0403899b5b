"""`python -m benchmarks [--quick] [--models linreg,mlp] [--out FILE]`.

Before NumPy is imported, the process re-executes itself with a clean environment: one
thread for every BLAS and for XLA, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset. Then it pins
itself to one CPU and runs the benchmark (see `benchmarks.run`).
"""

import os
import sys
from pathlib import Path

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
UNSET_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
_MARKER = "GRADGEN_BENCHMARK_CHILD"


def clean_environment(env: dict[str, str]) -> dict[str, str]:
    """`env` with one thread everywhere and OpenBLAS's core overrides removed."""
    env = {k: v for k, v in env.items() if k not in UNSET_VARS}
    env.update({name: "1" for name in THREAD_VARS})
    env["XLA_FLAGS"] = XLA_FLAGS
    return env


def _reexec_if_needed() -> None:
    if _MARKER in os.environ:
        return
    env = clean_environment(dict(os.environ))
    if env == dict(os.environ) and "numpy" not in sys.modules:
        return
    env[_MARKER] = "1"
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "benchmarks", *sys.argv[1:]], env)


def _pin_to_one_cpu() -> int | None:
    """Pin this process (and every thread it starts later) to one allowed CPU."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


if __name__ == "__main__":
    _reexec_if_needed()
    pinned = _pin_to_one_cpu()
    from benchmarks.run import main  # imports numpy: only now

    sys.exit(main(sys.argv[1:], pinned_cpu=pinned))
