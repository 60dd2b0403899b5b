"""Train the RNN example (examples/rnn.py) with backpropagation through time, on a
synthetic memory task: at each step, output the input of two steps before.

Run from the repository root after `gradgen compile examples/`:

    python examples/train_rnn.py

The generated module's loop runs over whatever sequence length it is given: training uses
sequences of 20 steps, and the last lines evaluate the same model on sequences of 60.
Only numpy and the generated module run: gradgen is not needed here.
"""

import sys
from pathlib import Path

import numpy as np

DELAY = 2


def batch(rng: np.random.Generator, steps: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (steps, size, 1) and targets (steps, size): each input, DELAY steps later."""
    xs = rng.normal(size=(steps, size, 1))
    targets = np.zeros((steps, size))
    targets[DELAY:] = xs[:-DELAY, :, 0]
    return xs, targets


def main(iterations: int = 300, hidden: int = 16, learning_rate: float = 0.01) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "generated"))
    from rnn_grad import loss, loss_value_and_grad

    rng = np.random.default_rng(0)
    params = [
        rng.normal(scale=0.5, size=(1, hidden)),  # w_x
        rng.normal(scale=0.3 / np.sqrt(hidden), size=(hidden, hidden)),  # w_h
        np.zeros(hidden),  # b
        rng.normal(scale=0.1, size=hidden),  # w_y
        np.zeros(()),  # b_y
    ]
    first = [np.zeros_like(p) for p in params]  # Adam's moment estimates
    second = [np.zeros_like(p) for p in params]
    size = 32
    h0 = np.zeros((size, hidden))
    for step in range(1, iterations + 1):
        xs, targets = batch(rng, 20, size)
        value, grads = loss_value_and_grad(*params, h0, xs, targets)
        for p, g, m, v in zip(params, grads, first, second):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= learning_rate * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
        if step == 1 or step % 50 == 0:
            print(f"step {step:3d}  loss {float(value):.4f}")
    xs, targets = batch(rng, 60, size)
    print(f"sequences of 60 steps: loss {float(loss(*params, h0, xs, targets)):.4f}")
    print(f"predicting zeros instead: loss {float(np.mean(targets**2)):.4f}")


if __name__ == "__main__":
    main()
