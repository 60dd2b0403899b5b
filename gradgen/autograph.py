"""Python control flow on traced values, as TensorFlow's AutoGraph does it: before tracing,
a model function's `if`, `while` and `for i in range(...)` statements are rewritten into
calls that decide when they run.

Each statement becomes a call of a runtime helper with its blocks as nested functions
over the variables they assign (`converted`). The helper runs plain Python when the test
(or the bounds) are Python values, so static control flow still unrolls as before, and
`gg.cond`, `gg.while_loop` or `gg.fori_loop` when they are traced values or named dims.
A `break` in a `while` or `for` body (directly, or in `if`s there) becomes a float flag
the loop carries, as AutoGraph does: `stopped = 0.0` before the loop, `stopped = 1.0` for
the `break`, the statements after it guarded by `if not stopped:`, and the loop's test
(a `for` loop's too, then a while loop) false once it is set. On Python values this runs
as the loop did; on traced ones, the flag is traced data and the guards are `if`s.

A statement whose block has `return`, `continue` or `yield`, or a `break` elsewhere (in a
`with` or `try`) is left as written (a traced test then fails at its line, saying so). A
variable a traced `if` defines in one branch only is undefined after it: using it is an
error naming it and the `if`'s line. Functions that close over variables of an enclosing
function are not rewritten.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from gradgen.errors import GradgenError, SourceLocation
from gradgen.graph_builder import Tracer, apply, name_unnamed
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
    taken = {node.id for node in ast.walk(definition) if isinstance(node, ast.Name)}
    taken |= {node.arg for node in ast.walk(definition) if isinstance(node, ast.arg)}
    rewriter = _Rewriter(fn.__code__.co_filename, fn.__code__.co_firstlineno - 1, taken)
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
        lambda carry: _pick(body_fn(*state(carry)), carried),
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
    flag: str | None = None,
) -> tuple:
    """A `for i in range(...)`: Python's over ints, a gg.fori_loop over named dims. With
    `flag`, the variable its `break` sets: over ints, the loop ends once it is set as a
    Python value (traced, the steps left are guarded by it); over named dims, it is a
    while loop that ends once it is set, of at most the range's steps."""
    stop = names.index(flag) if flag is not None else None
    if all(isinstance(b, int) for b in bounds):
        for i in range(*bounds):
            if stop is not None and isinstance(values[stop], Tracer):  # the step runs if not set
                step = lambda *v, i=i: body_fn(i, *v)  # noqa: E731
                skip = lambda *v: v  # noqa: E731
                both = tuple(n for n, v in zip(names, values) if not isinstance(v, Undefined))
                values = _if(_not_set(values[stop]), step, skip, values, names, both, where)
                name_unnamed(values, names)
                continue
            if stop is not None and _is_set(values[stop]):
                break
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
        return _pick(body_fn(i, *full), carried)

    _ = dim_from_expr(dim_expr(upper) - dim_expr(lower))  # a dim expression, or an error
    running = None
    if stop is not None:
        flag_index = carried.index(stop)
        running = lambda carry: _not_set(carry[flag_index])  # noqa: E731
    final = fori_loop(
        lower,
        upper,
        step,
        tuple(values[k] for k in carried),
        while_fun=running,
        counter_name=counter,
        carry_names=[names[k] for k in carried],
    )
    out = list(values)
    for k, v in zip(carried, final):
        out[k] = v
    return tuple(out)


def _pick(values: tuple, indices: Sequence[int]) -> tuple:
    """The values at `indices` (of a body traced once: never call it per index)."""
    return tuple(values[k] for k in indices)


def _is_set(flag: Any) -> bool:
    """Whether a loop's break flag is set as a Python value (a traced one may be)."""
    return not isinstance(flag, Tracer) and bool(flag)


def _set(flag: Any) -> Any:
    """A loop's break flag, set: 1.0, or ones like it when it is traced (in a traced `if`
    each branch gives an array)."""
    return apply("ones_like", flag) if isinstance(flag, Tracer) else 1.0


def _not_set(flag: Any) -> Any:
    """`not flag`: a Python bool, or a traced comparison when the flag is traced."""
    return flag == 0.0 if isinstance(flag, Tracer) else not flag


def _unless(flag: Any, test: Callable[[], Any]) -> Any:
    """A loop's test once a `break` may have set `flag`: `not flag and test()`, the test
    left unevaluated when the flag is set as a Python value (as Python does)."""
    if not isinstance(flag, Tracer):
        return False if flag else test()
    value = test()
    if not isinstance(value, Tracer):
        return flag == 0.0 if value else False
    return apply("logical_and", flag == 0.0, value)


def _lookup(scope: dict[str, Any], names: Sequence[str]) -> tuple:
    """The values of `names` in a frame's locals (Undefined where a name has none yet)."""
    return tuple(scope.get(n, Undefined(n, None)) for n in names)


_HELPERS: dict[str, Any] = {
    "__gg_if": _if,
    "__gg_while": _while,
    "__gg_for_range": _for_range,
    "__gg_lookup": _lookup,
    "__gg_set": _set,
    "__gg_not_set": _not_set,
    "__gg_unless": _unless,
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


def _escapes(nodes: Sequence[ast.stmt], loops: bool = True) -> bool:
    """Whether a block leaves the statement other than by its end (return, break...);
    without `loops`, a break or continue of the loop the block is the body of does not
    count."""

    def visit(node: ast.AST, in_loop: bool) -> bool:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            return False
        if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom, ast.Global, ast.Nonlocal)):
            return True
        if isinstance(node, (ast.Break, ast.Continue)) and not in_loop and loops:
            return True
        inner = in_loop or isinstance(node, (ast.For, ast.While))
        return any(visit(child, inner) for child in ast.iter_child_nodes(node))

    return any(visit(node, False) for node in nodes)


