"""Algebraic identities on shape ops, which the chain rule tends to produce:

- transpose(transpose(x)) is one transpose, or x itself when the axes cancel;
- squeeze(sum(x, axes, keepdims=True), axes) is sum(x, axes);
- a reshape (or broadcast_to) to the shape x already has is x; reshape(reshape(x)) is one;
  expand_dims or reshape of a broadcast scalar is that scalar broadcast to the new shape
  (which fold_broadcasts then leaves to NumPy's broadcasting);
- stop_gradient(x) and the custom-rule markers are x once differentiated;
- eye @ x and x @ eye are x (basis tangents of Jacobians and Hessians start as eye);
- (a.T @ b).T of matrices is b.T @ a (and (a @ b.T).T is b @ a.T): the transpose of a
  product whose operand is a transpose, as reverse mode writes it for `q @ k.T`, becomes
  the product a reader expects, with one transpose fewer.
"""

from __future__ import annotations

from dataclasses import replace

from gradgen.ir import Equation, Graph, Var, fresh_var

# Ops whose value is their first operand's; they matter only while differentiating.
_PASS_THROUGH = frozenset({"stop_gradient", "custom_vjp", "custom_jvp"})


_SWAP = (1, 0)


def _transposed(
    operand: Var, producers: dict[Var, Equation], equations: list[Equation], like: Equation
) -> Var:
    """operand.T of a matrix: the source of a transpose, else a new transpose equation."""
    made = producers.get(operand)
    if made is not None and made.op == "transpose" and made.param("axes") == _SWAP:
        return made.inputs[0]  # type: ignore[return-value]
    out = fresh_var((operand.shape[1], operand.shape[0]), operand.integer)
    view = replace(like, op="transpose", inputs=(operand,), out=out, params=(("axes", _SWAP),))
    producers[out] = view
    equations.append(view)
    return out


def _a_transpose(atom: object, producers: dict[Var, Equation]) -> bool:
    made = producers.get(atom) if isinstance(atom, Var) else None
    return made is not None and made.op == "transpose" and made.param("axes") == _SWAP


def run(graph: Graph) -> Graph:
    producers: dict[Var, Equation] = {}
    mapping: dict[Var, Var] = {}
    equations: list[Equation] = []
    uses = graph.use_counts()
    for eq in graph.equations:
        eq = replace(
            eq, inputs=tuple(mapping.get(a, a) if isinstance(a, Var) else a for a in eq.inputs)
        )
        source = (
            producers.get(eq.inputs[0]) if eq.inputs and isinstance(eq.inputs[0], Var) else None
        )
        if eq.op in _PASS_THROUGH and isinstance(eq.inputs[0], Var):
            mapping[eq.out] = eq.inputs[0]  # their derivatives are made: only the value is left
            continue
        if (
            eq.op in ("reshape", "broadcast_to")
            and isinstance(eq.inputs[0], Var)
            and eq.inputs[0].shape == eq.param("shape")
        ):
            mapping[eq.out] = eq.inputs[0]
            continue
        if eq.op == "matmul":
            for identity, other in ((0, 1), (1, 0)):
                operand = eq.inputs[identity]
                made = producers.get(operand) if isinstance(operand, Var) else None
                kept = eq.inputs[other]
                if (
                    made is not None
                    and made.op == "eye"
                    and getattr(kept, "shape", None) == eq.out.shape
                ):
                    mapping[eq.out] = kept  # type: ignore[assignment]
                    break
            if eq.out in mapping:
                continue
        if (
            eq.op in ("expand_dims", "reshape")
            and source is not None
            and source.op == "broadcast_to"
            and isinstance(source.inputs[0], Var)
            and source.inputs[0].shape == ()
        ):  # a broadcast scalar, reshaped: the scalar broadcast to the new shape
            eq = replace(
                eq, op="broadcast_to", inputs=source.inputs, params=(("shape", eq.out.shape),)
            )
        elif eq.op == "reshape" and source is not None and source.op == "reshape":
            eq = replace(eq, inputs=source.inputs)
        elif (
            eq.op == "transpose"
            and eq.param("axes") == _SWAP
            and source is not None
            and source.op == "matmul"
            and uses.get(source.out, 0) == 1
            and all(isinstance(a, Var) and a.ndim == 2 for a in source.inputs)
            and any(_a_transpose(a, producers) for a in source.inputs)
        ):  # (a @ b).T = b.T @ a.T, a transpose of a transpose cancelling
            a, b = source.inputs
            b_t = _transposed(b, producers, equations, source)  # type: ignore[arg-type]
            a_t = _transposed(a, producers, equations, source)  # type: ignore[arg-type]
            eq = replace(eq, op="matmul", inputs=(b_t, a_t), params=(), origin=source.origin)
        elif eq.op == "transpose" and source is not None and source.op == "transpose":
            inner, outer = source.param("axes"), eq.param("axes")
            axes = tuple(inner[i] for i in outer)  # type: ignore[index]
            if axes == tuple(range(len(axes))):
                mapping[eq.out] = source.inputs[0]  # type: ignore[assignment]
                continue
            eq = replace(eq, inputs=source.inputs, params=(("axes", axes),))
        elif (
            eq.op == "squeeze"
            and source is not None
            and source.op == "sum"
            and source.param("keepdims")
            and source.param("axis") == eq.param("axis")
        ):
            eq = replace(
                eq,
                op="sum",
                inputs=source.inputs,
                params=(("axis", eq.param("axis")), ("keepdims", False)),
            )
        producers[eq.out] = eq
        equations.append(eq)
    outputs = tuple(mapping.get(v, v) for v in graph.outputs)
    hints = dict(graph.hints)
    for old, new in mapping.items():  # a name (the user's, hessian_w_b) goes to the stand-in
        if isinstance(hints.get(old), str) and new not in graph.inputs:
            if not isinstance(hints.get(new), str):
                hints[new] = hints[old]
    return graph.replace(equations=tuple(equations), outputs=outputs, hints=hints)
