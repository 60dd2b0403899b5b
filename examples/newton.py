"""L2-regularized logistic regression, with its Hessian for Newton's method.

The loss is mean(softplus(z) - y*z) + l2/2 |w|^2 on the logits z = x @ w + b (softplus is
stable for large |z|). emit=("grad", "hessian") adds loss_hessian, whose blocks
((H_ww, H_wb), (H_bw, H_bb)) train_newton.py assembles into one matrix to solve for the
Newton step, and compares with gradient descent.
"""

import gradgen as gg
from gradgen import Array


@gg.function(wrt=("w", "b"), emit=("grad", "hessian"))
def loss(w: Array["D"], b: float, x: Array["N", "D"], y: Array["N"], l2: float):
    z = x @ w + b
    data_loss = gg.mean(gg.softplus(z) - y * z)
    return data_loss + 0.5 * l2 * gg.sum(w**2)
