"""Python control flow on traced values, as TensorFlow's AutoGraph does it: before tracing,
a model function's `if`, `while` and `for i in range(...)` statements are rewritten into
calls that decide when they run.

Each statement becomes a call of a runtime helper with its blocks as nested functions
over the variables they assign (`converted`). The helper runs plain Python when the test
(or the bounds) are Python values, so static control flow still unrolls as before, and
`gg.cond`, `gg.while_loop` or `gg.fori_loop` when they are traced values or named dims.
A statement whose block has `return`, `break`, `continue` or `yield` is left as written
(a traced test then fails at its line, saying so). A variable a traced `if` defines in one
branch only is undefined after it: using it is an error naming it and the `if`'s line.
Functions that close over variables of an enclosing function are not rewritten.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from gradgen.errors import GradgenError, SourceLocation
from gradgen.graph_builder import Tracer
from gradgen.loops import cond, fori_loop, while_loop
from gradgen.shapes import dim_expr, dim_from_expr


class Undefined:
    """A variable a traced `if` defined in one branch only: any use of it is an error."""

    def __init__(self, name: str, where: SourceLocation | None) -> None:
        self.name = name
        self.where = where

    def error(self) -> GradgenError:
        return GradgenError(
            f"{self.name} is defined in one branch of this traced `if` only, and used after it.",
            self.where,
            "assign it in both branches (or before the `if`).",
        )

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise self.error()

    def _refuse(self, *args: Any) -> Any:
        raise self.error()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __matmul__ = __rmatmul__ = _refuse
    __neg__ = __bool__ = __float__ = __getitem__ = __lt__ = __gt__ = __le__ = __ge__ = _refuse
    __array__ = __iter__ = __len__ = _refuse


def converted(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with its control flow statements rewritten (see the module's docs); `fn`
    itself when it has none, no source, or closes over an enclosing function's values."""
    if fn.__code__.co_freevars:
        return fn
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return fn
    tree = ast.parse(source)
    definition = tree.body[0]
    if not isinstance(definition, ast.FunctionDef) or not any(
        isinstance(node, (ast.If, ast.While, ast.For)) for node in ast.walk(definition)
    ):
        return fn
    definition.decorator_list = []
    rewriter = _Rewriter(fn.__code__.co_filename, fn.__code__.co_firstlineno - 1)
    definition.body = rewriter.block(definition.body)
    if not rewriter.changed:
        return fn
    maker = ast.FunctionDef(
        name="__gg_make",
        args=ast.arguments(
            posonlyargs=[],
            args=[ast.arg(arg=name) for name in _HELPERS],
            kwonlyargs=[],
            kw_defaults=[],
            defaults=[],
        ),
        body=[definition, ast.Return(ast.Name(definition.name, ast.Load()))],
        decorator_list=[],
    )
    module = ast.Module(body=[maker], type_ignores=[])
    ast.fix_missing_locations(module)
    ast.increment_lineno(module, fn.__code__.co_firstlineno - 1)
    namespace: dict[str, Any] = {}
    exec(compile(module, fn.__code__.co_filename, "exec"), fn.__globals__, namespace)
    made = namespace["__gg_make"](*_HELPERS.values())
    made.__defaults__ = fn.__defaults__
    return made  # type: ignore[no-any-return]


def _if(
    test: Any,
    true_fn: Callable[..., tuple],
    false_fn: Callable[..., tuple],
    values: tuple,
    names: tuple[str, ...],
    both: tuple[str, ...],
    where: tuple[str, int],
) -> tuple:
    """An `if`: Python's when `test` is a Python value, else a gg.cond over the variables
    either branch assigns (`names`; `both` are those both assign)."""
    if not isinstance(test, Tracer):
        return true_fn(*values) if test else false_fn(*values)
    location = SourceLocation(*where)
    kept = [
        k
        for k, (v, n) in enumerate(zip(values, names))
        if not isinstance(v, Undefined) or n in both
    ]
    defined = [k for k, v in enumerate(values) if not isinstance(v, Undefined)]

    def branch(fn: Callable[..., tuple]) -> Callable[..., tuple]:
        def run(*operands: Any) -> tuple:
            full = list(values)
            for k, operand in zip(defined, operands):
                full[k] = operand
            result = fn(*full)
            return tuple(result[k] for k in kept)

        return run

    results = cond(test, branch(true_fn), branch(false_fn), *(values[k] for k in defined))
    out: list[Any] = [Undefined(n, location) for n in names]
    for k, value in zip(kept, results):
        out[k] = value
    return tuple(out)


