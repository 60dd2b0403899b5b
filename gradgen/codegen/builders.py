"""One builder per kind of emitted function: each turns a compiled function into the flat
context the template lays out (name, parameters, docstring lines, body lines and blocks).

For a traced function `f` the module defines `f` (the value), `f_forward` (value and
`saved`), `f_backward` (gradients from `saved`), `f_value_and_grad`, `f_grad` and, as
`emit` asks, `f_jvp`, `f_jacobian`, `f_hessian` and `f_hvp` (see the README).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gradgen.codegen.partition import Partition, dims_used, partition
from gradgen.codegen.printer import NumPyCodePrinter
from gradgen.codegen.statements import Block, Line, commented, dim_bindings, inlined, statements
from gradgen.ir import Equation, Graph, Var, live_vars
from gradgen.naming import assign_names
from gradgen.shapes import format_shape


@dataclass(frozen=True)
class FunctionSource:
    """What the emitter needs to know about one compiled function."""

    name: str  # the user's function name
    arg_names: tuple[str, ...]  # in order
    wrt: tuple[str, ...]  # differentiated arguments, in order
    wrt_is_sequence: bool  # gradients returned as a tuple (else one array)
    forward: Graph  # as traced: the formula and the hash come from it
    joint: Graph  # optimized forward + backward (inputs + d_value -> value, grads, aux)
    emit: tuple[str, ...] = ("grad",)  # which functions to generate (api.EMIT_KINDS)
    has_aux: bool = False  # the value comes with an aux dict
    aux_names: tuple[str, ...] = ()  # the aux dict's keys, in order
    derived: tuple[tuple[str, Graph], ...] = ()  # (kind, optimized graph): jvp, hessian, ...

    def outputs(self) -> tuple[Var, list[Var], list[Var]]:
        """The joint graph's value, gradients and aux values."""
        value, *rest = self.joint.outputs
        return value, rest[: len(self.wrt)], rest[len(self.wrt) :]


@dataclass(frozen=True)
class Context:
    """One generated function, as the template lays it out."""

    name: str  # e.g. loss_backward
    params: list[str]  # its parameters, in order
    doc: list[str]  # docstring lines
    body: list[Line]  # statements and blocks (the template indents them)


def function_contexts(
    f: FunctionSource, joint: JointLayout, printer: NumPyCodePrinter
) -> list[Context]:
    """The contexts of f and, as `emit` asks, its other functions, in module order."""
    contexts = [value_function(f, joint, printer)]
    if "grad" in f.emit:
        fused = dict(f.derived).get("value_and_grad")
        contexts += [
            forward_function(f, joint, printer),
            backward_function(f, joint, printer),
            (
                fused_value_and_grad_function(f, fused, printer)
                if fused is not None
                else value_and_grad_function(f, joint)
            ),
            grad_function(f, joint, fused is not None),
        ]
    for kind, graph in f.derived:
        if kind != "value_and_grad":
            contexts.append(derived_function(f, kind, graph, printer))
    return contexts


class JointLayout:
    """The joint graph as the forward/backward pair prints it: the partition, the values
    each side writes inline, and one set of names for both sides (which the docstring's
    formula uses too)."""

    def __init__(self, f: FunctionSource) -> None:
        graph = f.joint
        self.value, self.grads, self.aux = f.outputs()
        self.split: Partition = partition(graph, len(f.wrt))
        kept = [self.value, *self.aux, *self.split.saved]
        self.forward_inline = inlined(self.split.forward, kept, graph.hints)
        self.backward_inline = inlined(self.split.backward, self.grads, graph.hints)
        in_forward = {eq.out for eq in self.split.forward}
        in_backward = {eq.out for eq in self.split.backward}
        nameless = (
            (self.forward_inline - in_backward)
            | (self.backward_inline - in_forward)
            | (self.forward_inline & self.backward_inline)
        )
        self.graph = graph
        self.names = assign_names(graph, skip=nameless)
        self.args = [self.names[v] for v in graph.inputs[:-1]]
        self.saved_items = [self.names[v] for v in self.split.saved] + self.split.saved_dims

    def forward_statements(
        self,
        printer: NumPyCodePrinter,
        inline: set[Var],
        keep: list[Var],
        equations: Sequence[Equation] | None = None,
    ) -> list[Line]:
        """The forward's statements (or those of `equations`, some of them)."""
        return [
            line
            for _, lines in statements(
                self.split.forward if equations is None else equations,
                self.names,
                inline,
                printer,
                keep,
                self.graph.hints,
                self.graph.inputs[:-1],
            )
            for line in lines
        ]


