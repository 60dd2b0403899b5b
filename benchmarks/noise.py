"""How quiet the machine was: CPU steal time (a virtual machine's host taking the CPU) and
time other processes used on the benchmark's CPU, from /proc/stat, over the whole run."""

from __future__ import annotations

import os
import resource
from pathlib import Path

# /proc/stat columns after the name: user nice system idle iowait irq softirq steal ...
_BUSY, _STEAL = (0, 1, 2, 5, 6), 7


def _cpu_ticks(cpu: int | None) -> list[int] | None:
    name = "cpu" if cpu is None else f"cpu{cpu}"
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            fields = line.split()
            if fields[0] == name:
                return [int(v) for v in fields[1:]]
    except OSError:
        pass
    return None


def _own_seconds() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class NoiseMeter:
    """Started at construction; `stop()` gives the fractions of the CPU's time that were
    stolen by the host and used by other processes."""

    def __init__(self, cpu: int | None) -> None:
        self.cpu = cpu
        self.start = _cpu_ticks(cpu)
        self.own = _own_seconds()

    def stop(self) -> dict[str, float] | None:
        end = _cpu_ticks(self.cpu)
        if self.start is None or end is None:
            return None
        delta = [b - a for a, b in zip(self.start, end)]
        total = sum(delta[:8]) or 1
        hz = os.sysconf("SC_CLK_TCK")
        busy_seconds = sum(delta[i] for i in _BUSY) / hz
        others = max(busy_seconds - (_own_seconds() - self.own), 0.0)
        return {"steal": delta[_STEAL] / total, "others": others * hz / total}
