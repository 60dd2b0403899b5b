"""What the forward pass saves for the backward pass, in the manner of AOTAutograd's
partitioner: the joint graph is split into the equations the value needs (forward) and
those only the gradients need (backward); `saved` is exactly what backward reads of the
forward, and views NumPy makes for free are recomputed instead of saved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gradgen.codegen.printer import mean_count
from gradgen.ir import Body, DimSize, Equation, Graph, Var, live_vars
from gradgen.ops.control import cond_parts, scan_parts, with_loop_results
from gradgen.shapes import dim_names


@dataclass(frozen=True)
class Partition:
    """The joint graph's equations as the two passes of the generated code."""

    forward: list[Equation]  # computes the value
    backward: list[Equation]  # computes the gradients from saved values and d_value
    saved: list[Var]  # forward values backward reads, in definition order
    saved_dims: list[str]  # dimension sizes backward reads


# Ops that NumPy answers with a view: recomputing them in backward is free, saving them
# would keep a second name for memory the forward already saved.
_FREE_VIEWS = frozenset({"transpose", "expand_dims"})


def partition(joint: Graph, wrt_count: int) -> Partition:
    """Split `joint` (inputs + d_value -> value, `wrt_count` gradients, aux values)."""
    value, *rest = joint.outputs
    grads, aux = rest[:wrt_count], rest[wrt_count:]
    forward_vars = with_loop_results(joint.equations, live_vars(joint.equations, [value, *aux]))
    forward = [eq for eq in joint.equations if eq.out in forward_vars]
    needed = live_vars(joint.equations, grads)
    backward = [eq for eq in joint.equations if eq.out in needed and eq.out not in forward_vars]
    backward_vars = {eq.out for eq in backward}  # never an argument: those are saved
    made_in_backward = backward_vars | {joint.inputs[-1]}
    order = list(joint.inputs[:-1]) + [eq.out for eq in forward]
    producers = {eq.out: eq for eq in forward}
    while True:
        read = {v for eq in backward for v in eq.vars()} | set(grads)
        if all(d == 1 for d in value.shape):
            read.add(value)  # one element: its default cotangent is np.ones_like(value)
        saved = [v for v in order if v in read and v not in made_in_backward]
        views = [producers[v] for v in saved if v in producers and producers[v].op in _FREE_VIEWS]
        if not views:
            break
        backward = views + backward
        made_in_backward |= {eq.out for eq in views}
    return Partition(forward, backward, saved, sorted(dims_used(backward)))


def dims_used(equations: Iterable[Equation]) -> set[str]:
    """The dimension names the printed equations read (bound from argument shapes)."""
    dims: set[str] = set()
    equations = list(equations)
    stacked = {  # the loops' results these equations bind
        (eq.inputs[0], eq.param("result")) for eq in equations if eq.op == "scan_output"
    }
    for eq in equations:
        if eq.op == "cond":
            parts = cond_parts(eq)
            dims |= dims_used(parts.true.equations) | dims_used(parts.false.equations)
        if isinstance(eq.param("body"), Body):
            # the trip count, and the shapes of the arrays the loop stacks its values in
            parts = scan_parts(eq)
            own = dims_used(parts.body.equations) | dim_names(parts.length)
            n_carry = len(parts.carries)
            for j, y in enumerate(parts.ys):
                if (eq.out, n_carry + j) in stacked:
                    own |= {name for d in y.shape for name in dim_names(d)}
            if parts.cond is not None:  # a while loop binds its length itself
                own = (own | dims_used(parts.cond.equations)) - dim_names(parts.length)
                own |= dim_names(parts.max_steps)  # (its cap may be a dim: `while steps < T`)
            dims |= own
        for atom in eq.inputs:
            if isinstance(atom, DimSize):
                dims |= dim_names(atom.name)
        shape = eq.param("shape")
        if isinstance(shape, tuple):
            for d in shape:
                dims |= dim_names(d)
        if eq.op == "mean":  # printed as a sum over the count (printer.mean_count)
            dims |= {str(s) for s in mean_count(eq).free_symbols}
        dims |= dim_names(eq.param("classes"))  # type: ignore[arg-type]
        dims |= dim_names(eq.param("n"))  # type: ignore[arg-type]
        indices = eq.param("indices") or (eq.param("index") or (),)  # type: ignore[operator]
        for index in indices:  # type: ignore[union-attr]
            for entry in index:
                for bound in entry[1:]:
                    dims |= dim_names(bound)
    return dims
