"""Parameter sensitivity of an ODE: a damped pendulum integrated by RK4 over 1,000 steps
with `gg.fori_loop`, and the gradient of how far its final state lands from a target with
respect to the pendulum's parameters and initial state. The generated code is one loop of
RK4 forward and one backward: its size does not depend on the number of steps."""

import gradgen as gg
from gradgen import Array

STEPS = 1000
DT = 0.01


def pendulum(y, stiffness, damping):
    """The pendulum's velocity field: y = (angle, angular velocity)."""
    angle, velocity = y[0], y[1]
    return gg.stack([velocity, -stiffness * gg.sin(angle) - damping * velocity])


@gg.function(wrt=("log_stiffness", "log_damping", "y0"))
def final_miss(log_stiffness: Array[()], log_damping: Array[()], y0: Array[2], target: Array[2]):
    stiffness, damping = gg.exp(log_stiffness), gg.exp(log_damping)

    def rk4_step(i, y):
        k1 = pendulum(y, stiffness, damping)
        k2 = pendulum(y + 0.5 * DT * k1, stiffness, damping)
        k3 = pendulum(y + 0.5 * DT * k2, stiffness, damping)
        k4 = pendulum(y + DT * k3, stiffness, damping)
        return y + DT / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    y = gg.fori_loop(0, STEPS, rk4_step, y0)
    return gg.sum((y - target) ** 2)
