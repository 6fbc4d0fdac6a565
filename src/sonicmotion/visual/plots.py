"""Trajectory and DoA plots written as PNG files."""

from __future__ import annotations

import os

import numpy as np

from sonicmotion.files import atomic_path
from sonicmotion.optional import pyplot
from sonicmotion.spatial.doa import DoaEstimate
from sonicmotion.spatial.trajectory import Trajectory


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
    plt = pyplot()
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


def plot_top_down(
    path: str | os.PathLike,
    estimate: DoaEstimate | None = None,
    trajectory: Trajectory | None = None,
    duration: float | None = None,
    title: str | None = None,
) -> None:
    """Top-down view (front up, left to the left): the requested path as a dashed line and
    the estimate as dots, with time as the distance from the listener (PNG)."""
    plt = pyplot()
    fig = plt.figure(figsize=(5.5, 5.5))
    ax = fig.add_subplot(projection="polar")
    ax.set_theta_zero_location("N")  # front up; azimuth grows counter-clockwise = to the left
    end = duration or (float(estimate.times[-1]) if estimate is not None and estimate.times.size else 1.0)
    if trajectory is not None:
        grid = np.linspace(0.0, end, 1000)
        ax.plot(np.radians(trajectory.unwrapped_azimuth(grid)), grid, "--", color="tab:red", lw=1.2,
                label="requested", zorder=4)
    if estimate is not None:
        active = estimate.active
        points = ax.scatter(np.radians(estimate.azimuth[active]), estimate.times[active], c=estimate.elevation[active],
                            cmap="viridis", vmin=-90, vmax=90, s=14, label="estimated", zorder=3)
        fig.colorbar(points, ax=ax, shrink=0.6, pad=0.1, label="elevation (deg)")
    ax.set_xticks(np.radians([0, 45, 90, 135, 180, 225, 270, 315]))
    ax.set_xticklabels(["front", "45", "left", "135", "back", "-135", "right", "-45"])
    ax.set_ylim(0, end)
    ax.set_rlabel_position(200)
    ax.legend(loc="lower left", bbox_to_anchor=(-0.15, -0.12), fontsize=8)
    ax.set_title(title or "Top-down view (radius = time in s)", pad=18)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png", bbox_inches="tight")
    plt.close(fig)


def plot_energy_map(path: str | os.PathLike, energy_map, title: str | None = None) -> None:
    """Azimuth-time directional energy (dB below each frame's maximum), PNG."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    level = 10 * np.log10(energy_map.energy + 1e-20)
    level -= level.max(axis=0, keepdims=True)
    half = (energy_map.azimuths[1] - energy_map.azimuths[0]) / 2 if energy_map.azimuths.size > 1 else 2.5
    extent = [float(energy_map.times[0]), float(energy_map.times[-1]) + 1e-9,
              float(energy_map.azimuths[0] - half), float(energy_map.azimuths[-1] + half)]
    image = ax.imshow(np.clip(level, -30, 0), aspect="auto", origin="lower", extent=extent, cmap="magma")
    fig.colorbar(image, ax=ax, label="dB re frame maximum")
    ax.set_yticks([-180, -90, 0, 90, 180])
    ax.set_ylabel("azimuth (deg), +90 = left")
    ax.set_xlabel("time (s)")
    ax.set_title(title or "Directional energy over time")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
