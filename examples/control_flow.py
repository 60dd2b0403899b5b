"""The autodiff tutorial's control flow (Dive into Deep Learning, "Automatic
Differentiation", section 2.5.4): the number of loop steps and the branch taken both
depend on the input, and the gradient still comes out right. Written with gradgen's loop
and branch calls (JAX's names): the generated module holds a real `while` loop and a real
`if`. As the chapter checks it: f is linear in a (piecewise), so grad f(a) == f(a) / a."""

import gradgen as gg
from gradgen import Array


@gg.function(wrt="a")
def f(a: Array[1]):
    b = a * 2
    b = gg.while_loop(lambda b: gg.linalg.norm(b) < 1000, lambda b: b * 2, b)
    c = gg.cond(gg.sum(b) > 0, lambda b: b, lambda b: 100 * b, b)
    return c
