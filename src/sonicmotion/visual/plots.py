"""Trajectory and DoA plots written as PNG files."""

from __future__ import annotations

import os

import numpy as np

from sonicmotion.files import atomic_path
from sonicmotion.spatial.doa import DoaEstimate
from sonicmotion.spatial.trajectory import Trajectory


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _break_wraps(times: np.ndarray, azimuth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Insert NaNs where azimuth jumps across ±180 so lines do not cross the plot."""
    jumps = np.flatnonzero(np.abs(np.diff(azimuth)) > 180.0) + 1
    return np.insert(times, jumps, np.nan), np.insert(azimuth, jumps, np.nan)


def plot_doa(
    path: str | os.PathLike,
    estimate: DoaEstimate,
    trajectory: Trajectory | None = None,
    duration: float | None = None,
    title: str | None = None,
) -> None:
    """Azimuth and elevation over time: estimate solid, requested path dashed (PNG)."""
    plt = _pyplot()
    fig, (ax_az, ax_el) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    active = estimate.active
    times = np.where(active, estimate.times, np.nan)
    end = duration if duration is not None else float(estimate.times[-1]) if estimate.times.size else 1.0
    if trajectory is not None:
        grid = np.linspace(0.0, end, 2000)
        req_az, req_el = trajectory.positions(grid)
        ax_az.plot(*_break_wraps(grid, req_az), "--", color="tab:orange", label="requested")
        ax_el.plot(grid, req_el, "--", color="tab:orange", label="requested")
    ax_az.plot(*_break_wraps(times, estimate.azimuth), "-", color="tab:blue", label="estimated")
    ax_el.plot(times, estimate.elevation, "-", color="tab:blue", label="estimated")
    ax_az.set_ylim(-180, 180)
    ax_az.set_yticks([-180, -90, 0, 90, 180])
    ax_az.set_ylabel("azimuth (deg)\n+90 = left")
    ax_el.set_ylim(-90, 90)
    ax_el.set_yticks([-90, -45, 0, 45, 90])
    ax_el.set_ylabel("elevation (deg)")
    ax_el.set_xlabel("time (s)")
    for ax in (ax_az, ax_el):
        ax.grid(alpha=0.3)
        ax.set_xlim(0, end)
    ax_az.legend(loc="upper right", fontsize=8)
    fig.suptitle(title or f"Direction of arrival ({estimate.resolution} resolution)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