def value_function(f: FunctionSource, joint: JointLayout, printer: NumPyCodePrinter) -> Context:
    """f(...): the value only. Saving nothing, it may write more inline than f_forward
    (and its loops stack no residuals for a backward)."""
    outputs = [joint.value, *joint.aux]
    live = live_vars(joint.split.forward, outputs)
    equations = [eq for eq in joint.split.forward if eq.out in live]
    inference_inline = inlined(equations, outputs, joint.graph.hints)
    shapes = ", ".join(f"{joint.names[v]} {format_shape(v.shape)}" for v in joint.graph.inputs[:-1])
    doc = [
        f"Value of `{f.name}`, shape {format_shape(joint.value.shape)}{_aux_note(f).rstrip(',')}; "
        "saves nothing.",
        "",
        f"Argument shapes: {shapes}.",
    ]
    body = dim_bindings(joint.graph.inputs[:-1], joint.names, dims_used(equations))
    body += _floats_first(
        printer,
        joint.graph.inputs[:-1],
        equations,
        lambda p: joint.forward_statements(p, inference_inline, outputs, equations),
        [f"return {_value_text(f, joint.value, joint.aux, joint.names)}"],
        joint.names,
    )
    return Context(f.name, joint.args, doc, body)


def forward_function(f: FunctionSource, joint: JointLayout, printer: NumPyCodePrinter) -> Context:
    """f_forward(...): the value and what the backward reads, `saved`."""
    result = _value_text(f, joint.value, joint.aux, joint.names)
    value_and_aux = f"({result})" if f.has_aux else result
    dims = dims_used(joint.split.forward) | set(joint.split.saved_dims)
    keep = [joint.value, *joint.aux, *joint.split.saved]
    body: list[Line] = [*dim_bindings(joint.graph.inputs[:-1], joint.names, dims)]
    body += joint.forward_statements(printer, joint.forward_inline, keep)
    body += [f"saved = {_tuple_text(joint.saved_items)}", f"return {value_and_aux}, saved"]
    doc = [f"Value of `{f.name}`{_aux_note(f)} and the `saved` `{f.name}_backward` needs."]
    return Context(f.name + "_forward", joint.args, doc, body)


def backward_function(f: FunctionSource, joint: JointLayout, printer: NumPyCodePrinter) -> Context:
    """f_backward(saved, d_value, accumulate_into): unpack `saved`, default `d_value`, the
    statements grouped under the user's line each comes from, then the gradients in `wrt`
    order (added into `accumulate_into` when it is given)."""
    names, saved_items = joint.names, joint.saved_items
    backward = statements(
        joint.split.backward,
        names,
        joint.backward_inline,
        printer,
        joint.grads,
        joint.graph.hints,
        joint.graph.inputs[-1:],
    )
    body: list[Line] = []
    if saved_items:
        body.append(f"{', '.join(saved_items)}{',' if len(saved_items) == 1 else ''} = saved")
    body.append(
        Block("if d_value is None:", _default_cotangent(f.name, joint.value, names, printer))
    )
    body += commented(backward, joint.graph.hints, joint.graph, names)
    taken = {names[eq.out] for eq, _ in backward if eq.out in names}
    taken |= set(saved_items) | {"saved", "d_value"}
    aliases, returned = _gradient_names(f, [names[g] for g in joint.grads], taken)
    if aliases:
        body += ["", *aliases]
    trailing_comma = "," if f.wrt_is_sequence and len(returned) == 1 else ""
    printer.helpers.add("_accumulate")
    if f.wrt_is_sequence:
        accumulated = f"return _accumulate(accumulate_into, {_tuple_text(returned)})"
    else:
        accumulated = f"return _accumulate((accumulate_into,), ({returned[0]},))[0]"
    body.append(Block("if accumulate_into is not None:", [accumulated]))
    body.append(f"return {', '.join(returned)}{trailing_comma}")
    doc = [
        f"Gradients of `{f.name}` with respect to {', '.join(f.wrt)}, given `saved` from the "
        "forward.",
        "",
        "This is the vector-Jacobian product with `d_value`, the gradient of the final",
        "result with respect to the value (default 1 when the value has one element).",
        "Given `accumulate_into` (arrays in wrt order), the gradients are added into",
        "them in place, and they are returned.",
    ]
    return Context(
        f.name + "_backward", ["saved", "d_value=None", "accumulate_into=None"], doc, body
    )


