"""The `@gg.function` decorator: which arguments to differentiate and their shapes.

A decorated function stays a plain Python function (calling it runs NumPy eagerly); the
compiler finds the `Function` objects in a model file and traces them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, overload

from gradgen.errors import GradgenError, SourceLocation
from gradgen.shapes import ArraySpec

_SCALAR_ANNOTATIONS = {float: ArraySpec((), False), int: ArraySpec((), True)}

# What `emit=` may ask for: the gradient functions, and the optional derivative functions.
EMIT_KINDS = ("grad", "jvp", "jacobian", "hessian", "hvp")


class Function:
    """A user function marked for compilation, with its argument specs and `wrt`."""

    def __init__(
        self,
        fn: Callable[..., Any],
        wrt: str | Sequence[str] | None,
        emit: Sequence[str] = ("grad",),
        has_aux: bool = False,
    ) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn  # the user's function, unchanged
        self.location = SourceLocation(fn.__code__.co_filename, fn.__code__.co_firstlineno)
        self.specs = _argument_specs(fn, self.location)  # argument name -> ArraySpec
        names = list(self.specs)
        if wrt is None:
            wrt = names[0] if names else ()
        self.wrt_is_sequence = not isinstance(wrt, str)  # grads returned as a tuple
        self.wrt: tuple[str, ...] = (wrt,) if isinstance(wrt, str) else tuple(wrt)
        self.emit: tuple[str, ...] = (emit,) if isinstance(emit, str) else tuple(emit)
        self.has_aux = has_aux  # returns (value, {name: array}); aux is only computed
        self._check_wrt()
        self._check_emit()

    @property
    def name(self) -> str:
        return self.fn.__name__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<gg.function {self.name} wrt={self.wrt}>"

    def _check_wrt(self) -> None:
        if not self.wrt:
            raise GradgenError(
                f"wrt of {self.name} names no argument.",
                self.location,
                "name the arguments to differentiate, e.g. wrt=('w', 'b').",
            )
        for name in self.wrt:
            if name not in self.specs:
                raise GradgenError(
                    f"wrt names {name!r}, which is not an argument of {self.name}.",
                    self.location,
                    f"choose from {', '.join(self.specs)}.",
                )
            if self.specs[name].integer:
                raise GradgenError(
                    f"wrt names {name!r}, which is integer data ({self.specs[name]}).",
                    self.location,
                    "only float arrays (Array[...]) can be differentiated.",
                )
        if len(set(self.wrt)) != len(self.wrt):
            raise GradgenError(
                f"wrt of {self.name} names an argument twice.",
                self.location,
                "name each argument once.",
            )

    def _check_emit(self) -> None:
        unknown = [kind for kind in self.emit if kind not in EMIT_KINDS]
        if unknown or not self.emit:
            raise GradgenError(
                (
                    f"emit of {self.name} asks for {unknown[0]!r}, which gradgen does not make."
                    if unknown
                    else f"emit of {self.name} asks for nothing."
                ),
                self.location,
                f"choose from {', '.join(map(repr, EMIT_KINDS))}, e.g. emit=('grad', 'hessian').",
            )


def _argument_specs(fn: Callable[..., Any], location: SourceLocation) -> dict[str, ArraySpec]:
    try:
        annotations = inspect.get_annotations(fn, eval_str=True)
    except Exception as error:
        raise GradgenError(
            f"the annotations of {fn.__name__} could not be evaluated: {error}.", location
        ) from None
    specs = {}
    for name, parameter in inspect.signature(fn).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise GradgenError(
                f"{fn.__name__} takes *{name}; gg.function arguments must be named one by one.",
                location,
            )
        annotation = annotations.get(name)
        annotation = _SCALAR_ANNOTATIONS.get(annotation, annotation)  # type: ignore[arg-type]
        if not isinstance(annotation, ArraySpec):
            raise GradgenError(
                f"argument {name!r} of {fn.__name__} needs a shape annotation.",
                location,
                f"write it as {name}: Array['N', 'D'] (a float array with those dims), "
                f"Array[()] (a scalar) or IntArray['N'] (integer data).",
            )
        specs[name] = annotation
    return specs


@overload
def function(fn: Callable[..., Any], /) -> Function: ...


@overload
def function(
    *,
    wrt: str | Sequence[str] | None = None,
    emit: Sequence[str] = ("grad",),
    has_aux: bool = False,
) -> Callable[[Callable[..., Any]], Function]: ...


def function(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    wrt: str | Sequence[str] | None = None,
    emit: Sequence[str] = ("grad",),
    has_aux: bool = False,
) -> Function | Callable[[Callable[..., Any]], Function]:
    """Mark `fn` for compilation.

    `wrt` names the arguments to differentiate (default: the first); a tuple or list gives
    derivatives as a tuple, a single name one array. `emit` chooses the generated functions
    among "grad" (f_forward, f_backward, f_value_and_grad, f_grad), "jvp", "jacobian",
    "hessian" and "hvp". With `has_aux`, fn returns (value, {name: array}) and the aux arrays
    are returned beside the value, never differentiated.
    """
    if fn is not None:
        return Function(fn, wrt, emit, has_aux)
    return lambda f: Function(f, wrt, emit, has_aux)
