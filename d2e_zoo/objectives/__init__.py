"""Training objectives for the kernels (docs/method.md section 3).

Each is a small function of already-simulated, already-scored quantities, with shapes in
its docstring. Sign convention (docs/method.md section 2): for a trajectory tau,

    log w(tau) = log p0(x_0) + sum_k log p_f - log p1~(x_K) - sum_k log p_b,

constant (= -log Z1) exactly when the forward and backward path measures agree.
"""

from .log_variance import grouped_log_variance_loss, log_variance_loss
from .maximum_likelihood import maximum_likelihood_loss
from .reverse_kl import reverse_kl_loss
from .trajectory_balance import trajectory_balance_loss

__all__ = [
    "grouped_log_variance_loss", "log_variance_loss", "maximum_likelihood_loss",
    "reverse_kl_loss", "trajectory_balance_loss",
]