def value_and_grad_function(f: FunctionSource, joint: JointLayout) -> Context:
    """f_value_and_grad(...) as f_forward then f_backward (a value of several elements)."""
    call = ", ".join(joint.args)
    doc = [f"Value of `{f.name}`{_aux_note(f)} and its gradients with respect to {_wrt(f)}."]
    body: list[Line] = [
        f"value, saved = {f.name}_forward({call})",
        f"return value, {f.name}_backward(saved)",
    ]
    return Context(f.name + "_value_and_grad", joint.args, doc, body)


def fused_value_and_grad_function(
    f: FunctionSource, graph: Graph, printer: NumPyCodePrinter
) -> Context:
    """f_value_and_grad as one straight-line function (forward, then backward with the
    cotangent 1 folded in): no call overhead, no saved tuple, no d_value array."""
    inline = inlined(graph.equations, graph.outputs, graph.hints)
    names = assign_names(graph, skip=inline)
    value, *rest = graph.outputs
    grads, aux = rest[: len(f.wrt)], rest[len(f.wrt) :]
    taken = {names[v] for v in graph.inputs}
    taken |= {names[eq.out] for eq in graph.equations if eq.out not in inline}
    aliases, returned = _gradient_names(f, [names[g] for g in grads], taken)
    result = _value_text(f, value, aux, names)
    if f.has_aux:
        result = f"({result})"
    gradients = _tuple_text(returned) if f.wrt_is_sequence else returned[0]
    body: list[Line] = [*dim_bindings(graph.inputs, names, dims_used(graph.equations))]
    body += _floats_first(
        printer,
        graph.inputs,
        graph.equations,
        lambda p: commented(
            statements(graph.equations, names, inline, p, graph.outputs, graph.hints, graph.inputs),
            graph.hints,
            graph,
            names,
        ),
        [*aliases, f"return {result}, {gradients}"],
        names,
    )
    doc = [
        f"Value of `{f.name}`{_aux_note(f)} and its gradients with respect to {_wrt(f)}.",
        "",
        "The forward and backward passes in one function, the value's cotangent 1 folded in.",
    ]
    return Context(f"{f.name}_value_and_grad", [names[v] for v in graph.inputs], doc, body)


def grad_function(f: FunctionSource, joint: JointLayout, fused: bool) -> Context:
    """f_grad(...): the gradients only (and the aux dict)."""
    call = ", ".join(joint.args)
    source = f"{f.name}_value_and_grad({call})" if fused else f"{f.name}_forward({call})"
    body: list[Line]
    if f.has_aux and fused:
        body = [f"(_, aux), grads = {source}", "return grads, aux"]
    elif f.has_aux:
        body = [f"(_, aux), saved = {source}", f"return {f.name}_backward(saved), aux"]
    elif fused:
        body = [f"return {source}[1]"]
    else:
        body = [f"return {f.name}_backward({source}[1])"]
    doc = [f"Gradients of `{f.name}` with respect to {_wrt(f)}{_aux_note(f).rstrip(',')}."]
    return Context(f.name + "_grad", joint.args, doc, body)


_DERIVED_DOCS = {
    "jvp": "Value of `{f}` and its Jacobian-vector product with the tangents `{tangents}`\n"
    "(forward mode, one pass): (value, value_dot).",
    "jacobian": "Jacobian of `{f}` with respect to {wrt}: for each, an array of shape\n"
    "value.shape + parameter.shape.",
    "hessian": "Hessian of `{f}` with respect to {wrt}: the blocks H[i][j] of shape\n"
    "param_i.shape + param_j.shape.",
    "hvp": "Hessian-vector products of `{f}` with the vectors `{tangents}`, in the order\n"
    "{wrt} (forward over reverse mode; the Hessian is never formed).",
}


