"""Newton's method against gradient descent on the regularized logistic regression of
examples/newton.py, with its generated gradient and Hessian.

Run from the repository root after `gradgen compile examples/`:

    python examples/train_newton.py

Both start from zero on the same seeded synthetic data and stop when the gradient norm is
below 1e-8. Newton solves H step = g with the Hessian blocks assembled into one matrix;
gradient descent steps by 1/L, L a bound on the Hessian's largest eigenvalue. Only numpy
and the generated module are used: gradgen is not needed here.
"""

import sys
from pathlib import Path

import numpy as np

TOLERANCE = 1e-8


def make_data(rng: np.random.Generator, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Features on different scales, labels drawn from a logistic model."""
    x = rng.normal(size=(n, 4)) * np.array([1.0, 3.0, 0.3, 1.0])
    logits = x @ np.array([1.5, -0.5, 2.0, 0.0]) - 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(float)
    return x, y


def main(gd_cap: int = 20000, l2: float = 1e-2) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "generated"))
    from newton_grad import loss, loss_grad, loss_hessian

    x, y = make_data(np.random.default_rng(0))
    d = x.shape[1]

    def gradient(w: np.ndarray, b: float) -> np.ndarray:
        d_w, d_b = loss_grad(w, b, x, y, l2)
        return np.append(d_w, d_b)

    # Newton: solve the (D+1) x (D+1) system of the Hessian blocks for the step.
    w, b = np.zeros(d), 0.0
    newton_steps = 0
    while np.linalg.norm(g := gradient(w, b)) >= TOLERANCE and newton_steps < 100:
        (h_ww, h_wb), (h_bw, h_bb) = loss_hessian(w, b, x, y, l2)
        hessian = np.block([[h_ww, h_wb[:, None]], [h_bw[None, :], np.reshape(h_bb, (1, 1))]])
        step = np.linalg.solve(hessian, g)
        w, b = w - step[:d], b - float(step[d])
        newton_steps += 1
        print(f"Newton step {newton_steps}: loss {loss(w, b, x, y, l2):.12f}")
    newton_w, newton_b = w, b

    # Gradient descent with step 1/L: the loss's Hessian is at most
    # [x 1]^T [x 1] / (4N) + l2 (sigmoid' <= 1/4).
    design = np.hstack([x, np.ones((len(y), 1))])
    learning_rate = 1 / (np.linalg.norm(design, 2) ** 2 / (4 * len(y)) + l2)
    w, b = np.zeros(d), 0.0
    gd_steps = 0
    while np.linalg.norm(g := gradient(w, b)) >= TOLERANCE and gd_steps < gd_cap:
        w, b = w - learning_rate * g[:d], b - learning_rate * float(g[d])
        gd_steps += 1

    print(f"Newton: {newton_steps} steps to gradient norm < {TOLERANCE:g}")
    reached = "" if np.linalg.norm(gradient(w, b)) < TOLERANCE else " (cap reached, not converged)"
    print(f"gradient descent: {gd_steps} steps to gradient norm < {TOLERANCE:g}{reached}")
    gap = np.max(np.abs(np.append(w - newton_w, b - newton_b)))
    print(f"max |difference| of the two solutions: {gap:.1e}")


if __name__ == "__main__":
    main()
