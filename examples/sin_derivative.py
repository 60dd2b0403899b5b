"""The derivative of sin without writing cos: f(x) = sin(x) elementwise, and its
Jacobian-vector product (forward mode) with the tangent ones.

f's Jacobian is diagonal, so f_jvp(x, ones) is the whole derivative, cos(x), at every point
of the grid in one pass. Run as a script (after `gradgen compile examples/`) it checks that
against np.cos and, when matplotlib is installed (`pip install ".[plot]"`), plots both:

    python examples/sin_derivative.py [out.png]    # default: sin_derivative.png
"""

import sys
from pathlib import Path

import numpy as np

import gradgen as gg
from gradgen import Array


@gg.function(wrt="x", emit=("grad", "jvp"))
def f(x: Array["N"]):
    return gg.sin(x)


def main(png: str = "sin_derivative.png") -> None:
    """Uses only numpy, the generated module and, if importable, matplotlib."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "generated"))
    from sin_derivative_grad import f_jvp

    x = np.linspace(-2 * np.pi, 2 * np.pi, 401)
    value, derivative = f_jvp(x, np.ones_like(x))
    print(f"max |f - sin| = {np.max(np.abs(value - np.sin(x))):.1e}")
    print(f"max |f' - cos| = {np.max(np.abs(derivative - np.cos(x))):.1e}")
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no window
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed (pip install ".[plot]"): no plot')
        return
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot(x, value, label="f(x) = sin(x)")
    axes.plot(x, derivative, label="f'(x) from f_jvp(x, ones)")
    axes.plot(x, np.cos(x), ":", color="black", label="cos(x)")
    axes.set_xlabel("x")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False)
    figure.tight_layout()
    figure.savefig(png, dpi=100)
    print(f"wrote {png}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