def derived_function(
    f: FunctionSource, kind: str, graph: Graph, printer: NumPyCodePrinter
) -> Context:
    """f_<kind> (jvp, jacobian, hessian, hvp) for its graph, in straight line."""
    inline = inlined(graph.equations, graph.outputs, graph.hints)
    names = assign_names(graph, skip=inline)
    params = [names[v] for v in graph.inputs]
    vectors = params[len(f.arg_names) :]  # the tangents (jvp) or vectors (hvp)
    body: list[Line] = []
    if kind in ("jvp", "hvp"):
        printer.helpers.add("_check_shapes")
        primals = [params[f.arg_names.index(w)] for w in f.wrt]
        body.append(
            f"_check_shapes({f.name + '_' + kind!r}, {_tuple_text([repr(v) for v in vectors])}, "
            f"{_tuple_text(primals)}, {_tuple_text(vectors)})"
        )
    body += dim_bindings(graph.inputs, names, dims_used(graph.equations))
    body += commented(
        statements(
            graph.equations, names, inline, printer, graph.outputs, graph.hints, graph.inputs
        ),
        graph.hints,
        graph,
        names,
    )
    outputs = [names[v] for v in graph.outputs]
    if kind == "jvp":
        returned = ", ".join(outputs)
    elif kind == "hessian" and f.wrt_is_sequence:
        n = len(f.wrt)
        returned = _tuple_text([_tuple_text(outputs[i * n : (i + 1) * n]) for i in range(n)])
    elif f.wrt_is_sequence:
        returned = _tuple_text(outputs)
    else:
        returned = outputs[0]
    doc = _DERIVED_DOCS[kind].format(f=f.name, wrt=_wrt(f), tangents=", ".join(vectors))
    return Context(f"{f.name}_{kind}", params, doc.split("\n"), body + [f"return {returned}"])


# -- pieces the builders share


def _wrt(f: FunctionSource) -> str:
    return ", ".join(f.wrt)


def _aux_note(f: FunctionSource) -> str:
    return ", with the aux dict," if f.has_aux else ""


def _tuple_text(items: Sequence[str]) -> str:
    if not items:
        return "()"
    if len(items) == 1:
        return f"({items[0]},)"
    return "(" + ", ".join(items) + ")"


def _default_cotangent(
    name: str, value: Var, names: dict[Var, str], printer: NumPyCodePrinter
) -> list[Line]:
    """The body of `if d_value is None:` in the backward function."""
    shape = value.shape
    if all(d == 1 for d in shape):  # one element: 1 in the value's dtype (float32 stays)
        return [f"d_value = {printer.np('ones_like')}({names[value]})"]
    message = (
        f"{name}_backward needs d_value: the value has shape {format_shape(shape)}, "
        "not a single element"
    )
    return [f"raise ValueError({message!r})"]


def _value_text(f: FunctionSource, value: Var, aux: list[Var], names: dict[Var, str]) -> str:
    """What a function returns for the value: `value`, or `value, {"accuracy": ...}`."""
    if not f.has_aux:
        return names[value]
    entries = ", ".join(f"{key!r}: {names[v]}" for key, v in zip(f.aux_names, aux))
    return f"{names[value]}, {{{entries}}}"


def _gradient_names(
    f: FunctionSource, returned: list[str], taken: set[str]
) -> tuple[list[Line], list[str]]:
    """A gradient that is another value's gradient (d_x = d_q for q = x + y) gets its own
    name: (alias statements, the names returned)."""
    aliases: list[Line] = []
    returned = list(returned)
    for i, param in enumerate(f.wrt):
        wanted = f"d_{param}"
        if returned[i] != wanted and wanted not in taken:
            aliases.append(f"{wanted} = {returned[i]}")
            returned[i] = wanted
            taken.add(wanted)
    return aliases, returned


def _floats_first(
    printer: NumPyCodePrinter,
    inputs: Sequence[Var],
    equations: Sequence[Equation],
    lines: Callable[[NumPyCodePrinter], list[Line]],
    tail: list[Line],
    names: dict[Var, str],
) -> list[Line]:
    """`lines(printer)` then `tail` (which returns). When every value is a scalar and the
    first float argument is a Python float, the lines are first printed for Python floats
    (`PythonFloatPrinter`, with `math`), which skips NumPy's 0-d overhead; math raises on
    overflow and at domain edges where NumPy gives inf or nan, and then the NumPy lines
    run. (Testing the first float
    argument only keeps the test cheap: with float arguments of one kind, as the README
    asks, it speaks for all; a 0-d array beside Python floats gets a Python float.)"""
    floats = [v for v in inputs if not v.integer]
    if (
        not floats
        or any(v.shape != () for v in inputs)
        or any(eq.out.shape != () for eq in equations)
    ):
        return lines(printer) + tail
    fast = lines(printer.python_floats())
    slow = lines(printer)
    if fast == slow:
        return slow + tail
    head = f"if type({names[floats[0]]}) is float:  # Python floats: math, not NumPy's 0-d arrays"
    attempt = [
        Block("try:", fast + tail),
        Block(
            "except (ArithmeticError, ValueError):",
            ["pass  # math raised where NumPy gives inf or nan: NumPy's code below runs"],
        ),
    ]
    return [Block(head, attempt), *slow, *tail]
