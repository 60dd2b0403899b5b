"""The benchmark driver: for each case, prepare and verify every contender, then time them
round-robin; then peak memory and gradgen's compile time; print the tables, write JSON."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from benchmarks import cases as cases_module
from benchmarks import compile_time, loop_forms, memory, report
from benchmarks.contenders import BASELINE, CONTENDERS, Skip, prepare
from benchmarks.noise import NoiseMeter
from benchmarks.timing import round_robin
from benchmarks.verify import VerificationError, verify_case

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
MEMORY_CASES = (("mlp", "large"), ("linreg", "large"), ("elementwise", "large"))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="gradgen's generated code against hand-written NumPy, PyTorch, JAX "
        "and autograd; gradgen's grad/forward ratio, peak memory and compile time.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer samples")
    parser.add_argument(
        "--models",
        default=",".join(cases_module.MODELS),
        help="comma-separated subset of: " + ", ".join(cases_module.MODELS),
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON file")
    parser.add_argument("--samples", type=int, help="samples per contender (7; quick 3)")
    parser.add_argument("--min-sample", type=float, help="seconds per sample (0.02; quick 0.005)")
    parser.add_argument("--no-compile", action="store_true", help="skip the compile-time tables")
    args = parser.parse_args(argv)
    args.models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = set(args.models) - set(cases_module.MODELS)
    if unknown:
        parser.error(f"unknown models: {', '.join(sorted(unknown))}")
    args.samples = args.samples or (3 if args.quick else 7)
    args.min_sample = args.min_sample or (0.005 if args.quick else 0.02)
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_case(case: cases_module.Case, samples: int, min_sample: float) -> dict:
    """Prepare, verify (raises on disagreement) and time every contender on `case`."""
    params, data = case.inputs()
    prepared, skipped = {}, {}
    for name in (*CONTENDERS, "gradgen-value"):
        try:
            prepared[name] = prepare(name, case.model, params, data)
        except Skip as skip:
            skipped[name] = str(skip)
    label = f"{case.model} {case.size}"
    errors = verify_case({n: p for n, p in prepared.items() if n != "gradgen-value"}, label)
    times = round_robin({name: p.run for name, p in prepared.items()}, samples, min_sample)
    jax = prepared.get("jax")
    return {
        "model": case.model,
        "size": case.size,
        "label": case.label,
        "dims": case.dims,
        "max_relative_error": errors,
        "skipped": {n: note for n, note in skipped.items() if n != "gradgen-value"},
        "times": times,
        "jax_compile_seconds": jax.compile_seconds if jax else None,
    }


def run_memory(models: tuple[str, ...], quick: bool) -> list[dict]:
    """Peak memory of gradgen and hand-written value_and_grad on the MEMORY_CASES."""
    rows = []
    wanted = [("mlp", "small")] if quick else MEMORY_CASES
    for case in cases_module.cases(models, quick=quick):
        if (case.model, case.size) not in wanted:
            continue
        params, data = case.inputs()
        try:
            peaks = {
                name: memory.peak_bytes(prepare(name, case.model, params, data).run)
                for name in ("gradgen", BASELINE)
            }
        except Skip as skip:
            log(f"memory: {case.model} {case.size} skipped: {skip}")
            continue
        target = (case.model, case.size) == ("mlp", "large")
        rows.append({"case": f"{case.model} {case.size} ({case.label})", "target": target, **peaks})
    return rows


def main(argv: list[str], pinned_cpu: int | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    meter = NoiseMeter(pinned_cpu)
    results: dict = {
        "date": report.now(),
        "command": "python -m benchmarks " + " ".join(argv),
        "machine": report.machine_info(),
        "settings": {
            "samples": args.samples,
            "min_sample": args.min_sample,
            "pinned_cpu": pinned_cpu,
            "quick": args.quick,
            "seed": cases_module.SEED,
            "environment": {
                k: os.environ.get(k)
                for k in (
                    "OMP_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS",
                    "XLA_FLAGS",
                    "OPENBLAS_CORETYPE",
                    "OPENBLAS_L2_SIZE",
                )
            },
        },
        "targets": report.TARGETS,
        "cases": [],
    }
    for case in cases_module.cases(args.models, quick=args.quick):
        log(f"timing {case.model} {case.size} ({case.label}) ...")
        try:
            results["cases"].append(run_case(case, args.samples, args.min_sample))
        except VerificationError as error:
            log(f"VERIFICATION FAILED, nothing timed: {error}")
            return 1
    log("peak memory ...")
    results["memory"] = run_memory(args.models, args.quick)
    if "rnn" in args.models:
        try:
            results["loop_forms"] = loop_forms.measure(
                args.samples, args.min_sample, args.quick, log
            )
        except VerificationError as error:
            log(f"VERIFICATION FAILED, nothing timed: {error}")
            return 1
    if not args.no_compile:
        log("compile time (fresh processes) ...")
        try:
            results["compile"] = compile_time.measure(quick=args.quick)
        except compile_time.CompileFailed as error:
            log(str(error))
            results["compile_error"] = str(error).splitlines()[-1]
    results["total_seconds"] = time.perf_counter() - start
    results["noise"] = meter.stop()
    text = report.markdown(results)
    print(text)
    results["markdown"] = text
    report.write_json(results, args.out)
    log(f"wrote {args.out} in {results['total_seconds']:.0f} s")
    return 0
