"""The RNN benchmark's loop in its three forms, side by side: gradgen's `gg.scan` (the
`rnn` model), the same scan with `checkpoint_every`, and the loop unrolled at trace time,
as gradgen compiled it before it had loops (a Python `for` over a static T).

For each sequence length: the value-and-gradients time of each form (round-robin, with
the hand-written code as the baseline), its peak memory (tracemalloc), and, for the
unrolled form, its compile time and module size, or why it did not compile. Every form is
checked against the hand-written gradients before anything is timed. The RNN reads out
every step, so its stacked states and their gradients take O(T) memory in any form;
the peak memory of a loss of the final state only (no ys) is measured too, with and
without checkpoints: there the backward's residuals are what memory holds.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from benchmarks import cases as cases_module
from benchmarks import handwritten, memory
from benchmarks.contenders import BASELINE, Prepared, Skip, as_numpy, gradgen_module
from benchmarks.timing import round_robin
from benchmarks.verify import compare

UNROLL_LIMIT_SECONDS = 600.0  # an unrolled compile that takes longer is not waited for


def checkpoint_every(T: int) -> int:
    """The segment length that makes O(T/k + k) smallest: about sqrt(T)."""
    return max(1, round(math.sqrt(T)))


def rnn_source(name: str, T: int | str, loop: str) -> str:
    """A model file of the benchmark's RNN (`benchmarks.models.rnn`) named `name`, with
    `loop` the lines computing `hs` from `h0` and `xs`."""
    return f"""import gradgen as gg
from gradgen import Array


@gg.function(wrt=("w_x", "w_h", "b", "w_y", "b_y"))
def {name}(
    w_x: Array["D", "H"],
    w_h: Array["H", "H"],
    b: Array["H"],
    w_y: Array["H"],
    b_y: float,
    h0: Array["N", "H"],
    xs: Array[{T!r}, "N", "D"],
    targets: Array[{T!r}, "N"],
):
{loop}
    return gg.mean((hs @ w_y + b_y - targets) ** 2)
"""


def checkpointed_source(every: int) -> str:
    return rnn_source(
        "rnn_checkpointed",
        "T",
        f"""    def step(h, x):
        h = gg.tanh(x @ w_x + h @ w_h + b)
        return h, h

    _, hs = gg.scan(step, h0, xs, checkpoint_every={every})""",
    )


def final_state_source(every: int | None) -> str:
    """The RNN with a loss of its final state only: no ys, so that the backward's
    residuals (one carry per step, or per segment) are what its memory holds."""
    option = f", checkpoint_every={every}" if every else ""
    return f"""import gradgen as gg
from gradgen import Array


@gg.function(wrt=("w_x", "w_h", "b", "w_y", "b_y"))
def rnn_final(
    w_x: Array["D", "H"],
    w_h: Array["H", "H"],
    b: Array["H"],
    w_y: Array["H"],
    b_y: float,
    h0: Array["N", "H"],
    xs: Array["T", "N", "D"],
    targets: Array["T", "N"],
):
    def step(h, x):
        return gg.tanh(x @ w_x + h @ w_h + b), None

    h, _ = gg.scan(step, h0, xs{option})
    return gg.mean((h @ w_y + b_y - targets[-1]) ** 2)
"""


def unrolled_source(T: int) -> str:
    return rnn_source(
        "rnn_unrolled",
        T,
        f"""    h, steps = h0, []
    for t in range({T}):  # Python ints: unrolled at trace time
        h = gg.tanh(xs[t] @ w_x + h @ w_h + b)
        steps.append(h)
    hs = gg.stack(steps)""",
    )


def compiled(source: str, directory: Path, stem: str) -> tuple[ModuleType, float, int]:
    """The generated module of a model file's text, the seconds `gradgen.compile_source`
    took (in this process) and the module's lines."""
    import gradgen

    model = directory / f"{stem}.py"
    model.write_text(source)
    start = time.perf_counter()
    text = gradgen.compile_source(model)
    seconds = time.perf_counter() - start
    generated = directory / f"{stem}_grad.py"
    generated.write_text(text)
    return _load(generated), seconds, text.count("\n")


_COMPILE = """
import json, sys, time
import gradgen
start = time.perf_counter()
text = gradgen.compile_source(sys.argv[1])
seconds = time.perf_counter() - start
open(sys.argv[2], "w").write(text)
print(json.dumps({"seconds": seconds, "lines": text.count(chr(10))}))
"""


