"""PNG plots for the report (matplotlib, Agg backend: no window, same bytes for the same input)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DPI = 100


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    # No timestamp in the file (matplotlib writes only the Software key when asked for none).
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    _pyplot().close(fig)


def plot_horizon(curves: dict[str, np.ndarray], suite: str, path: str | Path) -> None:
    """Rollout position RMSE (px) against the step after the context, one line per model; curves (H,)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for model, c in curves.items():
        ax.plot(np.arange(1, len(c) + 1), c, label=model, lw=1.5)
    # symlog: the oracle's 0 stays visible beside errors of hundreds of px.
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("rollout step (frames after the context)")
    ax.set_ylabel("position RMSE (px)")
    ax.set_title(f"{suite}: rollout error vs horizon")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, Path(path))


def plot_conservation(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str, start: int,
                      path: str | Path) -> None:
    """Total energy and |linear momentum| of one scene's rollout, truth against each model.

    curves: "truth" | model -> (energy (T,), momentum (T, 2)); frame start + t on the x axis.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, (e, p) in curves.items():
        t = start + np.arange(len(e))
        style = dict(color="black", lw=2.5, ls="--") if name == "truth" else dict(lw=1.3)
        axes[0].plot(t, e, label=name, **style)
        axes[1].plot(t, np.hypot(p[:, 0], p[:, 1]), label=name, **style)
    # A diverged model (falling through the floor) would flatten the truth to a line: keep the
    # y range to the truth's own range plus its scale on each side; what leaves it is cut off.
    e, p = curves["truth"]
    for ax, v in zip(axes, (e, np.hypot(p[:, 0], p[:, 1]))):
        span = max(float(v.max() - v.min()), float(np.abs(v).max()), 1e-9)
        ax.set_ylim(float(v.min()) - span, float(v.max()) + span)
    axes[0].set_ylabel("total energy (mass px^2/s^2)")
    axes[1].set_ylabel("|linear momentum| (mass px/s)")
    axes[0].set_title("kinetic + potential (from the floor)", fontsize=9)
    axes[1].set_title("total linear momentum", fontsize=9)
    for ax in axes:
        ax.set_xlabel("frame")
        ax.grid(True, alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(f"{title}: energy and momentum, truth vs prediction")
    fig.tight_layout()
    _save(fig, Path(path))
