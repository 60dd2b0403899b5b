"""The Jacobian of a vector-valued map, three ways: a two-layer network R^D -> R^M,
y = tanh(x @ w1 + b1) @ w2, differentiated with respect to its input x and first layer w1.

emit=("grad", "jvp", "jacobian") gives f_jacobian (for each parameter an array of shape
y.shape + parameter.shape), f_jvp (forward mode: one column per tangent) and f_backward
(reverse mode: one row per head gradient d_value). Run as a script (after
`gradgen compile examples/`) it checks that the Jacobians equal the stacked JVPs of the
basis tangents and the stacked VJPs of the basis heads:

    python examples/vector_jacobian.py
"""

import sys
from pathlib import Path

import numpy as np

import gradgen as gg
from gradgen import Array


@gg.function(wrt=("x", "w1"), emit=("grad", "jvp", "jacobian"))
def layers(x: Array["D"], w1: Array["D", "H"], b1: Array["H"], w2: Array["H", "M"]):
    hidden = gg.tanh(x @ w1 + b1)
    return hidden @ w2


def main(d: int = 3, h: int = 5, m: int = 2) -> None:
    """Uses only numpy and the generated module."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "generated"))
    from vector_jacobian_grad import layers_backward, layers_forward, layers_jacobian, layers_jvp

    rng = np.random.default_rng(0)
    x, w1, b1, w2 = (rng.normal(size=s) for s in [(d,), (d, h), (h,), (h, m)])
    params = {"x": x, "w1": w1}
    jacobians = dict(zip(params, layers_jacobian(x, w1, b1, w2)))

    # Forward mode: the JVP with the basis tangent e_i (zero for the other parameter) is
    # the Jacobian's column i.
    for name, param in params.items():
        columns = []
        for i in np.ndindex(param.shape):
            tangents = {key: np.zeros_like(value) for key, value in params.items()}
            tangents[name][i] = 1.0
            columns.append(layers_jvp(x, w1, b1, w2, tangents["x"], tangents["w1"])[1])
        stacked = np.stack(columns, axis=-1).reshape(jacobians[name].shape)
        error = np.max(np.abs(stacked - jacobians[name]))
        print(f"J_{name} {jacobians[name].shape}: max |J - stacked JVPs| = {error:.1e}")

    # Reverse mode: the VJP with the basis head e_j is the Jacobian's row j.
    value, saved = layers_forward(x, w1, b1, w2)
    rows = [layers_backward(saved, np.eye(m)[j]) for j in range(m)]
    for k, name in enumerate(params):
        stacked = np.stack([row[k] for row in rows])
        error = np.max(np.abs(stacked - jacobians[name]))
        print(f"J_{name} {jacobians[name].shape}: max |J - stacked VJPs| = {error:.1e}")


if __name__ == "__main__":
    main()
