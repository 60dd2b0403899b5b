"""Random well-typed gradgen programs, written as model files.

A `Program` is a list of steps `name = <expression>` over typed inputs, rendered as the
text of an ordinary model file (`Program.source`); the model's extra module-level names
(`DTYPE`, `SEED`, `INDEX_BOUNDS`, `SCALARS`, `DIMS`) say how to draw its inputs, so a
saved program is just that file. The generator covers the op set through both names, `F.`
(gradgen) and `NP.` (NumPy functions on traced values); ranks 0 to 3 with size-1 dims
common and broadcasting everywhere; the same operand used twice; integer indices with
duplicates; float32 and float64; 0-d arguments passed as Python floats, NumPy scalars and
0-d arrays; loops (`F.fori_loop`, `F.scan` and `F.while_loop` over lambdas that close
over earlier values, read the counter or the slice, run in reverse, stop at a test or at
max_steps, break out of a fori_loop at a test of the carry (`while_fun`), keep only
checkpoints for the backward (`checkpoint_every`), and hold a loop of their own) and
branches (`F.cond`); every emit kind.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

Dim = int | str
Shape = tuple[Dim, ...]

DIM_SIZES = {"N": 3, "M": 2}  # named dims of fuzz programs, and their sizes at run time
SCALAR_KINDS = ("python", "numpy", "array")  # how a 0-d float argument is passed


@dataclass(frozen=True)
class Value:
    """A value a step can read: an input or an earlier step."""

    name: str  # its Python name in the model
    shape: Shape  # dims: ints or names in DIM_SIZES
    kind: str = "f"  # "f" float, "i" integer indices

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass(frozen=True)
class Program:
    """One random model: `f(inputs) -> result`, with the steps in between."""

    inputs: tuple[Value, ...]  # arguments, in order
    steps: tuple[tuple[Value, str], ...]  # (bound value, expression) in order
    result: str  # the returned expression
    result_shape: Shape  # its shape
    wrt: tuple[str, ...]  # differentiated arguments
    emit: tuple[str, ...]  # emit kinds
    dtype: str = "float64"  # the float arguments' dtype
    seed: int = 0  # draws the input values
    index_bounds: dict[str, int] = field(default_factory=dict)  # int input -> exclusive bound
    scalars: dict[str, str] = field(default_factory=dict)  # 0-d float input -> SCALAR_KINDS

    def source(self) -> str:
        def annotation(v: Value) -> str:
            kind = "IntArray" if v.kind == "i" else "Array"
            dims = ", ".join(repr(d) for d in v.shape)
            return f"{kind}[{dims or '()'}]"

        header = ", ".join(f"{v.name}: {annotation(v)}" for v in self.inputs)
        body = [f"    {v.name} = {text}" for v, text in self.steps]
        return "\n".join(
            [
                '"""A differential-fuzz program (tests/fuzz)."""',
                "",
                "import numpy as NP",
                "",
                "import gradgen as F",
                "from gradgen import Array, IntArray",
                "",
                f"DTYPE = {self.dtype!r}",
                f"SEED = {self.seed}",
                f"INDEX_BOUNDS = {self.index_bounds!r}",
                f"SCALARS = {self.scalars!r}",
                f"DIMS = {DIM_SIZES!r}",
                "",
                "",
                f"@F.function(wrt={self.wrt!r}, emit={self.emit!r})",
                f"def f({header}):",
                *body,
                f"    return {self.result}",
                "",
            ]
        )


def size(d: Dim) -> int:
    """A dim's run-time size; named dims may be expressions such as "2*N"."""
    return eval(d, {}, dict(DIM_SIZES)) if isinstance(d, str) else d


