"""Every batching rule against a loop: an equation replayed with some operands batched (a
leading axis of K values) must compute, for each k, the op on the k-th values (the vmap
consistency check of JAX's batching tests). The replayed equations are run with each op's
eager NumPy meaning, so the check is independent of the printer."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import gradgen.custom  # noqa: F401  (registers the custom-rule markers, batched too)
from gradgen.batching import batch_equations
from gradgen.graph_builder import Builder
from gradgen.ir import Var
from gradgen.ops import OPS
from gradgen.ops.indexing import normalize_index

K = 3
FULL = ("slice", None, None, None)


def _index(entries: Any, shape: tuple[int, ...]) -> Any:
    return normalize_index(entries, shape)


# (op, operand shapes (a str: integer indices of that shape, values below 3), params)
CASES: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("add", ((3,), (2, 3)), {}),
    ("mul", ((2, 1), (3,)), {}),
    ("where", ((2, 3), (2, 3), (3,)), {}),
    ("matmul", ((3,), (3,)), {}),
    ("matmul", ((2, 3), (3,)), {}),
    ("matmul", ((3,), (3, 4)), {}),
    ("matmul", ((2, 3), (3, 4)), {}),
    ("matmul", ((5, 2, 3), (3, 4)), {}),
    ("matmul", ((2, 3), (5, 3, 4)), {}),
    ("matmul", ((5, 2, 3), (5, 3, 4)), {}),
    ("matmul", ((3,), (5, 3, 4)), {}),
    ("matmul", ((5, 2, 3), (3,)), {}),
    ("outer", ((3,), (4,)), {}),
    ("trace", ((3, 3),), {}),
    ("inv", ((3, 3),), {}),
    ("cholesky", ((3, 3),), {}),
    ("tril", ((3, 3),), {}),
    ("solve", ((3, 3), (3,)), {}),
    ("solve", ((3, 3), (3, 2)), {}),
    ("solve", ((4, 3, 3), (4, 3, 2)), {}),
    ("det", ((3, 3),), {}),
    ("logabsdet", ((2, 3, 3),), {}),
    ("einsum", ((2, 3), (3, 4)), {"subscripts": "ij,jk->ik"}),
    ("einsum", ((2, 3),), {"subscripts": "ij->j"}),
    ("sum", ((2, 3),), {"axis": (1,), "keepdims": False}),
    ("sum", ((2, 3),), {"axis": None, "keepdims": True}),
    ("mean", ((2, 3),), {"axis": (0,), "keepdims": True}),
    ("prod", ((2, 3),), {"axis": (1,), "keepdims": False}),
    ("max", ((2, 3),), {"axis": None, "keepdims": False}),
    ("min", ((2, 3),), {"axis": (0,), "keepdims": False}),
    ("transpose", ((2, 3, 4),), {"axes": (2, 0, 1)}),
    ("broadcast_to", ((3,),), {"shape": (2, 3)}),
    ("broadcast_to", ((2, 1),), {"shape": (2, 3)}),
    ("expand_dims", ((2, 3),), {"axis": (1,)}),
    ("squeeze", ((2, 1, 3),), {"axis": (1,)}),
    ("reshape", ((2, 3),), {"shape": (3, 2)}),
    ("concatenate", ((2, 3), (1, 3)), {"axis": 0}),
    ("getitem", ((4, 3),), {"index": _index((slice(1, 3), 0), (4, 3))}),
    ("scatter", ((2,),), {"index": _index((slice(1, 3), 0), (4, 3)), "shape": (4, 3)}),
    (
        "scatter_sum",
        ((2, 3), (4,)),
        {
            "indices": (_index(slice(0, 2), (4, 3)), _index((slice(None), 1), (4, 3))),
            "shape": (4, 3),
        },
    ),
    ("take", ((4, 3), "5"), {"axis": 0}),
    ("take_add", ((5, 3), "5"), {"axis": 0, "shape": (4, 3)}),
    ("take_along_axis", ((4, 3), "4,1"), {"axis": 1}),
    ("along_axis_add", ((4, 1), "4,1"), {"axis": 1, "shape": (4, 3)}),
    ("cast_like", ((2, 3), (3,)), {}),
    ("copy", ((2, 3),), {}),
    ("stop_gradient", ((2, 3),), {}),
    ("zeros_like", ((2, 3),), {}),
    ("zeros", ((3,),), {"shape": (2, 2)}),
    ("eye", ((3,),), {"n": 3}),
]


def _value(shape: Any, rng: np.random.Generator) -> np.ndarray:
    if isinstance(shape, str):  # integer indices
        return rng.integers(0, 3, size=tuple(int(d) for d in shape.split(",")))
    return rng.normal(size=shape)


def _well_posed(op: str, value: np.ndarray, slot: int) -> np.ndarray:
    """Matrices the linear-algebra ops accept: symmetric positive definite for cholesky,
    well conditioned for inv, solve and det."""
    if op in ("cholesky", "inv", "solve", "det", "logabsdet") and slot == 0:
        n = value.shape[-1]
        return value @ np.swapaxes(value, -1, -2) + n * np.eye(n)
    return value


def _run(builder: Builder, env: dict[Var, np.ndarray]) -> None:
    for eq in builder.equations:
        args = [env[a] if isinstance(a, Var) else a.value for a in eq.inputs]  # type: ignore
        env[eq.out] = np.asarray(OPS[eq.op].eager(*args, **dict(eq.params)))


def _subsets(floats: list[int]) -> list[tuple[int, ...]]:
    return [c for r in range(1, len(floats) + 1) for c in itertools.combinations(floats, r)]


@pytest.mark.parametrize(
    "op, shapes, params", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_a_batched_equation_computes_the_op_on_each_batch_element(op, shapes, params) -> None:
    rng = np.random.default_rng(0)
    integer = [isinstance(s, str) for s in shapes]
    real_shapes = [tuple(int(d) for d in s.split(",")) if isinstance(s, str) else s for s in shapes]
    builder = Builder(frozenset())
    inputs = [builder.new_var(s, i) for s, i in zip(real_shapes, integer)]
    out = builder.emit(op, list(inputs), params)
    (eq,) = builder.equations
    values = [_well_posed(op, _value(s, rng), k) for k, s in enumerate(shapes)]
    floats = [k for k, i in enumerate(integer) if not i]
    if op == "where":
        floats = [1, 2]  # the condition is data: masks are never tangents
    for batched_slots in _subsets(floats):
        stacks = {
            k: np.stack([_well_posed(op, _value(shapes[k], rng), k) for _ in range(K)])
            for k in batched_slots
        }
        replay = Builder(frozenset())
        stand_ins = {inputs[k]: replay.new_var((K, *real_shapes[k])) for k in batched_slots}
        batched = batch_equations(replay, [eq], dict(stand_ins))
        env = {v: values[k] for k, v in enumerate(inputs)}
        env.update({stand_ins[inputs[k]]: stacks[k] for k in batched_slots})
        _run(replay, env)
        result = env[batched[out]]
        assert result.shape == (K, *out.shape), (op, batched_slots)
        for b in range(K):
            args = [stacks[k][b] if k in batched_slots else values[k] for k in range(len(shapes))]
            expected = OPS[op].eager(*args, **dict(eq.params))
            np.testing.assert_allclose(
                result[b], expected, rtol=1e-12, atol=1e-12, err_msg=f"{op} {batched_slots}"
            )


def test_every_op_with_a_batching_rule_has_a_case() -> None:
    """Ops batched by a rule of their own (not elementwise, not passing the batch through,
    not made by the compiler for derivatives only) each have a case above."""
    from gradgen.batching import BATCH_RULES

    covered = {case[0] for case in CASES}
    markers = {"custom_vjp", "custom_jvp", "one_hot", "ones"}  # tested by the fuzzer
    missing = sorted(set(BATCH_RULES) - covered - markers)
    assert not missing, missing
