"""Train the linear-regression example by gradient descent with its generated module.

Run from the repository root after `gradgen compile examples/`:

    python examples/train_linear_regression.py

Only numpy and the generated module are used: gradgen is not needed at training time.
"""

import sys
from pathlib import Path

import numpy as np


def main(steps: int = 100, learning_rate: float = 0.1) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "generated"))
    from linear_regression_grad import loss_value_and_grad

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = x @ np.array([2.0, -1.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=200)

    w, b = np.zeros(3), 0.0
    for step in range(steps + 1):
        loss, (d_w, d_b) = loss_value_and_grad(w, b, x, y)
        if step % 10 == 0:
            print(f"step {step:3d}  loss {loss:.6f}")
        w -= learning_rate * d_w
        b -= learning_rate * d_b
    print(f"w = {np.round(w, 3).tolist()}, b = {b:.3f}  (data: w = [2.0, -1.0, 0.5], b = 0.3)")


if __name__ == "__main__":
    main()
