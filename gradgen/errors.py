"""Errors gradgen reports about the user's code.

Every `GradgenError` carries the file and line of the user's code it is about and a hint
saying what to do instead; the CLI prints it as one line and exits 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from types import FrameType


@dataclass(frozen=True)
class SourceLocation:
    """A place in the user's model file."""

    filename: str  # path of the model file, as Python knows it
    lineno: int  # 1-based line number

    def __str__(self) -> str:
        return f"{_display_path(self.filename)}:{self.lineno}"


class GradgenError(Exception):
    """A mistake in the user's model or command line, reported without a traceback."""

    def __init__(
        self, message: str, location: SourceLocation | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f" Hint: {self.hint}"
        return text


def _display_path(filename: str) -> str:
    """The path relative to the working directory when it is below it, else as given."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if relative.startswith("..") else relative


def user_location(
    user_files: frozenset[str], frame: FrameType | None = None
) -> SourceLocation | None:
    """The innermost frame on the stack that runs code from one of `user_files`."""
    frame = frame or sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename in user_files:
            return SourceLocation(frame.f_code.co_filename, frame.f_lineno)
        frame = frame.f_back
    return None


def innermost_location(error: BaseException, user_files: frozenset[str]) -> SourceLocation | None:
    """The deepest line of `user_files` in the traceback of `error`."""
    found = None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in user_files:
            found = SourceLocation(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


class NoFunctionsError(GradgenError):
    """A model file that defines no `@gg.function` (skipped when compiling a directory)."""


def closest_name(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate `name` most likely misspells or extends (`tahn`: `tanh`, `arctanh`:
    `arctan`), or None when none is close: difflib's close matches, ranked by edits (a
    swap of two neighbouring letters is one), then a prefix of either before the others,
    then by how much the length differs."""
    import difflib

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=5, cutoff=0.6)
    if not close:
        return None

    def rank(c: str) -> tuple[int, bool, int, int]:
        prefix = name.startswith(c) or c.startswith(name)
        return _edits(name, c), not prefix, abs(len(c) - len(name)), close.index(c)

    return min(close, key=rank)


def _edits(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps
    of adjacent letters."""
    rows = [list(range(len(b) + 1))] + [[i] + [0] * len(b) for i in range(1, len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[len(a)][len(b)]
