"""Train the MLP example (examples/mlp.py) on 8x8 digits with its generated module.

Run from the repository root after `gradgen compile examples/`:

    python examples/train_mlp.py

Uses scikit-learn's bundled digits when scikit-learn is installed
(`pip install ".[examples]"`), else a synthetic 10-class set of the same shape. Only numpy
and the generated module run the training: gradgen is not needed here.
"""

import sys
from pathlib import Path

import numpy as np


def load_data(rng: np.random.Generator) -> tuple[str, np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        centers = rng.normal(size=(10, 64))
        labels = rng.integers(0, 10, size=1500)
        images = centers[labels] + 2.5 * rng.normal(size=(1500, 64))
        return "synthetic digits", images, labels
    digits = load_digits()
    return "scikit-learn digits", digits.data / 16.0, digits.target


def main(steps: int = 150, learning_rate: float = 0.5, hidden: int = 32) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "generated"))
    from mlp_grad import loss_value_and_grad

    rng = np.random.default_rng(0)
    name, x, labels = load_data(rng)
    order = rng.permutation(len(labels))
    train, test = order[: len(order) * 4 // 5], order[len(order) * 4 // 5 :]
    w1 = rng.normal(scale=0.1, size=(64, hidden))
    b1 = np.zeros(hidden)
    w2 = rng.normal(scale=0.1, size=(hidden, 10))
    b2 = np.zeros(10)

    def accuracy(rows: np.ndarray) -> float:
        logits = np.tanh(x[rows] @ w1 + b1) @ w2 + b2
        return float(np.mean(np.argmax(logits, axis=1) == labels[rows]))

    print(f"{name}: {len(train)} training and {len(test)} test images")
    for step in range(steps + 1):
        loss, (d_w1, d_b1, d_w2, d_b2) = loss_value_and_grad(
            w1, b1, w2, b2, x[train], labels[train]
        )
        if step % 25 == 0:
            print(f"step {step:3d}  loss {loss:.4f}  test accuracy {accuracy(test):.3f}")
        w1 -= learning_rate * d_w1
        b1 -= learning_rate * d_b1
        w2 -= learning_rate * d_w2
        b2 -= learning_rate * d_b2


if __name__ == "__main__":
    main()
