"""Reading the user's source: the statement at a line, as one line of text.

Generated backward code heads each chain-rule step with the statement of the model it
differentiates; a statement written over several lines is joined into one.
"""

from __future__ import annotations

import ast
import functools
import linecache

from gradgen.errors import SourceLocation


@functools.cache
def _statements(filename: str) -> tuple[tuple[int, int, str, bool], ...]:
    """(first line, last line, text, is compound) of every statement in the file."""
    source = "".join(linecache.getlines(filename))
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.end_lineno is not None:
            text = ast.get_source_segment(source, node) or ""
            compound = hasattr(node, "body")
            found.append((node.lineno, node.end_lineno, text, compound))
    return tuple(found)


def statement_text(location: SourceLocation) -> str:
    """The innermost statement covering `location`, whitespace collapsed to one line (only
    the header line of a compound statement such as `for` or `if`); '' when unknown."""
    covering = [s for s in _statements(location.filename) if s[0] <= location.lineno <= s[1]]
    if not covering:
        return linecache.getline(location.filename, location.lineno).strip()
    first, _last, text, compound = min(covering, key=lambda s: s[1] - s[0])
    if compound:
        text = linecache.getline(location.filename, first)
    return " ".join(text.split())