def _while(
    test_fn: Callable[..., Any],
    body_fn: Callable[..., tuple],
    values: tuple,
    names: tuple[str, ...],
    where: tuple[str, int],
) -> tuple:
    """A `while`: Python's while its test is a Python value, a gg.while_loop over the
    variables its body assigns (those defined before it) from the step it is traced."""
    while True:
        test = test_fn(*values)
        if isinstance(test, Tracer):
            break
        if not test:
            return values
        values = body_fn(*values)
    carried = [k for k, v in enumerate(values) if not isinstance(v, Undefined)]

    def state(carry: tuple) -> list[Any]:
        full = list(values)
        for k, v in zip(carried, carry):
            full[k] = v
        return full

    final = while_loop(
        lambda carry: test_fn(*state(carry)),
        lambda carry: tuple(body_fn(*state(carry))[k] for k in carried),
        tuple(values[k] for k in carried),
        carry_names=[names[k] for k in carried],
    )
    return tuple(state(final))


def _for_range(
    bounds: tuple,
    body_fn: Callable[..., tuple],
    values: tuple,
    names: tuple[str, ...],
    counter: str,
    where: tuple[str, int],
) -> tuple:
    """A `for i in range(...)`: Python's over ints, a gg.fori_loop over named dims."""
    if all(isinstance(b, int) for b in bounds):
        for i in range(*bounds):
            values = body_fn(i, *values)
        return values
    if len(bounds) == 3 and bounds[2] != 1 or any(isinstance(b, Tracer) for b in bounds):
        raise GradgenError(
            "a for loop over range() with traced bounds or a step is not supported.",
            SourceLocation(*where),
            "loop over range(n) with n an int or a named dim (x.shape[0]).",
        )
    lower, upper = (0, bounds[0]) if len(bounds) == 1 else bounds[:2]
    if any(not isinstance(b, (int, str)) for b in (lower, upper)):
        raise GradgenError(
            f"range() of {type(upper).__name__} in a traced for loop.",
            SourceLocation(*where),
            "loop over range(n) with n an int or a named dim (x.shape[0]).",
        )
    carried = [k for k, v in enumerate(values) if not isinstance(v, Undefined)]

    def step(i: Any, carry: tuple) -> tuple:
        full = list(values)
        for k, v in zip(carried, carry):
            full[k] = v
        return tuple(body_fn(i, *full)[k] for k in carried)

    _ = dim_from_expr(dim_expr(upper) - dim_expr(lower))  # a dim expression, or an error
    final = fori_loop(
        lower,
        upper,
        step,
        tuple(values[k] for k in carried),
        counter_name=counter,
        carry_names=[names[k] for k in carried],
    )
    out = list(values)
    for k, v in zip(carried, final):
        out[k] = v
    return tuple(out)


def _lookup(scope: dict[str, Any], names: Sequence[str]) -> tuple:
    """The values of `names` in a frame's locals (Undefined where a name has none yet)."""
    return tuple(scope.get(n, Undefined(n, None)) for n in names)


_HELPERS: dict[str, Any] = {
    "__gg_if": _if,
    "__gg_while": _while,
    "__gg_for_range": _for_range,
    "__gg_lookup": _lookup,
}


def _assigned(nodes: Sequence[ast.stmt]) -> list[str]:
    """The names the statements assign (not inside nested functions), in order."""
    found: dict[str, None] = {}

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found[node.name] = None
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found[node.id] = None
        for child in ast.iter_child_nodes(node):
            visit(child)

    for node in nodes:
        visit(node)
    return [n for n in found if not n.startswith("__gg")]


def _escapes(nodes: Sequence[ast.stmt]) -> bool:
    """Whether a block leaves the statement other than by its end (return, break...)."""

    def visit(node: ast.AST, in_loop: bool) -> bool:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            return False
        if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom, ast.Global, ast.Nonlocal)):
            return True
        if isinstance(node, (ast.Break, ast.Continue)) and not in_loop:
            return True
        inner = in_loop or isinstance(node, (ast.For, ast.While))
        return any(visit(child, inner) for child in ast.iter_child_nodes(node))

    return any(visit(node, False) for node in nodes)


