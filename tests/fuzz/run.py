"""One seed end to end: generate, check, and on a failure shrink; the outcome as data.

A program that does not finish its check within the time limit (a compiler that hangs,
say in SymPy) is a failure of kind "timeout", reported unshrunk: shrinking would rerun it.
"""

from __future__ import annotations

import contextlib
import signal
import warnings
from collections.abc import Iterator
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


TIME_LIMIT = 60.0  # seconds for one program's check; a typical one takes under one


class TimeLimit(BaseException):
    """A check ran past its time limit. Not an Exception, so that the checker's handlers
    (which report a compile error as a failure) let it through, as KeyboardInterrupt."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise `TimeLimit` in the block when it runs longer than `seconds` (SIGALRM: the
    main thread of a Unix process, which the fuzzer's workers and pytest's are)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeLimit(f"the check ran past {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _failures(program: Program, seconds: float) -> list[Failure]:
    """A shrinking candidate's failures; [] when it is rejected or is not a valid model."""
    try:
        with time_limit(seconds), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return check_source(program.source())
    except Rejected:
        return []
    except TimeLimit as why:
        return [Failure("timeout", str(why))]
    except Exception as error:  # the candidate no longer loads: not the same failure
        return [Failure(f"load: {type(error).__name__}", str(error))]


def run_seed(seed: int, shrink_failures: bool = True, seconds: float = TIME_LIMIT) -> Outcome:
    """Check the program of `seed` within `seconds`; a failing one is shrunk (when asked)
    to a small one."""
    program = generate(seed)
    try:
        with time_limit(seconds), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            failures = check_source(program.source())
    except Rejected as why:
        return Outcome(seed, "rejected", note=str(why))
    except TimeLimit as why:
        return Outcome(seed, "failed", (Failure("timeout", str(why)),), program.source())
    except Exception as error:  # the model itself failed to load or trace
        failures = [Failure(f"load: {type(error).__name__}", str(error))]
    if not failures:
        return Outcome(seed, "ok")
    kinds = {f.kind for f in failures}
    small = program
    if shrink_failures:
        small = shrink(program, lambda p: bool(kinds & {f.kind for f in _failures(p, seconds)}))
    return Outcome(seed, "failed", tuple(failures), small.source())
