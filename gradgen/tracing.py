"""Tracing: run the user's function once on `Tracer` values that record its graph.

Its `if`, `while` and `for i in range(...)` statements are first rewritten
(`gradgen.autograph`), so that those on traced values become loops and branches.

`trace` calls the model function on tracers of the annotated shapes (see
`gradgen.graph_builder`) and returns the recorded `Graph`. The user's local variable names
are captured as the code runs, so the generated code can use them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from gradgen.autograph import converted
from gradgen.errors import GradgenError, SourceLocation, innermost_location
from gradgen.graph_builder import Builder, Tracer, building
from gradgen.ir import Graph, Var
from gradgen.naming import NameHint
from gradgen.shapes import Shape, dim_names


class _NameRecorder:
    """Gives traced values the names of the user's local variables they are bound to."""

    def __init__(self, user_files: frozenset[str], hints: dict[Var, NameHint]) -> None:
        self.user_files = user_files
        self.hints = hints

    def on_call(self, frame: FrameType, event: str, arg: Any) -> Any:
        return self.on_event if frame.f_code.co_filename in self.user_files else None

    def on_event(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event in ("line", "return"):
            for name, value in frame.f_locals.items():
                if name == "_":  # a value the code throws away names nothing
                    continue
                if isinstance(value, Tracer) and value.variable not in self.hints:
                    self.hints[value.variable] = name
        return self.on_event


def trace(
    fn: Callable[..., Any],
    arg_names: list[str],
    shapes: list[tuple[Shape, bool]],
    aux_names: list[str] | None = None,
) -> Graph:
    """Run `fn` once on tracers of the given (shape, integer) kinds; return its graph.

    The graph has one input per argument, in order, and as outputs the returned value
    followed, when `aux_names` is a list (fn has has_aux=True), by the aux dict's arrays in
    the dict's order; their keys are appended to `aux_names`.
    """
    user_files = frozenset({fn.__code__.co_filename})
    builder = Builder(user_files)
    inputs = [builder.new_var(shape, integer) for shape, integer in shapes]
    builder.hints.update(zip(inputs, arg_names))
    recorder = _NameRecorder(user_files, builder.hints)
    previous = sys.gettrace()
    sys.settrace(recorder.on_call)
    run = converted(fn)  # Python's if, while and for on traced values become gg calls
    try:
        with building(builder):
            result = run(*(Tracer(v, builder) for v in inputs))
    except GradgenError:
        raise
    except Exception as error:
        location = innermost_location(error, user_files) or builder.location()
        raise GradgenError(
            f"{type(error).__name__}: {error}",
            location,
            "this came from running the model's code on traced arrays; gradgen traces each "
            "@gg.function once with arrays of the annotated shapes.",
        ) from error
    finally:
        sys.settrace(previous)
    where = SourceLocation(fn.__code__.co_filename, fn.__code__.co_firstlineno)
    aux: list[Var] = []
    if aux_names is not None:
        result, aux = _split_aux(fn, result, where, builder, aux_names)
    if not isinstance(result, Tracer):
        raise GradgenError(
            f"{fn.__name__} returns {type(result).__name__}, not an array computed from its "
            "arguments.",
            where,
            "return the loss (an expression of the inputs).",
        )
    known = {name for v in inputs for d in v.shape for name in dim_names(d)}
    for eq in builder.equations:
        unknown = sorted({name for d in eq.out.shape for name in dim_names(d)} - known)
        if unknown:
            raise GradgenError(
                f"dimension {unknown[0]} is not the size of any argument of {fn.__name__}.",
                eq.source,
                "shapes may use only the dims named in the arguments' annotations.",
            )
    if result.variable.integer:
        raise GradgenError(
            f"{fn.__name__} returns integer data, which has no gradient.",
            where,
            "return a float value computed from the float arguments.",
        )
    outputs = (result.variable, *aux)
    return Graph(tuple(inputs), tuple(builder.equations), outputs, builder.hints)


def _split_aux(
    fn: Callable[..., Any],
    result: Any,
    where: SourceLocation,
    builder: Builder,
    keys: list[str],
) -> tuple[Any, list[Var]]:
    """(value, {name: array}) from a has_aux function's result, checked."""
    hint = "return (loss, {'accuracy': accuracy}): the value, then a dict of arrays."
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
        kind = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        raise GradgenError(
            f"{fn.__name__} has has_aux=True but returns {kind}, not a pair (value, aux dict).",
            where,
            hint,
        )
    value, aux = result
    variables = []
    for key, item in aux.items():
        if not (isinstance(key, str) and key.isidentifier()):
            raise GradgenError(
                f"aux key {key!r} of {fn.__name__} is not a Python identifier.", where, hint
            )
        if not isinstance(item, Tracer):
            raise GradgenError(
                f"aux {key!r} of {fn.__name__} is {type(item).__name__}, not an array computed "
                "from the arguments.",
                where,
                hint,
            )
        builder.hints.setdefault(item.variable, key)
        variables.append(item.variable)
        keys.append(key)
    return value, variables
