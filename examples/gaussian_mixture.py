"""Negative log-likelihood of data under a mixture of K diagonal Gaussians.

The mixture weights are softmax(logits); every component has its own means and log standard
deviations. log-sum-exp over the components keeps it finite for far-away points.
"""

import gradgen as gg
from gradgen import Array


@gg.function(wrt=("logits", "means", "log_stds"))
def nll(
    logits: Array["K"],
    means: Array["K", "D"],
    log_stds: Array["K", "D"],
    x: Array["N", "D"],
):
    z = (x[:, None, :] - means[None, :, :]) / gg.exp(log_stds)[None, :, :]
    per_dim = 0.5 * z**2 + log_stds[None, :, :] + 0.5 * gg.log(2 * gg.pi)
    log_prob = -gg.sum(per_dim, axis=2)
    joint = gg.log_softmax(logits)[None, :] + log_prob
    return -gg.mean(gg.logsumexp(joint, axis=1))
