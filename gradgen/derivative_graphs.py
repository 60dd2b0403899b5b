"""The graphs of the optional derivative functions: JVP, Jacobian, Hessian and HVP.

Each is built from the traced (prepared) graph with the two modes: `jvp` is forward mode;
`hvp` and `hessian` are forward over reverse (the tangent of the gradient); `jacobian` is
forward mode with a batch of basis tangents, or reverse mode with a batch of basis
cotangents when the value is the smaller side. Every graph's outputs are fresh arrays.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sympy

from gradgen.aliasing import own_outputs
from gradgen.errors import GradgenError
from gradgen.forward import push_tangents
from gradgen.graph_builder import Builder
from gradgen.ir import Equation, Graph, Lit, Var
from gradgen.ops import OPS
from gradgen.reverse import reverse_mode
from gradgen.shapes import Shape, broadcast_shapes, dim_expr, dim_from_expr
from gradgen.symbolic import elementwise_expression, fuse


def jvp_graph(forward: Graph, wrt: list[int], tangent_names: list[str]) -> Graph:
    """inputs + one tangent per wrt input (named `tangent_names`) -> (value, value_dot)."""
    _no_custom_vjp(forward)
    builder = _builder(forward)
    tangents = []
    for i, name in zip(wrt, tangent_names):
        tangent = builder.new_var(forward.inputs[i].shape)
        builder.hints[tangent] = name
        tangents.append(tangent)
    (value,) = forward.outputs
    dots = push_tangents(builder, forward.equations, dict(zip(_at(forward, wrt), tangents)), False)
    value_dot = dots.get(value) or builder.emit("zeros_like", [value])
    return _graph(builder, forward.inputs + tuple(tangents), (value, value_dot))


def hvp_graph(forward: Graph, wrt: list[int], vector_names: list[str]) -> Graph:
    """inputs + one vector per wrt input -> the Hessian-vector products, in wrt order: the
    tangent of the gradient along the vectors (forward over reverse)."""
    joint, builder = _gradient_builder(forward, wrt)
    vectors = []
    for i, name in zip(wrt, vector_names):
        vector = builder.new_var(forward.inputs[i].shape)
        builder.hints[vector] = name
        vectors.append(vector)
    grads = joint.outputs[1:]
    dots = push_tangents(builder, joint.equations, dict(zip(_at(forward, wrt), vectors)), False)
    products = tuple(
        dots.get(g) or builder.emit("zeros_like", [p]) for g, p in zip(grads, _at(forward, wrt))
    )
    names = [f"hvp_{name}" for name in _names(forward, wrt)]
    return _graph(builder, forward.inputs + tuple(vectors), products, names)


def hessian_graph(forward: Graph, wrt: list[int]) -> Graph:
    """inputs -> the blocks H[i][j] (shape param_i + param_j), row by row. One batched
    tangent pass per parameter j over its basis gives column j; by symmetry, reshaped,
    that is row j."""
    joint, builder = _gradient_builder(forward, wrt)
    params = _at(forward, wrt)
    grads = joint.outputs[1:]
    blocks: dict[tuple[int, int], Var] = {}
    for j, param in enumerate(params):
        dots = _push_basis(builder, joint.equations, param)
        for i, (grad, other) in enumerate(zip(grads, params)):
            blocks[j, i] = _block(builder, dots.get(grad), param.shape + other.shape, other)
    labels = _names(forward, wrt)
    pairs = [(i, j) for i in range(len(params)) for j in range(len(params))]
    outputs = tuple(blocks[i, j] for i, j in pairs)
    names = [f"hessian_{labels[i]}_{labels[j]}" for i, j in pairs]
    return _graph(builder, forward.inputs, outputs, names)


def jacobian_graph(forward: Graph, wrt: list[int]) -> Graph:
    """inputs -> for each wrt parameter the Jacobian, shape value.shape + param.shape.

    A scalar value's Jacobian is its gradient. Otherwise each parameter takes the cheaper
    side: reverse mode over a basis of the value's cotangents when the value has fewer
    elements than the parameter (or a custom_vjp rule must be used), else forward mode over
    a basis of the parameter's tangents.
    """
    (value,) = forward.outputs
    params = _at(forward, wrt)
    joint, builder = _gradient_builder(forward, wrt)
    names = [f"jacobian_{name}" for name in _names(forward, wrt)]
    if value.shape == ():
        return _graph(builder, forward.inputs, joint.outputs[1:], names)
    results: dict[int, Var] = {}
    reverse = [
        k
        for k, p in enumerate(params)
        if _size(value.shape) < _size(p.shape) or _custom_vjps(forward)
    ]
    if reverse:  # one pass gives every such parameter's rows
        d_value = joint.inputs[-1]
        basis = _basis(builder, value)
        dots = push_tangents(builder, joint.equations, {d_value: basis}, True)
        for k in reverse:
            shape = value.shape + params[k].shape
            results[k] = _block(builder, dots.get(joint.outputs[1 + k]), shape, params[k])
    for k, param in enumerate(params):
        if k in reverse:
            continue
        dots = _push_basis(builder, forward.equations, param)
        columns = dots.get(value)  # (K, *value.shape): one column per basis tangent
        if columns is None:
            results[k] = builder.emit("zeros", [param], {"shape": value.shape + param.shape})
            continue
        if param.shape == ():  # one tangent, unbatched: the column itself
            results[k] = columns
            continue
        last = tuple(range(1, columns.ndim)) + (0,)
        moved = builder.emit("transpose", [columns], {"axes": last})
        results[k] = builder.emit("reshape", [moved], {"shape": value.shape + param.shape})
    outputs = tuple(results[k] for k in range(len(params)))
    return _graph(builder, forward.inputs, outputs, names)


def value_and_grad_graph(joint: Graph, wrt: list[int]) -> Graph:
    """The joint graph of a one-element value with its cotangent fixed to 1: inputs ->
    value, gradients (, aux). Elementwise equations take the number 1 in place of d_value
    (SymPy then folds it away: 2*g*e/N becomes 2*e/N); a result left without any array
    operand (2*g becomes 2) is written into its elementwise readers in turn. Other readers
    get ones in the first parameter's dtype."""
    d_value = joint.inputs[-1]
    value = joint.outputs[0]
    folded: dict[Var, Equation] = {}  # array-free results, written into their readers
    equations = []
    for eq in joint.equations:
        if OPS[eq.op].elementwise:
            for atom in dict.fromkeys(eq.vars()):
                if atom in folded and _keeps_shape(fused := fuse(folded[atom], eq)):
                    eq = fused
            if any(a is d_value for a in eq.inputs):
                with_one = _with_one(eq, d_value)
                if any(isinstance(a, Var) for a in with_one.inputs):
                    if _keeps_shape(with_one):  # else d_value gave the shape: it stays
                        eq = with_one
                else:  # kept as it is too, for readers that need an array
                    folded[eq.out] = with_one
        equations.append(eq)
    if any(a is d_value for eq in equations for a in eq.inputs):
        like = joint.inputs[wrt[0]]
        equations.insert(0, Equation("ones", (like,), d_value, (("shape", value.shape),)))
    return joint.replace(inputs=joint.inputs[:-1], equations=tuple(equations))


