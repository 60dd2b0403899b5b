"""Kepler's equation E - e sin(E) = M, solved for the eccentric anomaly E by Newton's
method in a `gg.while_loop` that stops when the step is below 1e-12 (at most 50 steps):
its trip count depends on the data. The gradient flows back through the iterations the
loop ran; at convergence it is the implicit function's, dE/dM = 1 / (1 - e cos E)."""

import gradgen as gg
from gradgen import Array


@gg.function(wrt=("mean_anomaly", "eccentricity"))
def eccentric_anomaly(mean_anomaly: Array["N"], eccentricity: Array["N"]):
    e = 0.9 * gg.sigmoid(eccentricity)  # an eccentricity in (0, 0.9): an ellipse

    def not_converged(state):
        _, step = state
        return gg.max(gg.abs(step)) > 1e-12

    def newton_step(state):
        anomaly, _ = state
        step = (anomaly - e * gg.sin(anomaly) - mean_anomaly) / (1.0 - e * gg.cos(anomaly))
        return anomaly - step, step

    start = (mean_anomaly, mean_anomaly * 0.0 + 1.0)
    anomaly, _ = gg.while_loop(not_converged, newton_step, start, max_steps=50)
    return gg.sum(anomaly)