def compiled_apart(
    source: str, directory: Path, stem: str, timeout: float
) -> tuple[ModuleType, float, int]:
    """As `compiled`, the compile in a fresh process of its own (an unrolled loop's
    trace is large: this process's heap, and the times taken in it, stay as they were);
    raises RuntimeError with gradgen's last error line, or on `timeout` seconds."""
    model, generated = directory / f"{stem}.py", directory / f"{stem}_grad.py"
    model.write_text(source)
    path = os.pathsep.join(entry or os.getcwd() for entry in sys.path)
    try:
        out = subprocess.run(
            [sys.executable, "-c", _COMPILE, str(model), str(generated)],
            env={**os.environ, "PYTHONPATH": path},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"not compiled within {timeout:.0f} s") from None
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines() or ["no message"]
        raise RuntimeError(lines[-1])
    info = json.loads(out.stdout.strip().splitlines()[-1])
    return _load(generated), info["seconds"], info["lines"]


def _load(generated: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(generated.stem, generated)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _prepared(fn: Callable, args: tuple) -> Prepared:
    return Prepared(lambda: fn(*args), as_numpy)


def measure(samples: int, min_sample: float, quick: bool, log: Callable[[str], None]) -> list[dict]:
    """One row per RNN size: each form's median time and peak memory, and the unrolled
    form's compile time and lines (or the reason it has none)."""
    sizes = ["small"] if quick else list(cases_module.SIZES["rnn"])
    unroll_seconds: dict[int, float] = {}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            case = cases_module.Case("rnn", size, cases_module.SIZES["rnn"][size])
            log(f"loop forms: rnn {size} ({case.label}) ...")
            rows.append(_measure_case(case, Path(scratch), samples, min_sample, unroll_seconds))
    return rows


def _measure_case(
    case: cases_module.Case,
    directory: Path,
    samples: int,
    min_sample: float,
    unroll_seconds: dict[int, float],
) -> dict:
    T = case.dims["T"]
    every = checkpoint_every(T)
    params, data = case.inputs()
    args = (*params, *data)
    try:
        scan_module = gradgen_module("rnn")
    except Skip as skip:
        return {"case": case.label, "T": T, "error": str(skip)}
    checkpointed, _, _ = compiled(checkpointed_source(every), directory, f"checkpointed_{T}")
    forms: dict[str, Prepared] = {
        BASELINE: _prepared(handwritten.rnn, args),
        "scan": _prepared(scan_module.rnn_value_and_grad, args),
        "checkpointed": _prepared(checkpointed.rnn_checkpointed_value_and_grad, args),
    }
    # an unrolled compile takes at least linear time in T: judged from a shorter one
    expected = max((s * T / t for t, s in unroll_seconds.items()), default=0.0)
    if expected > UNROLL_LIMIT_SECONDS:
        unrolled: dict = {"error": f"not compiled: about {expected:.0f} s expected"}
    else:
        try:
            module, seconds, lines = compiled_apart(
                unrolled_source(T), directory, f"unrolled_{T}", UNROLL_LIMIT_SECONDS
            )
            forms["unrolled"] = _prepared(module.rnn_unrolled_value_and_grad, args)
            unrolled = {"compile_seconds": seconds, "lines": lines}
            unroll_seconds[T] = seconds
        except RuntimeError as error:  # gradgen fails on the unrolled loop: say how
            unrolled = {"error": f"fails: {error}"[:100]}
    want = forms[BASELINE].result(forms[BASELINE].run())
    errors = [
        compare(name, f"rnn {case.size}", p.result(p.run()), want)
        for name, p in forms.items()
        if name != BASELINE
    ]
    times = round_robin({name: p.run for name, p in forms.items()}, samples, min_sample)
    final = {}  # the final state's loss: memory with and without checkpoints
    for name, every_ in (("scan", None), ("checkpointed", every)):
        module, _, _ = compiled(final_state_source(every_), directory, f"final_{name}_{T}")
        final[name] = memory.peak_bytes(lambda m=module: m.rnn_final_value_and_grad(*args))
    return {
        "case": case.label,
        "T": T,
        "checkpoint_every": every,
        "max_relative_error": max(errors),
        "median_seconds": {name: t["median"] for name, t in times.items()},
        "peak_bytes": {name: memory.peak_bytes(p.run) for name, p in forms.items()},
        "unrolled": unrolled,
        "final_state_peak_bytes": final,
    }
