"""The benchmark cases: each model at its sizes, and seeded inputs for each.

Inputs are `(params, data)`: every contender is called as `f(*params, *data)` and returns
the value and the gradients with respect to `params`, in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEED = 20240601
MODELS = ("linreg", "logreg", "mlp", "circuit", "elementwise", "rosenbrock", "rnn")

_LINEAR = {"small": {"N": 32, "D": 10}, "medium": {"N": 10_000, "D": 100}}
_LINEAR["large"] = {"N": 200_000, "D": 100}
_VECTOR = {"small": {"n": 1_000}, "large": {"n": 1_000_000}}
SIZES: dict[str, dict[str, dict[str, int]]] = {
    "linreg": _LINEAR,
    "logreg": _LINEAR,
    "mlp": {
        "small": {"N": 32, "D": 64, "H": 32, "C": 10},
        "medium": {"N": 256, "D": 784, "H": 256, "C": 10},
        "large": {"N": 4096, "D": 784, "H": 1024, "C": 10},
    },
    "circuit": {"small": {}},
    "elementwise": _VECTOR,
    "rosenbrock": _VECTOR,
    # an Elman RNN read out at each step (examples/rnn.py): H = 32, batch 16
    "rnn": {
        "small": {"T": 100, "N": 16, "D": 8, "H": 32},
        "large": {"T": 1_000, "N": 16, "D": 8, "H": 32},
    },
}


@dataclass(frozen=True)
class Case:
    """One model at one size."""

    model: str
    size: str  # "small", "medium" or "large"
    dims: dict[str, int]

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v:,}" for k, v in self.dims.items()) or "scalars"

    def inputs(self, seed: int = SEED) -> tuple[list, list]:
        """Fresh seeded `(params, data)` for this case."""
        return _MAKERS[self.model](np.random.default_rng(seed), **self.dims)


def cases(models: tuple[str, ...] = MODELS, quick: bool = False) -> list[Case]:
    """The cases of `models` in order; `quick` keeps the small size only."""
    return [
        Case(model, size, dims)
        for model in models
        for size, dims in SIZES[model].items()
        if not quick or size == "small"
    ]


def _linear(rng: np.random.Generator, N: int, D: int) -> tuple[np.ndarray, ...]:
    x = rng.standard_normal((N, D))
    w = 0.1 * rng.standard_normal(D)
    return x, w, x @ rng.standard_normal(D) / np.sqrt(D)


def _linreg(rng: np.random.Generator, N: int, D: int) -> tuple[list, list]:
    x, w, signal = _linear(rng, N, D)
    y = signal + 0.1 * rng.standard_normal(N)
    return [w, 0.1], [x, y]


def _logreg(rng: np.random.Generator, N: int, D: int) -> tuple[list, list]:
    x, w, signal = _linear(rng, N, D)
    y = (signal + 0.5 * rng.standard_normal(N) > 0).astype(np.float64)
    return [w, 0.1], [x, y]


def _mlp(rng: np.random.Generator, N: int, D: int, H: int, C: int) -> tuple[list, list]:
    w1 = rng.standard_normal((D, H)) / np.sqrt(D)
    b1 = 0.1 * rng.standard_normal(H)
    w2 = rng.standard_normal((H, C)) / np.sqrt(H)
    b2 = 0.1 * rng.standard_normal(C)
    x = rng.standard_normal((N, D))
    labels = rng.integers(0, C, N)
    return [w1, b1, w2, b2], [x, labels]


def _circuit(rng: np.random.Generator) -> tuple[list, list]:
    w0, w1, w2, x0, x1 = (float(v) for v in rng.standard_normal(5))
    return [w0, w1, w2], [x0, x1]


def _elementwise(rng: np.random.Generator, n: int) -> tuple[list, list]:
    return [rng.standard_normal(n), rng.standard_normal(n)], []


def _rosenbrock(rng: np.random.Generator, n: int) -> tuple[list, list]:
    return [rng.uniform(-1.5, 1.5, n)], []


def _rnn(rng: np.random.Generator, T: int, N: int, D: int, H: int) -> tuple[list, list]:
    w_x = rng.standard_normal((D, H)) / np.sqrt(D)
    w_h = 0.9 * rng.standard_normal((H, H)) / np.sqrt(H)
    b = 0.1 * rng.standard_normal(H)
    w_y = rng.standard_normal(H) / np.sqrt(H)
    xs = rng.standard_normal((T, N, D))
    targets = rng.standard_normal((T, N))
    return [w_x, w_h, b, w_y, 0.1], [np.zeros((N, H)), xs, targets]


_MAKERS = {
    "linreg": _linreg,
    "logreg": _logreg,
    "mlp": _mlp,
    "circuit": _circuit,
    "elementwise": _elementwise,
    "rosenbrock": _rosenbrock,
    "rnn": _rnn,
}
