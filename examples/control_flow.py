"""The autodiff tutorial's control flow (Dive into Deep Learning, "Automatic
Differentiation", section 2.5.4), as written there but for gg spellings: the number of
loop steps and the branch taken both depend on the input, and the gradient still comes
out right. Python's `while` and `if` on traced values become gg.while_loop and gg.cond
(an AST rewrite before tracing, as TensorFlow's AutoGraph does), so the generated module
holds a real `while` loop and a real `if`. As the chapter checks it: f is linear in a
(piecewise), so grad f(a) == f(a) / a."""

import gradgen as gg
from gradgen import Array


@gg.function(wrt="a")
def f(a: Array[1]):
    b = a * 2
    while gg.linalg.norm(b) < 1000:
        b = b * 2
    if gg.sum(b) > 0:
        c = b
    else:
        c = 100 * b
    return c
