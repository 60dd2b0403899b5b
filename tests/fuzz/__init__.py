"""gradgen's differential fuzzer: random programs (`programs`), compiled for real and
compared with an autograd oracle (`differential`), failures shrunk (`shrink`).

`python -m tests.fuzz --programs 10000` runs it on demand; the test suite runs a fixed
seed range and every saved regression (tests/test_fuzz.py).
"""

from .differential import Failure, Rejected, check_source
from .programs import Program, generate
from .run import Outcome, TimeLimit, run_seed, time_limit

__all__ = [
    "Failure",
    "Outcome",
    "Program",
    "Rejected",
    "TimeLimit",
    "check_source",
    "generate",
    "run_seed",
    "time_limit",
]
