"""`verify(graph)`: the IR's invariants, checked after every pass in the tests.

Every var is bound once, before it is used; every equation's shape and kind (integer or
float) are what its op's rules give; a fused elementwise expression reads only its operands;
every output is bound; a loop's body is a graph that passes the same checks, whose inputs
and outputs match the loop's operands and results. A pass that breaks a type is a compiler
bug, found at compile time.
"""

from __future__ import annotations

from gradgen.ir import Equation, Graph, Lit, Var
from gradgen.ops import OPS
from gradgen.ops.control import cond_parts, result_shapes, scan_parts
from gradgen.ops.elementwise import operand_symbols

# Ops whose result kind is a param or the caller's choice rather than a rule of the inputs.
_ANY_KIND = frozenset({"custom_vjp", "custom_jvp"})


class IRError(AssertionError):
    """The graph breaks an invariant: a compiler bug, never a user error."""


def verify(graph: Graph) -> Graph:
    """Raise IRError when `graph` is malformed; return it unchanged otherwise."""
    bound: set[Var] = set(graph.inputs)
    if len(bound) != len(graph.inputs):
        raise IRError("an input is listed twice")
    producers: dict[Var, Equation] = {}
    for eq in graph.equations:
        for v in eq.vars():
            if v not in bound:
                raise IRError(f"{eq.op} uses var {v.id} before it is bound")
        if eq.out in bound:
            raise IRError(f"var {eq.out.id} is bound twice")
        if eq.op not in OPS:
            raise IRError(f"unknown op {eq.op!r}")
        op = OPS[eq.op]
        shapes = [a.shape if isinstance(a, Var) else () for a in eq.inputs]
        shape, params = op.shape_rule(shapes, dict(eq.params))
        if shape != eq.out.shape:
            raise IRError(f"{eq.op} gives shape {shape}, the graph says {eq.out.shape}")
        integer = op.integer_result(  # as `Builder.emit` decides: a literal by its value
            [
                a.integer if isinstance(a, Var) else isinstance(a.value, int)
                for a in eq.inputs
                if isinstance(a, (Var, Lit))
            ]
        )
        if eq.op not in _ANY_KIND and integer != eq.out.integer:
            kind = "integer" if integer else "float"
            raise IRError(f"{eq.op} gives {kind} data, the graph says {eq.out.type_str()}")
        if eq.op == "scan":
            _verify_scan(eq)
        if eq.op == "cond":
            _verify_cond(eq)
        if eq.op == "scan_output":
            _verify_scan_output(eq, producers)
        if eq.op == "ew":
            unknown = eq.param("expr").free_symbols - set(operand_symbols(len(eq.inputs)))
            if unknown:
                raise IRError(f"ew reads {sorted(map(str, unknown))}, not among its operands")
        bound.add(eq.out)
        producers[eq.out] = eq
    for v in graph.outputs:
        if v not in bound:
            raise IRError(f"output var {v.id} is never bound")
    return graph


def _verify_scan(eq: Equation) -> None:
    """The body is well formed, and its inputs and outputs have the operands' types."""
    parts = scan_parts(eq)
    body = verify(parts.body)
    expected = 1 + len(parts.consts) + len(parts.carries) + len(parts.xs)
    if len(body.inputs) != expected or len(body.outputs) < len(parts.carries):
        raise IRError("a scan's body does not take its consts, carries and slices")
    if parts.cond is not None:
        cond = verify(parts.cond)
        if cond.inputs != body.inputs or [v.type_str() for v in cond.outputs] != ["i[]"]:
            raise IRError("a while loop's condition is not a flag of its body's inputs")
    counter = parts.counter
    if counter.shape != () or not counter.integer:
        raise IRError("a scan's step counter is not an integer scalar")

    def kind(atom: object) -> tuple[object, bool]:
        if isinstance(atom, Var):
            return atom.shape, atom.integer
        return (), isinstance(getattr(atom, "value", None), int)

    for operand, inner in zip(parts.consts, parts.body_consts):
        if kind(operand) != kind(inner):
            raise IRError(f"scan const {inner.type_str()} stands for another type")
    for operand, inner, new in zip(parts.carries, parts.body_carries, parts.new_carries):
        if inner.integer or new.integer or kind(operand)[0] != inner.shape:
            raise IRError(f"scan carry {inner.type_str()} changes type or is integer")
        if inner.shape != new.shape:
            raise IRError(f"scan carry {inner.type_str()} becomes {new.type_str()}")
    for operand, inner in zip(parts.xs, parts.body_slices):
        if not isinstance(operand, Var) or operand.shape != (parts.length, *inner.shape):
            raise IRError(f"scan slice {inner.type_str()} is not a row of its operand")


def _verify_scan_output(eq: Equation, producers: dict[Var, Equation]) -> None:
    token = eq.inputs[0]
    loop = producers.get(token) if isinstance(token, Var) else None
    if loop is None or loop.op not in ("scan", "cond"):
        raise IRError("scan_output reads no scan or cond")
    shapes = result_shapes(loop)
    index = int(eq.param("result"))  # type: ignore[arg-type]
    if not 0 <= index < len(shapes) or shapes[index] != eq.out.shape:
        raise IRError(f"scan_output {index} is not a result of its scan")


def _verify_cond(eq: Equation) -> None:
    """Both branches are well formed, take the operands' types and give the same types."""
    parts = cond_parts(eq)
    true, false = verify(parts.true), verify(parts.false)
    pred = parts.pred
    if not isinstance(pred, Var) or pred.shape != () or not pred.integer:
        raise IRError("a cond's predicate is not one boolean")
    if true.inputs != false.inputs or len(true.inputs) != len(parts.operands):
        raise IRError("a cond's branches do not take its operands")
    for operand, inner in zip(parts.operands, true.inputs):
        shape = operand.shape if isinstance(operand, Var) else ()
        if shape != inner.shape:
            raise IRError(f"cond operand {inner.type_str()} stands for another type")
    if [v.type_str() for v in true.outputs] != [v.type_str() for v in false.outputs]:
        raise IRError("a cond's branches give results of different types")
