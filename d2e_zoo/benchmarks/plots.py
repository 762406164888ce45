"""Pictures of a trained 2-D bridge: endpoints and a few trajectories."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def plot_bridge(states: torch.Tensor, target_samples: torch.Tensor | None, path: str, title: str = "",
                num_paths: int = 40):
    """Save a figure: source states (``states[0]``), generated endpoint (``states[-1]``),
    true target samples if given, and ``num_paths`` trajectories. ``states``: ``(K+1, N, 2)``."""
    if states.shape[-1] != 2:
        raise ValueError(f"plots are for 2-D states, got dimension {states.shape[-1]}")
    s = states.detach().cpu()
    fig, axes = plt.subplots(1, 2, figsize=(10, 5), sharex=True, sharey=True)
    ax = axes[0]
    ax.scatter(s[0, :, 0], s[0, :, 1], s=2, alpha=0.3, label="x0 (source)", color="tab:blue")
    ax.scatter(s[-1, :, 0], s[-1, :, 1], s=2, alpha=0.3, label="x_K (generated)", color="tab:red")
    for i in range(min(num_paths, s.shape[1])):
        ax.plot(s[:, i, 0], s[:, i, 1], lw=0.6, color="k", alpha=0.5)
    ax.set_title("trajectories")
    ax.legend(loc="upper right", markerscale=4)
    ax = axes[1]
    if target_samples is not None:
        t = target_samples.detach().cpu()
        ax.scatter(t[:, 0], t[:, 1], s=2, alpha=0.3, label="true target", color="tab:green")
    ax.scatter(s[-1, :, 0], s[-1, :, 1], s=2, alpha=0.3, label="generated", color="tab:red")
    ax.set_title("generated vs true target")
    ax.legend(loc="upper right", markerscale=4)
    for ax in axes:
        ax.set_aspect("equal")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
