"""The models in PyTorch eager mode (CPU, float64): value and gradients by
`torch.autograd.grad` on every call."""

from __future__ import annotations

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:  # already set, or parallel work already started
    pass


def linreg(w, b, x, y):
    return torch.mean((x @ w + b - y) ** 2)


def logreg(w, b, x, y):
    return F.binary_cross_entropy_with_logits(x @ w + b, y)  # mean(softplus(z) - y*z)


def mlp(w1, b1, w2, b2, x, labels):
    return F.cross_entropy(torch.tanh(x @ w1 + b1) @ w2 + b2, labels)


def circuit(w0, w1, w2, x0, x1):
    return 1.0 / (1.0 + torch.exp(-(w0 * x0 + w1 * x1 + w2)))


def elementwise(x, y):
    return torch.sum(torch.log1p(torch.exp(torch.sin(x) * y)) * torch.cos(y))


def rosenbrock(x):
    return torch.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rnn(w_x, w_h, b, w_y, b_y, h0, xs, targets):
    h, states = h0, []
    for t in range(xs.shape[0]):
        h = torch.tanh(xs[t] @ w_x + h @ w_h + b)
        states.append(h)
    return torch.mean((torch.stack(states) @ w_y + b_y - targets) ** 2)


def prepare(model: str, params: list, data: list):
    """A no-argument callable for one value-and-gradients call, and a converter of its
    result to `(float, [ndarray])`. Arrays become tensors once (sharing memory); the
    circuit's Python floats become tensors on every call, as a user's would."""
    loss = globals()[model]
    if model == "circuit":

        def run():
            ps = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]
            value = loss(*ps, *data)
            return value, torch.autograd.grad(value, ps)

    else:
        ps = [_tensor(p).requires_grad_() for p in params]
        ds = [_tensor(d) for d in data]

        def run():
            value = loss(*ps, *ds)
            return value, torch.autograd.grad(value, ps)

    def result(out):
        value, grads = out
        return value.item(), [g.numpy() for g in grads]

    return run, result


def _tensor(a) -> torch.Tensor:
    if isinstance(a, float):
        return torch.tensor(a, dtype=torch.float64)
    return torch.from_numpy(a)