# -- helpers


def _keeps_shape(eq: Equation) -> bool:
    """Whether an elementwise equation's operands still broadcast to its declared shape
    (writing 1 for a (1, 1) d_value would leave a smaller one)."""
    shapes = [a.shape for a in eq.inputs if isinstance(a, Var)]
    return broadcast_shapes(*shapes) == eq.out.shape


def _with_one(eq: Equation, d_value: Var) -> Equation:
    """An elementwise equation with 1 written in for d_value, as an `ew` (2*g*e/N is
    2*e/N)."""
    eq = replace(eq, inputs=tuple(Lit(1) if a is d_value else a for a in eq.inputs))
    expr, atoms = elementwise_expression(eq)
    return replace(eq, op="ew", inputs=tuple(atoms), params=(("expr", expr),))


def _custom_vjps(graph: Graph) -> list[Equation]:
    return [eq for eq in graph.equations if eq.op == "custom_vjp"]


def _no_custom_vjp(graph: Graph) -> None:
    """Forward mode cannot use a reverse-mode rule (as in JAX): a clear error instead."""
    for eq in _custom_vjps(graph):
        name = eq.param("rule")
        raise GradgenError(
            f"forward mode (jvp) cannot use the custom_vjp rule of {name}: it only says how "
            "gradients flow backwards.",
            eq.source,
            f"give {name} a custom_jvp rule instead (reverse mode transposes it), or use "
            "'jacobian', 'hvp' or 'hessian', which work with custom_vjp.",
        )


