"""User-given derivative rules: `@gg.custom_vjp` and `@gg.custom_jvp`.

A decorated function is traced inline like any other code; its result then passes through
one marker equation (`custom_vjp` or `custom_jvp`) that reads the result and the call's
arguments. The marker prints as nothing (its value is the result), and its rule is the
user's: in reverse mode the given backward rule replaces differentiating the body; a JVP
rule is used as is in forward mode and transposed for reverse mode (it must be linear in
the tangents, as every JVP is). The generated module inlines the rule like any other.

    @gg.custom_vjp
    def safe_norm(x):
        return gg.sqrt(gg.sum(x * x))

    @safe_norm.defvjp
    def safe_norm_vjp(grad, result, x):  # one cotangent per argument (None: no gradient)
        return (grad * gg.where(result > 0, x / result, 0.0),)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from gradgen.batching import BATCH_RULES, materialize
from gradgen.derivatives import defrule
from gradgen.errors import GradgenError, SourceLocation
from gradgen.graph_builder import Builder, Tracer, apply
from gradgen.ir import Lit
from gradgen.ops.registry import Op, register
from gradgen.reverse import transpose_linear
from gradgen.shapes import Shape, format_shape


class _CustomRule:
    """A function with a derivative rule of the user's; calling it traces the function."""

    kind = ""  # "vjp" or "jvp"

    def __init__(self, fn: Callable[..., Any]) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn  # the user's function
        self.rule: Callable[..., Any] | None = None  # set by defvjp / defjvp

    def __repr__(self) -> str:  # how the marker's param prints in the IR
        return self.fn.__name__

    def _define(self, rule: Callable[..., Any]) -> Callable[..., Any]:
        self.rule = rule
        return rule

    def __call__(self, *args: Any) -> Any:
        tracer = next((a for a in args if isinstance(a, Tracer)), None)
        if tracer is None:
            return self.fn(*args)  # eager NumPy: the value only
        if self.rule is None:
            raise GradgenError(
                f"{self.fn.__name__} is a custom_{self.kind} function with no rule.",
                _location(self.fn),
                f"define it with @{self.fn.__name__}.def{self.kind} before the model uses it.",
            )
        result = self.fn(*args)
        if not isinstance(result, Tracer):
            raise GradgenError(
                f"{self.fn.__name__} returns {type(result).__name__}, not one array.",
                _location(self.fn),
                "a function with a custom rule returns one array computed from its arguments.",
            )
        return apply(f"custom_{self.kind}", result, *args, rule=self)


class CustomVJP(_CustomRule):
    """`@gg.custom_vjp`: `f.defvjp(rule)` with rule(grad, result, *args) -> one cotangent
    per argument (a tuple; None for no gradient)."""

    kind = "vjp"

    def defvjp(self, rule: Callable[..., Any]) -> Callable[..., Any]:
        return self._define(rule)


class CustomJVP(_CustomRule):
    """`@gg.custom_jvp`: `f.defjvp(rule)` with rule(dots, result, *args) -> the result's
    tangent, given `dots`, one tangent per argument (zeros where there is none)."""

    kind = "jvp"

    def defjvp(self, rule: Callable[..., Any]) -> Callable[..., Any]:
        return self._define(rule)


def custom_vjp(fn: Callable[..., Any]) -> CustomVJP:
    """Give `fn` a reverse-mode rule of your own (see `CustomVJP`)."""
    return CustomVJP(fn)


def custom_jvp(fn: Callable[..., Any]) -> CustomJVP:
    """Give `fn` a forward-mode rule of your own (see `CustomJVP`); reverse mode uses its
    transpose."""
    return CustomJVP(fn)


def _location(fn: Callable[..., Any]) -> SourceLocation:
    return SourceLocation(fn.__code__.co_filename, fn.__code__.co_firstlineno)


def _marker_shape(shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, dict[str, Any]]:
    return shapes[0], params


def _eager_marker(result: Any, *args: Any, rule: Any) -> Any:
    return result


for _kind in ("vjp", "jvp"):
    register(Op(f"custom_{_kind}", -1, _marker_shape, _eager_marker, lambda flags: flags[0]))


