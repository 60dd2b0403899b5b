"""The printed markdown tables and the JSON record (with machine information)."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import math
import os
import platform
from pathlib import Path

from benchmarks.cases import MODELS
from benchmarks.contenders import BASELINE, CONTENDERS

TARGETS = {
    "grad_forward_ratio": 3.0,  # value_and_grad / value, at most
    "models_compile_seconds": 5.0,  # all benchmark models together, below
    "deep_ratio": 2.3,  # compile time of 200 layers / 100 layers, at most
    "memory_ratio": 1.2,  # gradgen / hand-written peak on mlp large, at most
    "import_seconds": 0.3,  # `import gradgen` in a fresh process, below
}
HEADERS = {"jax": "jax (jit)"}


def seconds(t: float | None) -> str:
    """A duration with three significant digits and a unit."""
    if t is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


def megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def verdict(value: float, target: float, at_most: bool = True) -> str:
    met = value <= target if at_most else value < target
    return "✓" if met else f"✗ ({value / target:.2f}× the target)"


def _cell(case: dict, name: str) -> str:
    if name in case["skipped"]:
        return "skipped"
    t = case["times"][name]["median"]
    base = case["times"].get(BASELINE, {}).get("median")
    return f"{seconds(t)} ({t / base:.2f}×)" if base else seconds(t)


def timing_table(results: dict) -> list[str]:
    names = [n for n in CONTENDERS if any(n not in c["skipped"] for c in results["cases"])]
    s = results["settings"]
    lines = [
        f"### Time per value-and-gradients call (median of {s['samples']} samples of "
        f"≥ {s['min_sample'] * 1e3:g} ms; in parentheses: ratio to hand-written)",
        "",
        "| model | size | " + " | ".join(HEADERS.get(n, n) for n in names) + " |",
        "| --- | --- |" + " ---: |" * len(names),
    ]
    for case in results["cases"]:
        cells = " | ".join(_cell(case, n) for n in names)
        lines.append(f"| {case['model']} | {case['size']} ({case['label']}) | {cells} |")
    notes = sorted({f"{n}: {note}" for c in results["cases"] for n, note in c["skipped"].items()})
    return lines + ([""] + [f"- skipped {note}" for note in notes] if notes else [])


def grad_forward_table(results: dict) -> list[str]:
    target = TARGETS["grad_forward_ratio"]
    lines = [
        f"### gradgen: `<f>_value_and_grad` time / `<f>` (value only) time, target ≤ {target:g}",
        "",
        "| model | size | value | value_and_grad | ratio | target met |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for case in results["cases"]:
        times = case["times"]
        if "gradgen" not in times or "gradgen-value" not in times:
            continue
        forward, both = times["gradgen-value"]["median"], times["gradgen"]["median"]
        ratio = both / forward
        lines.append(
            f"| {case['model']} | {case['size']} | {seconds(forward)} | {seconds(both)} "
            f"| {ratio:.2f} | {verdict(ratio, target)} |"
        )
    return lines


def memory_table(results: dict) -> list[str]:
    target = TARGETS["memory_ratio"]
    lines = [
        "### Peak memory of one value-and-gradients call (tracemalloc, inputs excluded), "
        f"target gradgen / hand-written ≤ {target:g} on mlp large",
        "",
        "| case | gradgen | hand-written | ratio | target met |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for row in results["memory"]:
        ratio = row["gradgen"] / row[BASELINE]
        met = verdict(ratio, target) if row["target"] else "(for information)"
        lines.append(
            f"| {row['case']} | {megabytes(row['gradgen'])} | {megabytes(row[BASELINE])} "
            f"| {ratio:.2f} | {met} |"
        )
    return lines


def loop_forms_table(results: dict) -> list[str]:
    """The RNN's loop as gg.scan, with checkpoint_every and unrolled (`loop_forms`)."""
    lines = [
        "### The RNN's loop three ways: gg.scan, gg.scan with checkpoint_every=k, and "
        "unrolled at trace time (value and gradients: median time, the ratio to "
        "hand-written, peak memory by tracemalloc)",
        "",
        "| case | hand-written | gg.scan | checkpoint_every=k | unrolled | unrolled: compile |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in results["loop_forms"]:
        if "error" in row:
            lines.append(f"| {row['case']} | {row['error']} | | | | |")
            continue
        times, peaks = row["median_seconds"], row["peak_bytes"]
        cells = []
        for name in (BASELINE, "scan", "checkpointed", "unrolled"):
            if name not in times:
                cells.append("—")
                continue
            k = f"k={row['checkpoint_every']}: " if name == "checkpointed" else ""
            ratio = times[name] / times[BASELINE]
            cells.append(f"{k}{seconds(times[name])} ({ratio:.2f}×), {megabytes(peaks[name])}")
        unrolled = row["unrolled"]
        note = unrolled.get("error") or (
            f"{unrolled['compile_seconds']:.1f} s, {unrolled['lines']:,} lines"
        )
        lines.append(f"| {row['case']} | {' | '.join(cells)} | {note} |")
    final = [row for row in results["loop_forms"] if row.get("final_state_peak_bytes")]
    if final:
        lines += [
            "",
            "The same RNN with a loss of its final state only (no stacked ys): peak memory",
            "",
            "| case | gg.scan | checkpoint_every=k | ratio |",
            "| --- | ---: | ---: | ---: |",
        ]
        for row in final:
            peaks = row["final_state_peak_bytes"]
            lines.append(
                f"| {row['case']} | {megabytes(peaks['scan'])} | k={row['checkpoint_every']}: "
                f"{megabytes(peaks['checkpointed'])} | "
                f"{peaks['checkpointed'] / peaks['scan']:.2f} |"
            )
    return lines


def compile_tables(results: dict) -> list[str]:
    c = results["compile"]
    models = c["models_file"]
    phases = ", ".join(f"{k} {v:.2f}" for k, v in models["phases"].items())
    lines = [
        "### gradgen compile time (fresh process each, median of "
        f"{len(models['all'])}; importing gradgen excluded)",
        "",
        "| what | seconds | phases (s) | target | target met |",
        "| --- | ---: | --- | --- | --- |",
        f"| benchmarks/models.py (all {len(MODELS)} models) | {models['seconds']:.2f} | {phases} "
        f"| < {TARGETS['models_compile_seconds']:g} s "
        f"| {verdict(models['seconds'], TARGETS['models_compile_seconds'], at_most=False)} |",
    ]
    for layers, run in c["deep_mlp"].items():
        phases = ", ".join(f"{k} {v:.2f}" for k, v in run["phases"].items())
        lines.append(f"| deep tanh MLP, {layers} layers | {run['seconds']:.2f} | {phases} | | |")
    deepest, before = c["deep_ratio"]["layers"]
    ratio = c["deep_ratio"]["ratio"]
    lines.append(
        f"| ratio {deepest} layers / {before} layers | {ratio:.2f} | | "
        f"≤ {TARGETS['deep_ratio']:g} | {verdict(ratio, TARGETS['deep_ratio'])} |"
    )
    if "import" in c:
        took, limit = c["import"]["seconds"], TARGETS["import_seconds"]
        lines.append(
            f"| `import gradgen` (median of {len(c['import']['all'])}) | {took:.3f} | | "
            f"< {limit:g} s | {verdict(took, limit, at_most=False)} |"
        )
    return lines


def jax_compile_table(results: dict) -> list[str]:
    rows = [c for c in results["cases"] if c.get("jax_compile_seconds") is not None]
    if not rows:
        return []
    lines = [
        "### JAX: first call of the jitted value_and_grad (trace + XLA compile)",
        "",
        "| model | size | compile |",
        "| --- | --- | ---: |",
    ]
    return lines + [
        f"| {c['model']} | {c['size']} | {seconds(c['jax_compile_seconds'])} |" for c in rows
    ]


def _ratio(case: dict, name: str, to: str = BASELINE) -> float | None:
    times = case["times"]
    if name not in times or to not in times:
        return None
    return times[name]["median"] / times[to]["median"]


def _where(cases: list[tuple[dict, float]]) -> str:
    return ", ".join(f"{c['model']} {c['size']} {r:.2f}×" for c, r in cases)


def _row(target: str, measured: str, met: bool | None) -> str:
    mark = "—" if met is None else "✓" if met else "✗"
    return f"| {target} | {measured} | {mark} |"


def _speed_rows(cases: list[dict]) -> list[str]:
    """The time targets: against hand-written, then against the other engines."""
    rows = []
    mine = [(c, r) for c in cases if (r := _ratio(c, "gradgen")) is not None]
    if not mine:
        return [_row("gradgen against hand-written", "not measured", None)]
    over = [(c, r) for c, r in mine if r > 1.10]
    worst = max(mine, key=lambda cr: cr[1])
    rows.append(
        _row(
            "gradgen ≤ 1.10× hand-written, every case",
            f"{len(mine) - len(over)} of {len(mine)}; worst {_where([worst])}",
            not over,
        )
    )
    geomean = math.exp(sum(math.log(r) for _, r in mine) / len(mine))
    rows.append(_row("geometric mean ≤ 1.00× hand-written", f"{geomean:.3f}×", geomean <= 1.0))
    for engine, sizes, bound in (
        ("torch", ("small", "medium"), 1.0),
        ("autograd", ("small", "medium"), 1.0),
        ("jax", ("small",), 1.0),
        ("jax", ("large",), 1.2),
    ):
        pairs = [
            (c, r)
            for c in cases
            if c["size"] in sizes and (r := _ratio(c, "gradgen", engine)) is not None
        ]
        wanted = "faster than" if bound == 1.0 else f"within {bound:g}× of"
        target = f"{wanted} {HEADERS.get(engine, engine)}, every {' and '.join(sizes)} case"
        if not pairs:
            rows.append(_row(target, "not measured", None))
            continue
        misses = [(c, r) for c, r in pairs if (r >= bound if bound == 1.0 else r > bound)]
        measured = f"misses: {_where(misses)}" if misses else f"all {len(pairs)}"
        rows.append(_row(target, measured + " (gradgen / it)", not misses))
    circuit = [r for c, r in mine if c["model"] == "circuit"]
    if circuit:
        rows.append(_row("circuit ≤ 1.5× hand-written", f"{circuit[0]:.2f}×", circuit[0] <= 1.5))
    return rows


def targets_table(results: dict) -> list[str]:
    """Every target of the benchmark, what this run measured, and whether it is met."""
    cases = results["cases"]
    rows = _speed_rows(cases)
    ratios = [
        c["times"]["gradgen"]["median"] / c["times"]["gradgen-value"]["median"]
        for c in cases
        if "gradgen" in c["times"] and "gradgen-value" in c["times"]
    ]
    limit = TARGETS["grad_forward_ratio"]
    if ratios:
        worst = max(ratios)
        rows.append(_row(f"grad / forward ≤ {limit:g}", f"at most {worst:.2f}", worst <= limit))
    memory = [row for row in results.get("memory", []) if row["target"]]
    for row in memory:
        ratio = row["gradgen"] / row[BASELINE]
        limit = TARGETS["memory_ratio"]
        rows.append(
            _row(
                f"peak memory ≤ {limit:g}× hand-written, {row['case']}",
                f"{ratio:.2f}×",
                ratio <= limit,
            )
        )
    compiled = results.get("compile")
    if compiled and "import" in compiled:
        took, limit = compiled["import"]["seconds"], TARGETS["import_seconds"]
        rows.append(_row(f"import gradgen in < {limit:g} s", f"{took:.3f} s", took < limit))
    if compiled:
        seconds_all = compiled["models_file"]["seconds"]
        limit = TARGETS["models_compile_seconds"]
        rows.append(
            _row(
                f"benchmark models compile in < {limit:g} s",
                f"{seconds_all:.2f} s",
                seconds_all < limit,
            )
        )
        deep = compiled["deep_ratio"]
        runs = {str(layers): run for layers, run in compiled["deep_mlp"].items()}  # JSON: str
        deepest = runs[str(deep["layers"][0])]["seconds"]
        met = deep["ratio"] <= TARGETS["deep_ratio"] and deepest < 30
        rows.append(
            _row(
                f"deep MLP: {deep['layers'][0]} / {deep['layers'][1]} layers ≤ "
                f"{TARGETS['deep_ratio']:g}, {deep['layers'][0]} layers < 30 s",
                f"{deep['ratio']:.2f}, {deepest:.1f} s",
                met,
            )
        )
    return ["### Targets", "", "| target | this run | met |", "| --- | --- | --- |", *rows]


def markdown(results: dict) -> str:
    m = results["machine"]
    cpu = results["settings"]["pinned_cpu"]
    pinned = "not pinned" if cpu is None else f"pinned to CPU {cpu}"
    header = [
        f"Benchmark of {results['date']}: {m['cpu']}, {m['cores']} cores ({pinned}, one "
        f"thread), Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + f"; BLAS {m['blas']}.",
    ]
    noise = results.get("noise")
    if noise:
        header.append(
            f"During the run, of {'the machine' if cpu is None else 'that CPU'}'s time: "
            f"{noise['steal']:.0%} stolen by the host (VM "
            f"steal), {noise['others']:.0%} used by other processes; more means noisier times."
        )
    sections = [
        header,
        targets_table(results),
        timing_table(results),
        grad_forward_table(results),
        memory_table(results) if results.get("memory") else [],
        loop_forms_table(results) if results.get("loop_forms") else [],
        compile_tables(results) if results.get("compile") else [],
        (
            ["### gradgen compile time", "", f"failed: {results['compile_error']}"]
            if results.get("compile_error")
            else []
        ),
        jax_compile_table(results),
    ]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"


def machine_info() -> dict:
    """CPU model, cores, memory, library versions and NumPy's BLAS."""
    import numpy as np

    cpu, memory = platform.processor() or platform.machine(), None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import gradgen

    versions = {"gradgen": f"{gradgen.__version__} ({Path(gradgen.__file__).parent})"}
    for dist in ("numpy", "torch", "jax", "jaxlib", "autograd", "sympy"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        blas = "unknown"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "blas": blas,
    }


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_json(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