def _at(graph: Graph, indices: list[int]) -> list[Var]:
    return [graph.inputs[i] for i in indices]


def _names(graph: Graph, indices: list[int]) -> list[str]:
    return [str(graph.hints[graph.inputs[i]]) for i in indices]


def _push_basis(builder: Builder, equations: tuple[Equation, ...], param: Var) -> dict[Var, Var]:
    """The tangents made by seeding `param` with each of its basis arrays at once (a batch
    of them), or, for a scalar parameter, with 1 (no batch)."""
    if param.shape == ():
        return push_tangents(builder, equations, {param: builder.emit("ones_like", [param])}, False)
    return push_tangents(builder, equations, {param: _basis(builder, param)}, True)


def _builder(graph: Graph) -> Builder:
    builder = Builder(frozenset())
    builder.equations = list(graph.equations)
    builder.hints = dict(graph.hints)
    return builder


def _gradient_builder(forward: Graph, wrt: list[int]) -> tuple[Graph, Builder]:
    """The joint forward + backward graph with its cotangent d_value (still listed last among
    its inputs) bound to 1 by an equation, and a builder holding its equations."""
    joint = reverse_mode(forward, wrt)
    (value,) = forward.outputs
    d_value = joint.inputs[-1]
    # 1 in the dtype of the first parameter (the value's, for float inputs), made without
    # the value so that nothing computes the value only to read its dtype.
    ones = Equation("ones", (forward.inputs[wrt[0]],), d_value, (("shape", value.shape),))
    joint = joint.replace(equations=(ones, *joint.equations))
    builder = _builder(joint)
    return joint, builder


def _graph(
    builder: Builder,
    inputs: tuple[Var, ...],
    outputs: tuple[Var, ...],
    names: list[str] | None = None,
) -> Graph:
    """The built graph, every output a fresh array (copied where it would share memory),
    the outputs named `names` in the generated code (hessian_w_b) when given."""
    graph = own_outputs(
        Graph(inputs, tuple(builder.equations), outputs, builder.hints), len(outputs)
    )
    if names is None:
        return graph
    return graph.replace(hints={**graph.hints, **dict(zip(graph.outputs, names))})


def _size(shape: Shape) -> Any:
    """The number of elements, with each named dim taken as 1000 to compare sizes."""
    total = sympy.Mul(*(dim_expr(d) for d in shape))
    return total.subs({s: 1000 for s in total.free_symbols})


def _basis(builder: Builder, param: Var) -> Var:
    """The K standard basis arrays of param's shape stacked: shape (K, *param.shape)."""
    count = dim_from_expr(sympy.Mul(*(dim_expr(d) for d in param.shape)))
    identity = builder.emit("eye", [param], {"n": count})
    return builder.emit("reshape", [identity], {"shape": (count, *param.shape)})


def _block(builder: Builder, batched: Var | None, shape: Shape, like: Var) -> Var:
    """A batch of tangents (K, ...) laid out as `shape`, or zeros when there is none."""
    if batched is None:
        return builder.emit("zeros", [like], {"shape": shape})
    return builder.emit("reshape", [batched], {"shape": shape})