def _checked(
    rule: _CustomRule, given: Any, args: tuple[Any, ...], what: str
) -> list[Tracer | None]:
    """The rule's per-argument results, checked: a tuple with one entry per argument, each
    None or an array of the argument's shape."""
    name = getattr(rule.rule, "__name__", "the rule")
    where = _location(rule.rule) if rule.rule is not None else None
    if not isinstance(given, (tuple, list)) or len(given) != len(args):
        raise GradgenError(
            f"{name} (the {what} rule of {rule.fn.__name__}) must return a tuple of "
            f"{len(args)} {what}s, one per argument; it returned {type(given).__name__}"
            + (f" of {len(given)}" if isinstance(given, (tuple, list)) else "")
            + ".",
            where,
            "return (d_x,) for one argument; None where an argument has no gradient.",
        )
    checked: list[Tracer | None] = []
    for k, (item, arg) in enumerate(zip(given, args)):
        if item is None or not isinstance(arg, Tracer):
            checked.append(None)
            continue
        if not isinstance(item, Tracer) or item.shape != arg.shape:
            shape = format_shape(item.shape) if isinstance(item, Tracer) else type(item).__name__
            raise GradgenError(
                f"{name} gives argument {k} of {rule.fn.__name__} a {what} of shape {shape}, "
                f"but the argument has shape {format_shape(arg.shape)}.",
                where,
                f"each {what} has its argument's shape.",
            )
        checked.append(item)
    return checked


def _custom_vjp_reverse(grad: Tracer, result: Tracer, body: Tracer, *args: Any, rule: Any) -> tuple:
    """The user's backward rule; the body itself gets no cotangent."""
    assert rule.rule is not None
    given = rule.rule(grad, result, *_numbers(args))
    return (None, *_checked(rule, given, args, "cotangent"))


def _custom_vjp_forward(dots: tuple, result: Tracer, *operands: Any, rule: Any) -> Any:
    # NOTE: this is the body's own derivative. Forward mode on its own refuses custom_vjp
    # functions (derivative_graphs), as JAX does; it runs only in forward over reverse
    # (Hessians, HVPs), where the tangent of the value is exactly the body's derivative and
    # the user's backward rule is differentiated as written.
    return dots[0]


def _custom_jvp_forward(dots: tuple, result: Tracer, body: Tracer, *args: Any, rule: Any) -> Any:
    """The user's JVP rule, given a tangent (zeros where none) for every argument."""
    arg_dots = [
        d if d is not None else (apply("zeros_like", a) if isinstance(a, Tracer) else 0.0)
        for d, a in zip(dots[1:], args)
    ]
    tangent = rule.rule(tuple(arg_dots), result, *_numbers(args))
    _checked(rule, (tangent,), (result,), "tangent")
    return tangent


def _custom_jvp_reverse(grad: Tracer, result: Tracer, body: Tracer, *args: Any, rule: Any) -> tuple:
    """The transpose of the user's JVP rule: placeholder tangents (zeros) for the float
    arguments, the rule traced on them, and the reversed loop over what it emitted."""
    builder: Builder = grad.builder
    floats = [a for a in args if isinstance(a, Tracer) and not a.variable.integer]
    placeholders = {id(a): apply("zeros_like", a) for a in floats}
    dots = tuple(placeholders.get(id(a), 0.0) for a in args)
    start = len(builder.equations)
    tangent = rule.rule(dots, result, *_numbers(args))
    if _checked(rule, (tangent,), (result,), "tangent")[0] is None:
        return (None,) * (1 + len(args))  # a zero tangent: no cotangents either
    emitted = builder.equations[start:]
    wrt = [placeholders[id(a)].variable for a in floats]
    cotangents = transpose_linear(builder, emitted, tangent.variable, grad.variable, wrt)
    by_arg = {id(a): Tracer(c, builder) for a, c in zip(floats, cotangents) if c is not None}
    return (None, *(by_arg.get(id(a)) for a in args))


def _marker_batching(size: Any, args: list[Any], batched: list[bool], rule: Any) -> Tracer:
    """A batch of tangents through a marker is the batch of its value (the marker's rule
    was used when the tangents were made)."""
    value = args[0]
    return value if batched[0] else materialize(value, size)  # type: ignore[no-any-return]


defrule("custom_vjp", _custom_vjp_reverse, _custom_vjp_forward)
defrule("custom_jvp", _custom_jvp_reverse, _custom_jvp_forward)
BATCH_RULES["custom_vjp"] = BATCH_RULES["custom_jvp"] = _marker_batching


def _numbers(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Operands as the user's rule sees them: arrays, and numbers as Python numbers."""
    return tuple(a.value if isinstance(a, Lit) else a for a in args)


__all__ = ["CustomJVP", "CustomVJP", "custom_jvp", "custom_vjp"]
