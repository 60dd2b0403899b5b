"""One seed end to end: generate, check, and on a failure shrink; the outcome as data."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from .differential import Failure, Rejected, check_source
from .programs import Program, generate
from .shrink import shrink


@dataclass(frozen=True)
class Outcome:
    """What one seed gave."""

    seed: int  # the program's seed
    status: str  # "ok", "rejected" or "failed"
    failures: tuple[Failure, ...] = ()  # on "failed": the unshrunk program's failures
    shrunk: str = ""  # on "failed": the smallest failing program's model text
    note: str = ""  # on "rejected": why


def _failures(program: Program) -> list[Failure]:
    """A shrinking candidate's failures; [] when it is rejected or is not a valid model."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return check_source(program.source())
    except Rejected:
        return []
    except Exception as error:  # the candidate no longer loads: not the same failure
        return [Failure(f"load: {type(error).__name__}", str(error))]


def run_seed(seed: int, shrink_failures: bool = True) -> Outcome:
    """Check the program of `seed`; a failing one is shrunk (when asked) to a small one."""
    program = generate(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            failures = check_source(program.source())
    except Rejected as why:
        return Outcome(seed, "rejected", note=str(why))
    except Exception as error:  # the model itself failed to load or trace
        failures = [Failure(f"load: {type(error).__name__}", str(error))]
    if not failures:
        return Outcome(seed, "ok")
    kinds = {f.kind for f in failures}
    small = program
    if shrink_failures:
        small = shrink(program, lambda p: bool(kinds & {f.kind for f in _failures(p)}))
    return Outcome(seed, "failed", tuple(failures), small.source())