def broadcast(a: Shape, b: Shape) -> Shape | None:
    """gradgen's broadcasting: dims agree when equal (by name) or one is 1."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out: list[Dim] = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(out)


UNARY = [  # (template, needs) - {x} is the operand; domains kept by construction
    "F.exp({x})",
    "NP.exp({x})",
    "F.log({x} * {x} + 0.5)",
    "NP.log(F.exp({x}) + 1.0)",
    "F.log2(F.square({x}) + 1.0)",
    "F.log10(F.exp({x}))",
    "F.log1p(F.exp({x}))",
    "F.expm1({x})",
    "F.sqrt({x} * {x} + 0.1)",
    "NP.sqrt(F.exp({x}))",
    "F.square({x})",
    "F.reciprocal(F.exp({x}) + 0.5)",
    "F.sin({x})",
    "NP.cos({x})",
    "F.tan(0.5 * F.tanh({x}))",
    "F.arcsin(0.9 * F.tanh({x}))",
    "F.arccos(0.9 * F.tanh({x}))",
    "F.arctan({x})",
    "F.sinh({x})",
    "F.cosh({x})",
    "F.tanh({x})",
    "NP.tanh({x})",
    "F.arcsinh({x})",
    "F.erf({x})",
    "F.sigmoid({x})",
    "F.softplus({x})",
    "F.relu({x})",
    "F.abs({x})",
    "NP.abs({x})",
    "F.sign({x}) * {x}",
    "F.clip({x}, -0.5, 0.8)",
    "NP.clip({x}, -1.0, 0.3)",
    "-{x}",
    "{x} ** 2",
    "{x} ** 3.0",
    "2.0 ** {x}",
    "F.power(F.exp({x}), 1.5)",
    "F.power(0.0, F.exp({x}))",
    "F.stop_gradient({x}) * {x}",
    "0.5 * {x}",
    "{x} / 3.0",
    "1.0 - {x}",
]

BINARY = [  # {a} and {b} broadcast together
    "{a} + {b}",
    "{a} - {b}",
    "{a} * {b}",
    "{a} / ({b} * {b} + 0.5)",
    "F.maximum({a}, {b})",
    "F.minimum({a}, {b})",
    "NP.maximum({a}, {b})",
    "F.arctan2({a}, {b})",
    "F.power(F.exp({a}), {b})",
    "F.where({a} > {b}, {a}, {b})",
    "F.where({a} <= {b}, {a} * {b}, {b})",
    "NP.where({a} < 0.0, {a}, {b})",
    "F.where({a} >= {b}, {a}, {a})",
    "F.where({b} > 0.0, {a}, 0.0)",
    "NP.add({a}, {b})",
    "NP.multiply({a}, {b})",
]

REDUCTIONS = ["F.sum", "F.mean", "F.max", "F.min", "F.prod", "F.var", "F.std", "F.logsumexp"]
NP_REDUCTIONS = ["NP.sum", "NP.mean", "NP.max", "NP.min", "NP.prod"]


class Generator:
    """Builds one random program from a seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.inputs: list[Value] = []
        self.values: list[Value] = []  # float values steps may read
        self.steps: list[tuple[Value, str]] = []
        self.index_bounds: dict[str, int] = {}

    # -- shapes and inputs
    def shape(self, rank: int | None = None) -> Shape:
        rank = self.rng.choice([0, 1, 1, 2, 2, 2, 3, 3]) if rank is None else rank
        return tuple(self.rng.choice([1, 1, 2, 3, "N", "M"]) for _ in range(rank))

    def new_input(self, shape: Shape, kind: str = "f", bound: int = 0) -> Value:
        v = Value(f"{'i' if kind == 'i' else 'x'}{len(self.inputs)}", shape, kind)
        self.inputs.append(v)
        if kind == "i":
            self.index_bounds[v.name] = bound
        else:
            self.values.append(v)
        return v

    def bind(self, text: str, shape: Shape) -> Value:
        v = Value(f"t{len(self.steps)}", shape)
        self.steps.append((v, text))
        self.values.append(v)
        return v

    def pick(self) -> Value:
        recent = self.values[-3:]
        return self.rng.choice(recent if self.rng.random() < 0.6 else self.values)

    def partner(self, a: Value) -> tuple[str, Shape]:
        """An operand that broadcasts with `a`: a itself, another value, a new input or a
        literal; (its text, the broadcast shape)."""
        r = self.rng.random()
        if r < 0.15:
            return a.name, a.shape
        if r < 0.25:
            return repr(self.rng.choice([0.5, -1.5, 2.0, 3.0])), a.shape
        if r < 0.6:
            fits = [v for v in self.values if broadcast(a.shape, v.shape) is not None]
            v = self.rng.choice(fits)
            return v.name, broadcast(a.shape, v.shape)  # type: ignore[return-value]
        shape = list(a.shape)
        for i in range(len(shape)):
            if self.rng.random() < 0.3:
                shape[i] = 1
        if shape and self.rng.random() < 0.3:
            shape = shape[self.rng.randint(1, len(shape)) :]
        if len(shape) == len(a.shape) < 3 and self.rng.random() < 0.2:
            shape = [self.rng.choice([1, 2, "N"])] + shape  # a leading axis a lacks
        v = self.new_input(tuple(shape))
        return v.name, broadcast(a.shape, v.shape)  # type: ignore[return-value]

    # -- steps
    def step(self) -> None:
        a = self.pick()
        kinds = [self.unary, self.binary, self.binary, self.reduce, self.shape_op, self.index]
        kinds += [self.contract, self.normalize, self.linear_algebra, self.loss, self.loop]
        for make in self.rng.sample(kinds, len(kinds)):
            if make(a):
                return

    def unary(self, a: Value) -> bool:
        self.bind(self.rng.choice(UNARY).format(x=a.name), a.shape)
        return True

    def binary(self, a: Value) -> bool:
        b, shape = self.partner(a)
        first, second = (a.name, b) if self.rng.random() < 0.7 else (b, a.name)
        template = self.rng.choice(BINARY)
        if not _is_name(b):  # a literal: the array goes first in calls and conditions
            if template.startswith(("F.", "NP.")):
                first, second = a.name, b
            if "where" in template:
                template = "F.where({a} > 0.0, {a}, {b})"
        self.bind(template.format(a=first, b=second), shape)
        return True

    def axis(self, a: Value) -> tuple[str, tuple[int, ...]]:
        """A random axis argument for `a`: its text, and the axes it names."""
        r = self.rng.random()
        if a.ndim == 0 or r < 0.3:
            return "", tuple(range(a.ndim))
        if r < 0.75 or a.ndim == 1:
            k = self.rng.randrange(a.ndim)
            text = str(k - a.ndim if self.rng.random() < 0.3 else k)
            return f", axis={text}", (k,)
        axes = tuple(sorted(self.rng.sample(range(a.ndim), 2)))
        return f", axis={axes}", axes

    def reduce(self, a: Value) -> bool:
        text, axes = self.axis(a)
        keep = self.rng.random() < 0.3
        name = self.rng.choice(REDUCTIONS + NP_REDUCTIONS)
        if a.ndim == 0 and name.startswith("NP."):
            name = "F" + name[2:]
        if keep:
            shape = tuple(1 if i in axes else d for i, d in enumerate(a.shape))
            text += ", keepdims=True"
        else:
            shape = tuple(d for i, d in enumerate(a.shape) if i not in axes)
        self.bind(f"{name}({a.name}{text})", shape)
        return True

    def normalize(self, a: Value) -> bool:
        if a.ndim == 0:
            return False
        k = self.rng.randrange(a.ndim)
        self.bind(f"F.{self.rng.choice(['softmax', 'log_softmax'])}({a.name}, axis={k})", a.shape)
        return True

    def shape_op(self, a: Value) -> bool:
        r = self.rng.random()
        if r < 0.2 and a.ndim >= 2:
            perm = list(range(a.ndim))
            self.rng.shuffle(perm)
            text = f"F.transpose({a.name}, {tuple(perm)})"
            self.bind(text, tuple(a.shape[p] for p in perm))
        elif r < 0.3 and a.ndim >= 1:
            self.bind(f"{a.name}.T", a.shape[::-1])
        elif r < 0.45 and all(isinstance(d, int) for d in a.shape) and a.ndim:
            total = 1
            for d in a.shape:
                total *= d
            target = (total,) if total in (1, 5, 7) else self.rng.choice([(total,), (1, total)])
            self.bind(f"F.reshape({a.name}, {target})", target)
        elif r < 0.55 and a.ndim < 3:
            k = self.rng.randint(0, a.ndim)
            self.bind(f"F.expand_dims({a.name}, {k})", a.shape[:k] + (1,) + a.shape[k:])
        elif r < 0.65 and 1 in a.shape:
            k = a.shape.index(1)
            self.bind(f"F.squeeze({a.name}, {k})", a.shape[:k] + a.shape[k + 1 :])
        elif r < 0.75 and a.ndim < 3:
            shape = (self.rng.choice([2, "N"]),) + tuple(
                self.rng.choice([2, 3]) if d == 1 else d for d in a.shape
            )
            self.bind(f"F.broadcast_to({a.name}, {shape!r})", shape)
        elif r < 0.88 and a.ndim >= 1:
            k = self.rng.randrange(a.ndim)
            b, _ = self.partner(a)
            others = [v for v in self.values if v.shape == a.shape]
            b = self.rng.choice(others).name
            if self.rng.random() < 0.5 and isinstance(a.shape[k], int):
                shape = a.shape[:k] + (2 * a.shape[k],) + a.shape[k + 1 :]
                self.bind(f"F.concatenate([{a.name}, {b}], axis={k})", shape)
            else:
                self.bind(f"F.stack([{a.name}, {b}], axis={k})", a.shape[:k] + (2,) + a.shape[k:])
        else:
            return False
        return True

    def index(self, a: Value) -> bool:
        if a.ndim == 0:
            return False
        k = self.rng.randrange(a.ndim)
        d = a.shape[k]
        lead = ":, " * k
        r = self.rng.random()
        if r < 0.35 and size(d) >= 2:
            i = self.rng.randint(-1, 1)
            self.bind(f"{a.name}[{lead}{i}]", a.shape[:k] + a.shape[k + 1 :])
        elif r < 0.55 and isinstance(d, int) and d >= 2:
            self.bind(f"{a.name}[{lead}1:]", a.shape[:k] + (d - 1,) + a.shape[k + 1 :])
        elif r < 0.65:
            self.bind(f"{a.name}[{lead}None]", a.shape[:k] + (1,) + a.shape[k:])
        elif r < 0.85:
            n = self.rng.choice([1, 2, 4])
            i = self.new_input((n,), "i", size(d))
            self.bind(
                f"F.take({a.name}, {i.name}, axis={k})", a.shape[:k] + (n,) + a.shape[k + 1 :]
            )
        else:
            n = self.rng.choice([1, 2, 3])
            shape = a.shape[:k] + (n,) + a.shape[k + 1 :]
            i = self.new_input(shape, "i", size(d))
            self.bind(f"F.take_along_axis({a.name}, {i.name}, axis={k})", shape)
        return True

    def contract(self, a: Value) -> bool:
        r = self.rng.random()
        if a.ndim == 0:
            return False
        inner = a.shape[-1]
        if r < 0.35:
            n = self.rng.choice([1, 2, "N"])
            other = (inner, n) if self.rng.random() < 0.7 else (inner,)
            b = self.choose_or_new(other)
            op = self.rng.choice(["{a} @ {b}", "F.matmul({a}, {b})", "NP.matmul({a}, {b})"])
            shape = a.shape[:-1] + other[1:]
            self.bind(op.format(a=a.name, b=b), shape)
        elif r < 0.5 and a.ndim <= 2:
            other = (inner,) if self.rng.random() < 0.5 else (inner, 2)
            b = self.choose_or_new(other)
            self.bind(
                f"{self.rng.choice(['F', 'NP'])}.dot({a.name}, {b})", a.shape[:-1] + other[1:]
            )
        elif r < 0.6 and a.ndim == 1:
            b = self.choose_or_new((self.rng.choice([1, 2, 3]),))
            shape = (a.shape[0], dict((v.name, v.shape) for v in self.values)[b][0])
            self.bind(f"F.outer({a.name}, {b})", shape)
        elif r < 0.7 and a.ndim == 2 and a.shape[0] == a.shape[1]:
            self.bind(f"{self.rng.choice(['F', 'NP'])}.trace({a.name})", ())
        else:
            return self.einsum(a)
        return True

    def linear_algebra(self, a: Value) -> bool:
        """A matrix function of a positive definite b @ b.T (b: n x (n + 1)), or a norm."""
        if self.rng.random() < 0.3:
            text, axes = self.axis(a)
            shape = tuple(d for i, d in enumerate(a.shape) if i not in axes)
            self.bind(f"F.linalg.norm({a.name}{text})", shape)
            return True
        n = self.rng.choice([1, 2, 3])
        b = self.new_input((n, n + 1)).name
        gram = f"({b} @ F.transpose({b}))"
        r = self.rng.random()
        if r < 0.25:
            self.bind(f"F.linalg.inv({gram})", (n, n))
        elif r < 0.45:
            v = self.choose_or_new((n,) if self.rng.random() < 0.5 else (n, 2))
            shape = dict((x.name, x.shape) for x in self.values)[v]
            self.bind(f"F.linalg.solve({gram}, {v})", shape)
        elif r < 0.65:
            self.bind(f"F.linalg.det({gram})", ())
        elif r < 0.85:
            self.bind(f"F.linalg.slogdet({gram})[1]", ())
        else:
            self.bind(f"F.linalg.cholesky({gram})", (n, n))
        return True

    def loss(self, a: Value) -> bool:
        r = self.rng.random()
        if r < 0.4 and a.ndim:
            b, shape = self.partner(a)
            if shape != a.shape:
                return False
            name = self.rng.choice(["mse_loss", "huber_loss", "binary_cross_entropy_with_logits"])
            if name == "binary_cross_entropy_with_logits":
                b = f"F.sigmoid({b})"
            self.bind(f"F.{name}({a.name}, {b})", ())
        elif r < 0.7 and a.ndim == 2 and isinstance(a.shape[1], int):
            labels = self.new_input((a.shape[0],), "i", a.shape[1])
            self.bind(f"F.cross_entropy({a.name}, {labels.name})", ())
        elif a.ndim >= 1 and isinstance(a.shape[-1], int) and a.shape[-1] % 2 == 0:
            k = a.ndim - 1
            half = a.shape[-1] // 2
            part = self.rng.randint(0, 1)
            self.bind(f"F.split({a.name}, 2, axis={k})[{part}]", a.shape[:-1] + (half,))
        elif a.ndim >= 1 and isinstance(a.shape[0], int) and a.shape[0] >= 2:
            step = self.rng.choice(["::2", "::-1", "-2:", ":-1"])
            n = a.shape[0]
            size = {"::2": (n + 1) // 2, "::-1": n, "-2:": 2, ":-1": n - 1}[step]
            self.bind(f"{a.name}[{step}]", (size,) + a.shape[1:])
        else:
            return False
        return True

    def einsum(self, a: Value) -> bool:
        letters = "ijkl"[: a.ndim]
        r = self.rng.random()
        if r < 0.3 and a.ndim >= 2 and a.shape[0] == a.shape[1]:
            spec, shape = "ii" + letters[2:] + "->" + self.rng.choice(["", "i"]), None
            out = spec.split("->")[1]
            shape = (a.shape[0],) if out else ()
            self.bind(f"F.einsum({spec!r}, {a.name})", shape)
            return True
        if r < 0.45:
            spec = "..." + letters[-1:] + "->..."
            self.bind(f"F.einsum({spec!r}, {a.name})", a.shape[:-1])
            return True
        m = self.rng.choice([1, 2, 3])
        b = self.choose_or_new((a.shape[-1], m))
        spec = f"{letters},{letters[-1]}z->{letters[:-1]}z"
        self.bind(f"NP.einsum({spec!r}, {a.name}, {b})", a.shape[:-1] + (m,))
        return True

    def loop(self, a: Value) -> bool:
        """A fori_loop or a scan whose carry starts at `a`, written as a lambda over the
        carry `c` and the counter `i` or the slice `s`, closing over earlier values."""
        shape = a.shape
        if self.rng.random() < 0.15:  # a branch on the data
            taken, other = self.carry_update(shape, []), self.carry_update(shape, [])
            test = f"F.sum({self.pick().name}) > {self.rng.choice([0.0, 0.5, -1.0])}"
            self.bind(f"F.cond({test}, lambda c: {taken}, lambda c: {other}, {a.name})", shape)
            return True
        if self.rng.random() < 0.2:  # a while loop: a counted carry, and a test of the data
            limit = self.rng.choice([0.0, 1.0, 2.5, 4.0])
            new = self.carry_update(shape, [])
            cap = self.rng.choice(["", ", max_steps=2", ", max_steps=9"])
            test = f"s[1] + 0.0 * F.sum(s[0]) < {limit}"  # (reading the data too)
            step = f"((lambda c: {new})(s[0]), s[1] + 1.0)"
            text = f"F.while_loop(lambda s: {test}, lambda s: {step}, ({a.name}, 0.0){cap})[0]"
            self.bind(text, shape)
            return True
        if self.rng.random() < 0.4:
            lower = self.rng.choice([0, 0, 1])
            upper = lower + self.rng.choice([0, 1, 2, 3, 5])
            new = self.carry_update(shape, ["0.1 * i"])
            stop = ""
            if self.rng.random() < 0.25:  # a break once the data passes a bound
                bound = self.rng.choice([-0.5, 0.0, 0.5, 2.0])
                stop = f", while_fun=lambda c: F.sum(c) < {bound}"
            self.bind(f"F.fori_loop({lower}, {upper}, lambda i, c: {new}, {a.name}{stop})", shape)
            return True
        length = self.rng.choice([1, 2, 3, "N"])
        row = tuple(1 if self.rng.random() < 0.3 else d for d in shape)
        if row and self.rng.random() < 0.3:
            row = row[self.rng.randint(1, len(row)) :]
        xs = self.choose_or_new((length, *row))
        new = self.carry_update(shape, ["s"])
        reverse = ", reverse=True" if self.rng.random() < 0.3 else ""
        if self.rng.random() < 0.25:  # the backward makes each segment's values again
            reverse += f", checkpoint_every={self.rng.choice([1, 2, 3])}"
        r = self.rng.random()
        if r < 0.3:
            self.bind(f"F.scan(lambda c, s: ({new}, None), {a.name}, {xs}{reverse})[0]", shape)
            return True
        y = self.rng.choice(UNARY).format(x="(c * s)")
        y_shape = shape
        if r < 0.5:
            y, y_shape = f"F.sum({y})", ()
        index = self.rng.choice([0, 1, 1])
        text = f"F.scan(lambda c, s: ({new}, {y}), {a.name}, {xs}{reverse})[{index}]"
        self.bind(text, shape if index == 0 else (length, *y_shape))
        return True

    def carry_update(self, shape: Shape, extras: list[str]) -> str:
        """A new value of the carry `c` of `shape`, bounded (a squashing function of an
        elementwise expression) so that loops neither blow up nor overflow."""
        fits = [v.name for v in self.values if broadcast(shape, v.shape) == shape]
        operands = ["c", *extras, *fits, repr(self.rng.choice([0.5, -1.5, 2.0]))]
        if self.rng.random() < 0.1:  # a loop in the loop
            operands.append("F.fori_loop(0, 2, lambda j, d: F.tanh(d * c + 0.1 * j), c)")
        carry = "c" if self.rng.random() < 0.5 else self.rng.choice(UNARY).format(x="c")
        other = self.rng.choice(operands)
        inner = self.rng.choice(BINARY).format(a=carry, b=other)
        if not _is_name(other) and other[0].isdigit() or other.startswith("-"):
            inner = f"{carry} * {other}"  # a literal goes after the array
        wrap = self.rng.choice(
            ["F.tanh({})", "F.sin({})", "NP.cos({})", "F.sigmoid({})", "F.arctan({})", "0.5 * ({})"]
        )
        return wrap.format(inner)

    def choose_or_new(self, shape: Shape) -> str:
        fits = [v for v in self.values if v.shape == shape]
        if fits and self.rng.random() < 0.5:
            return self.rng.choice(fits).name
        return self.new_input(shape).name

    # -- the whole program
    def program(self) -> Program:
        rng = self.rng
        for _ in range(rng.randint(1, 2)):
            self.new_input(self.shape())
        for _ in range(rng.randint(1, 7)):
            self.step()
        last = self.values[-1]
        if last.ndim and rng.random() < 0.25 and all(size(d) <= 3 for d in last.shape):
            result, result_shape = last.name, last.shape
        else:
            used = {last.name} | {v.name for v in rng.sample(self.values, min(2, len(self.values)))}
            result = " + ".join(f"F.sum({n})" for n in sorted(used))
            result_shape = ()
        floats = [v.name for v in self.inputs if v.kind == "f"]
        wrt = tuple(sorted(rng.sample(floats, rng.randint(1, len(floats))), key=floats.index))
        scalar = result_shape == ()
        emit = ["grad"] + [
            kind
            for kind in ("jvp", "jacobian", "hessian", "hvp")
            if rng.random() < 0.3 and (scalar or kind in ("jvp", "jacobian"))
        ]
        dtype = "float32" if rng.random() < 0.2 else "float64"
        kinds = SCALAR_KINDS if dtype == "float64" else SCALAR_KINDS[1:]  # a Python float is 64-bit
        scalars = {v.name: rng.choice(kinds) for v in self.inputs if v.kind == "f" and v.ndim == 0}
        return Program(
            tuple(self.inputs),
            tuple(self.steps),
            result,
            result_shape,
            wrt,
            tuple(emit),
            dtype,
            self.seed,
            dict(self.index_bounds),
            scalars,
        )


def _is_name(text: str) -> bool:
    return text.isidentifier()


def generate(seed: int) -> Program:
    """The random program of `seed` (the same program for the same seed)."""
    return Generator(seed).program()


def with_inputs_removed(program: Program, unused: set[str]) -> Program:
    """`program` without the arguments named in `unused` (no step may read them)."""
    inputs = tuple(v for v in program.inputs if v.name not in unused)
    return replace(
        program,
        inputs=inputs,
        wrt=tuple(w for w in program.wrt if w not in unused),
        index_bounds={k: b for k, b in program.index_bounds.items() if k not in unused},
        scalars={k: s for k, s in program.scalars.items() if k not in unused},
    )
