"""Errors gradgen reports about the user's code.

Every `GradgenError` carries the file and line of the user's code it is about and a hint
saying what to do instead; the CLI prints it as one line and exits 2.
"""

from __future__ import annotations

import os
import sys
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
