"""gradgen's compile time, each measurement in a fresh process (cold caches, as a user's
`gradgen compile` runs): the benchmark models file, and deep tanh MLPs of L layers.

Run as `python -m benchmarks.compile_time FILE` it is the worker: it prints one JSON line
with the seconds of `gradgen.compile_source(FILE)` (trace, differentiate, optimize, emit,
format; importing gradgen itself excluded) and of each phase.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS_FILE = Path(__file__).resolve().parent / "models.py"


def deep_mlp_source(layers: int) -> str:
    """A model file: `layers` tanh layers of width H (a Python loop unrolled at trace time)
    and a mean squared error, differentiated with respect to every weight and bias."""
    params = ",\n".join(f'    w{i}: Array["H", "H"],\n    b{i}: Array["H"]' for i in range(layers))
    names = " ".join(f'"w{i}", "b{i}",' for i in range(layers))
    listed = ", ".join(f"w{i}, b{i}" for i in range(layers))
    return f"""import gradgen as gg
from gradgen import Array


@gg.function(wrt=({names}))
def deep(
{params},
    x: Array["N", "H"],
    y: Array["N", "H"],
):
    weights = [{listed}]
    h = x
    for i in range({layers}):
        h = gg.tanh(h @ weights[2 * i] + weights[2 * i + 1])
    return gg.mean((h - y) ** 2)
"""


class CompileFailed(RuntimeError):
    """gradgen failed on a compile-time model (the message has its traceback)."""


def time_compile(path: Path, repeats: int) -> dict:
    """Median seconds of `repeats` fresh-process compiles of `path`, with the phases of
    the median run."""
    # The worker imports the same gradgen (and benchmarks) as this process.
    path_entries = [entry or os.getcwd() for entry in sys.path]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path_entries)}
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.compile_time", str(path)],
            env=env,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise CompileFailed(f"compiling {path.name} failed: {out.stderr.strip()}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    runs.sort(key=lambda run: run["seconds"])
    median = runs[len(runs) // 2]
    return {
        "seconds": statistics.median(run["seconds"] for run in runs),
        "all": [run["seconds"] for run in runs],
        "phases": median["phases"],
        "lines": median["lines"],
    }


_IMPORT = "import time; t = time.perf_counter(); import gradgen; print(time.perf_counter() - t)"


def time_import(repeats: int) -> dict:
    """Median seconds of `import gradgen` in `repeats` fresh processes (interpreter start
    excluded): what a model file or training code importing one pays."""
    path_entries = [entry or os.getcwd() for entry in sys.path]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path_entries)}
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT], env=env, capture_output=True, text=True, check=True
        )
        runs.append(float(out.stdout.strip()))
    return {"seconds": statistics.median(runs), "all": runs}


def measure(quick: bool = False) -> dict:
    """Compile time of the models file and of deep MLPs (10..200 layers; 10, 20 when
    `quick`), with the ratio of the two deepest, and the time of `import gradgen`."""
    repeats = 1 if quick else 3
    result = {
        "import": time_import(3 if quick else 7),
        "models_file": time_compile(MODELS_FILE, repeats),
        "deep_mlp": {},
    }
    depths = (10, 20) if quick else (10, 50, 100, 200)
    with tempfile.TemporaryDirectory() as folder:
        for layers in depths:
            path = Path(folder) / f"deep_mlp_{layers}.py"
            path.write_text(deep_mlp_source(layers))
            result["deep_mlp"][layers] = time_compile(path, repeats)
    deepest, before = depths[-1], depths[-2]
    result["deep_ratio"] = {
        "layers": [deepest, before],
        "ratio": result["deep_mlp"][deepest]["seconds"] / result["deep_mlp"][before]["seconds"],
    }
    return result


def _worker(path: str) -> None:
    import gradgen

    phases: dict[str, float] = {}

    def report(phase: str, seconds: float, _what: str) -> None:
        phases[phase] = phases.get(phase, 0.0) + seconds

    start = time.perf_counter()
    text = gradgen.compile_source(path, report=report)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "phases": phases, "lines": text.count("\n")}))


if __name__ == "__main__":
    _worker(sys.argv[1])
