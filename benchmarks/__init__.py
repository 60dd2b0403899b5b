"""Side-by-side benchmark of gradgen's generated code against hand-written NumPy, PyTorch
eager, JAX (jit) and HIPS autograd: `python -m benchmarks` from the repository root.

This file imports nothing on purpose: `python -m benchmarks` imports the package before
`__main__`, which must set the thread environment before NumPy is first imported.
"""
