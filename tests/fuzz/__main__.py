"""`python -m tests.fuzz [--programs N] [--seed S] [--jobs J] [--save DIR] [--time-limit T]`:
run N random programs from seed S on J processes, each within T seconds; print the failure
classes with one shrunk program each, and with --save write every shrunk failing program
to DIR."""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import sys
import time
from pathlib import Path

from .run import TIME_LIMIT, Outcome, run_seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--programs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=multiprocessing.cpu_count())
    parser.add_argument("--save", type=Path, help="folder for the shrunk failing programs")
    parser.add_argument("--no-shrink", action="store_true")
    parser.add_argument(
        "--time-limit", type=float, default=TIME_LIMIT, help="seconds per program (a hang fails)"
    )
    args = parser.parse_args(argv)
    seeds = range(args.seed, args.seed + args.programs)
    start = time.perf_counter()
    counts: collections.Counter[str] = collections.Counter()
    examples: dict[str, Outcome] = {}
    with multiprocessing.Pool(args.jobs) as pool:
        work = pool.imap_unordered(
            _run, [(s, not args.no_shrink, args.time_limit) for s in seeds], chunksize=4
        )
        for done, outcome in enumerate(work, 1):
            counts[outcome.status] += 1
            for kind in sorted({f.kind for f in outcome.failures}):
                counts[kind] += 1
                examples.setdefault(kind, outcome)
            if outcome.status == "failed" and args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                (args.save / f"seed_{outcome.seed}.py").write_text(outcome.shrunk)
            if done % 500 == 0:
                print(f"{done} programs, {dict(counts)}", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start
    print(
        f"{args.programs} programs in {elapsed:.0f} s: {counts['ok']} ok, "
        f"{counts['rejected']} rejected (oracle non-finite), {counts['failed']} failed"
    )
    for kind, outcome in sorted(examples.items()):
        print(f"\n== {kind}: {counts[kind]} programs; seed {outcome.seed}, shrunk:")
        detail = next(f.detail for f in outcome.failures if f.kind == kind)
        print(detail)
        print(outcome.shrunk)
    return 1 if counts["failed"] else 0


def _run(job: tuple[int, bool, float]) -> Outcome:
    return run_seed(*job)


if __name__ == "__main__":
    sys.exit(main())
