"""A logistic-regression classifier that also reports its accuracy: with has_aux=True the
function returns (loss, {name: array}); the aux arrays are computed beside the loss and
never differentiated. Accuracy is not differentiable (it is piecewise constant), which is
why it is aux and not a second output.

The generated module then returns the aux dict beside the value: loss(...) gives
(value, aux), loss_value_and_grad(...) gives ((value, aux), grads) and loss_grad(...)
gives (grads, aux). Run as a script (after `gradgen compile examples/`) it trains by
gradient descent and prints the loss and accuracy:

    python examples/classifier_with_accuracy.py
"""

import sys
from pathlib import Path

import numpy as np

import gradgen as gg
from gradgen import Array


@gg.function(wrt=("w", "b"), has_aux=True)
def loss(w: Array["D"], b: float, x: Array["N", "D"], y: Array["N"]):
    z = x @ w + b
    value = gg.mean(gg.softplus(z) - y * z)
    correct = (z > 0) == (y > 0.5)  # predicted class (z > 0) is the label
    accuracy = gg.mean(gg.where(correct, 1.0, 0.0))
    positive_rate = gg.mean(gg.where(z > 0, 1.0, 0.0))
    return value, {"accuracy": accuracy, "positive_rate": positive_rate}


def main(steps: int = 50, learning_rate: float = 0.5) -> None:
    """Uses only numpy and the generated module."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "generated"))
    from classifier_with_accuracy_grad import loss_value_and_grad

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    y = (x @ np.array([2.0, -1.0]) + 0.5 + 0.5 * rng.normal(size=300) > 0).astype(float)
    w, b = np.array([-1.0, 1.0]), 0.0  # a bad start: most points misclassified
    for step in range(steps + 1):
        (value, aux), (d_w, d_b) = loss_value_and_grad(w, b, x, y)
        if step % 10 == 0:
            print(f"step {step:3d}  loss {value:.4f}  accuracy {aux['accuracy']:.3f}")
        w -= learning_rate * d_w
        b -= learning_rate * d_b


if __name__ == "__main__":
    main()