class _Rewriter:
    """Rewrites the control flow statements of one function body, innermost first."""

    def __init__(self, filename: str, offset: int) -> None:
        self.filename = filename
        self.offset = offset  # the source's first line, less one
        self.count = 0
        self.changed = False

    def block(self, statements: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for statement in statements:
            out += self.statement(statement)
        return out

    def statement(self, node: ast.stmt) -> list[ast.stmt]:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return [node]
        for field in ("body", "orelse"):
            if isinstance(getattr(node, field, None), list) and not isinstance(node, ast.Try):
                setattr(node, field, self.block(getattr(node, field)))
        if isinstance(node, ast.If) and not _escapes(node.body + node.orelse):
            return self._if(node)
        if isinstance(node, ast.While) and not node.orelse and not _escapes(node.body):
            if not any(isinstance(n, (ast.Break, ast.Continue)) for n in _shallow(node.body)):
                return self._while(node)
        if isinstance(node, ast.For) and self._is_range(node) and not node.orelse:
            if not _escapes(node.body) and not any(
                isinstance(n, (ast.Break, ast.Continue)) for n in _shallow(node.body)
            ):
                return self._for(node)
        return [node]

    def _is_range(self, node: ast.For) -> bool:
        call = node.iter
        return (
            isinstance(node.target, ast.Name)
            and isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == "range"
            and not call.keywords
            and 1 <= len(call.args) <= 3
        )

    def _names(self, prefix: str) -> str:
        self.count += 1
        self.changed = True
        return f"__gg_{prefix}_{self.count}"

    def _function(
        self, name: str, params: list[str], body: list[ast.stmt], names: list[str], node: ast.stmt
    ) -> ast.FunctionDef:
        returned = ast.Return(ast.Tuple([ast.Name(n, ast.Load()) for n in names], ast.Load()))
        function = ast.FunctionDef(
            name=name,
            args=ast.arguments(
                posonlyargs=[],
                args=[ast.arg(arg=p) for p in params],
                kwonlyargs=[],
                kw_defaults=[],
                defaults=[],
            ),
            body=[*(body or [ast.Pass()]), returned],
            decorator_list=[],
        )
        return ast.copy_location(function, node)

    def _call(
        self, helper: str, arguments: list[ast.expr], names: list[str], node: ast.stmt
    ) -> ast.stmt:
        call = ast.Call(ast.Name(helper, ast.Load()), arguments, [])
        targets = ast.Tuple([ast.Name(n, ast.Store()) for n in names], ast.Store())
        return ast.copy_location(ast.Assign([targets], call), node)

    def _values(self, names: list[str]) -> ast.expr:
        lookup = ast.Call(
            ast.Name("__gg_lookup", ast.Load()),
            [
                ast.Call(ast.Name("locals", ast.Load()), [], []),
                ast.Tuple([ast.Constant(n) for n in names], ast.Load()),
            ],
            [],
        )
        return lookup

    def _where(self, node: ast.stmt) -> ast.expr:
        line = node.lineno + self.offset
        return ast.Tuple([ast.Constant(self.filename), ast.Constant(line)], ast.Load())

    def _if(self, node: ast.If) -> list[ast.stmt]:
        names = _assigned(node.body + node.orelse)
        both = sorted(set(_assigned(node.body)) & set(_assigned(node.orelse)))
        true_name, false_name = self._names("if_true"), self._names("if_false")
        return (
            [
                self._function(true_name, names, node.body, names, node),
                self._function(false_name, names, node.orelse, names, node),
                self._call(
                    "__gg_if",
                    [
                        node.test,
                        ast.Name(true_name, ast.Load()),
                        ast.Name(false_name, ast.Load()),
                        self._values(names),
                        ast.Tuple([ast.Constant(n) for n in names], ast.Load()),
                        ast.Tuple([ast.Constant(n) for n in both], ast.Load()),
                        self._where(node),
                    ],
                    names,
                    node,
                ),
            ]
            if names
            else [node]
        )

    def _while(self, node: ast.While) -> list[ast.stmt]:
        names = _assigned(node.body)
        if not names:
            return [node]
        test_name, body_name = self._names("while_test"), self._names("while_body")
        test = ast.copy_location(
            ast.FunctionDef(
                name=test_name,
                args=ast.arguments(
                    posonlyargs=[],
                    args=[ast.arg(arg=n) for n in names],
                    kwonlyargs=[],
                    kw_defaults=[],
                    defaults=[],
                ),
                body=[ast.Return(node.test)],
                decorator_list=[],
            ),
            node,
        )
        return [
            test,
            self._function(body_name, names, node.body, names, node),
            self._call(
                "__gg_while",
                [
                    ast.Name(test_name, ast.Load()),
                    ast.Name(body_name, ast.Load()),
                    self._values(names),
                    ast.Tuple([ast.Constant(n) for n in names], ast.Load()),
                    self._where(node),
                ],
                names,
                node,
            ),
        ]

    def _for(self, node: ast.For) -> list[ast.stmt]:
        assert isinstance(node.target, ast.Name) and isinstance(node.iter, ast.Call)
        counter = node.target.id
        names = [n for n in _assigned(node.body) if n != counter]
        if not names:
            return [node]
        body_name = self._names("for_body")
        return [
            self._function(body_name, [counter, *names], node.body, names, node),
            self._call(
                "__gg_for_range",
                [
                    ast.Tuple(node.iter.args, ast.Load()),
                    ast.Name(body_name, ast.Load()),
                    self._values(names),
                    ast.Tuple([ast.Constant(n) for n in names], ast.Load()),
                    ast.Constant(counter),
                    self._where(node),
                ],
                names,
                node,
            ),
        ]


def _shallow(nodes: Sequence[ast.stmt]) -> list[ast.AST]:
    """The nodes of a loop body outside the loops nested in it (their break is theirs)."""
    found: list[ast.AST] = []

    def visit(node: ast.AST) -> None:
        found.append(node)
        if isinstance(node, (ast.For, ast.While, ast.FunctionDef, ast.Lambda)):
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    for node in nodes:
        visit(node)
    return found