def _guardable(body: Sequence[ast.stmt]) -> bool:
    """Whether a loop body's `break`s can become a flag: it has one, each only inside
    `if`s of the body (not in a `with` or `try`), and no `continue`, `return` or
    `yield`."""
    if _escapes(body, loops=False) or any(isinstance(n, ast.Continue) for n in _shallow(body)):
        return False  # (the loop is then left as written)

    def reachable(statements: Sequence[ast.stmt]) -> int:
        """The breaks reached through `if`s only; -1 when one is reached otherwise."""
        count = 0
        for statement in statements:
            if isinstance(statement, ast.Break):
                count += 1
            elif isinstance(statement, ast.If):
                inner = [reachable(statement.body), reachable(statement.orelse)]
                if -1 in inner:
                    return -1
                count += sum(inner)
            elif any(isinstance(n, ast.Break) for n in _shallow([statement])):
                return -1
        return count

    breaks = sum(isinstance(n, ast.Break) for n in _shallow(body))
    return breaks > 0 and reachable(body) == breaks


def _guarded(statements: Sequence[ast.stmt], flag: str) -> list[ast.stmt]:
    """The statements with each `break` setting `flag` instead, and the statements after
    a statement that may set it run only if it is not set."""
    out: list[ast.stmt] = []
    for k, statement in enumerate(statements):
        if isinstance(statement, ast.Break):
            setting = ast.Call(ast.Name("__gg_set", ast.Load()), [ast.Name(flag, ast.Load())], [])
            out.append(
                ast.copy_location(ast.Assign([ast.Name(flag, ast.Store())], setting), statement)
            )
            return out  # what follows a break never runs
        if isinstance(statement, ast.If) and any(
            isinstance(n, ast.Break) for n in _shallow([statement])
        ):
            statement.body = _guarded(statement.body, flag)
            statement.orelse = _guarded(statement.orelse, flag)
            out.append(statement)
            rest = _guarded(statements[k + 1 :], flag)
            if rest:
                test = ast.Call(
                    ast.Name("__gg_not_set", ast.Load()), [ast.Name(flag, ast.Load())], []
                )
                out.append(ast.copy_location(ast.If(test, rest, []), statements[k + 1]))
            return out
        out.append(statement)
    return out


class _Rewriter:
    """Rewrites the control flow statements of one function body, innermost first."""

    def __init__(self, filename: str, offset: int, taken: set[str]) -> None:
        self.filename = filename
        self.offset = offset  # the source's first line, less one
        self.count = 0
        self.changed = False
        self.taken = set(taken)  # the function's names: a break flag takes none of them

    def _flag(self) -> str:
        name, k = "stopped", 0
        while name in self.taken:
            k += 1
            name = f"stopped_{k}"
        self.taken.add(name)
        return name

    def block(self, statements: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for statement in statements:
            out += self.statement(statement)
        return out

    def statement(self, node: ast.stmt) -> list[ast.stmt]:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return [node]
        flag = None
        loop = isinstance(node, ast.While) or isinstance(node, ast.For) and self._is_range(node)
        if loop and not node.orelse and _guardable(node.body):  # type: ignore[attr-defined]
            flag = self._flag()
            node.body = _guarded(node.body, flag)  # type: ignore[attr-defined]
        for field in ("body", "orelse"):
            if isinstance(getattr(node, field, None), list) and not isinstance(node, ast.Try):
                setattr(node, field, self.block(getattr(node, field)))
        if isinstance(node, ast.If) and not _escapes(node.body + node.orelse):
            return self._if(node)
        if isinstance(node, ast.While) and not node.orelse and not _escapes(node.body):
            if not any(isinstance(n, (ast.Break, ast.Continue)) for n in _shallow(node.body)):
                return self._flagged(flag, node, self._while(node, flag))
        if isinstance(node, ast.For) and self._is_range(node) and not node.orelse:
            if not _escapes(node.body) and not any(
                isinstance(n, (ast.Break, ast.Continue)) for n in _shallow(node.body)
            ):
                return self._flagged(flag, node, self._for(node, flag))
        return [node]

    def _flagged(self, flag: str | None, node: ast.stmt, loop: list[ast.stmt]) -> list[ast.stmt]:
        """A loop whose break became `flag`, after the flag's start (not set)."""
        if flag is None:
            return loop
        start = ast.Assign([ast.Name(flag, ast.Store())], ast.Constant(0.0))
        return [ast.copy_location(start, node), *loop]

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

    def _while(self, node: ast.While, flag: str | None = None) -> list[ast.stmt]:
        names = _assigned(node.body)
        if not names:
            return [node]
        test_name, body_name = self._names("while_test"), self._names("while_body")
        test = node.test
        if flag is not None:  # `not flag and test`, the test unevaluated once it is set
            lazy = ast.Lambda(
                ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]),
                test,
            )
            test = ast.Call(
                ast.Name("__gg_unless", ast.Load()), [ast.Name(flag, ast.Load()), lazy], []
            )
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
                body=[ast.Return(test)],
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

    def _for(self, node: ast.For, flag: str | None = None) -> list[ast.stmt]:
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
                    ast.Constant(flag),
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
