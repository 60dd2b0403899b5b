"""ANSI colors for Python source on a terminal (`gradgen show`): keywords, comments,
strings and numbers. Text is unchanged but for the color codes."""

from __future__ import annotations

import io
import keyword
import tokenize

_COLORS = {
    "keyword": "\033[1;34m",
    "comment": "\033[2;37m",
    "string": "\033[32m",
    "number": "\033[36m",
}
_RESET = "\033[0m"


def _kind(token: tokenize.TokenInfo) -> str | None:
    if token.type == tokenize.NAME and keyword.iskeyword(token.string):
        return "keyword"
    if token.type == tokenize.COMMENT:
        return "comment"
    if token.type == tokenize.STRING:
        return "string"
    if token.type == tokenize.NUMBER:
        return "number"
    return None


def highlight(source: str) -> str:
    """`source` with ANSI color codes around its keywords, comments, strings and numbers."""
    lines = source.splitlines(keepends=True)
    spans: list[tuple[int, int, int, int, str]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            kind = _kind(token)
            if kind:
                spans.append((*token.start, *token.end, kind))
    except (tokenize.TokenError, IndentationError):
        return source
    # Insert codes from the end so earlier positions stay valid.
    for start_row, start_col, end_row, end_col, kind in reversed(spans):
        end = lines[end_row - 1]
        lines[end_row - 1] = end[:end_col] + _RESET + end[end_col:]
        start = lines[start_row - 1]
        lines[start_row - 1] = start[:start_col] + _COLORS[kind] + start[start_col:]
    return "".join(lines)
