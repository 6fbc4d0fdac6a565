"""Trajectory and DoA plots written as PNG files (or WebP, by the file's suffix, where Pillow
writes it: see :func:`webp_supported`)."""

from __future__ import annotations

import io
import os

import numpy as np

from sonicmotion.files import atomic_path
from sonicmotion.optional import pyplot
from sonicmotion.spatial.doa import DoaEstimate
from sonicmotion.spatial.trajectory import Trajectory


def unwrap_azimuth(azimuth: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Azimuth (degrees) without jumps at ±180: each value moved by a whole number of turns to
    lie within 180° of ``reference`` (same shape; e.g. the requested path, unwrapped) where
    given, else of the previous finite value. NaNs stay NaN."""
    azimuth = np.asarray(azimuth, dtype=np.float64)
    if reference is not None:
        reference = np.asarray(reference, dtype=np.float64)
        return reference + (azimuth - reference + 180.0) % 360.0 - 180.0
    out = azimuth.copy()
    finite = np.isfinite(azimuth)
    out[finite] = np.degrees(np.unwrap(np.radians(azimuth[finite])))
    return out


def _azimuth_axis(ax, values: np.ndarray) -> None:
    """Limits on whole quarter turns around ``values`` (at least -180..180 when they fit in it),
    ticks every 90° labelled with their wrapped azimuth."""
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-180.0, 180.0)
    if lo >= -180.0 and hi <= 180.0:
        lo, hi = -180.0, 180.0
    else:
        lo, hi = 90.0 * np.floor(lo / 90.0), 90.0 * np.ceil(hi / 90.0)
    ticks = np.arange(lo, hi + 1.0, 90.0)
    ax.set_ylim(lo, hi)
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{(t + 180.0) % 360.0 - 180.0:g}" if abs(t) != 180 else f"{t:g}" for t in ticks])


def webp_supported() -> bool:
    """Whether Pillow (which matplotlib brings) can write WebP here."""
    try:
        from PIL import features
    except ImportError:
        return False
    return bool(features.check("webp"))


WEBP_COLOURS = 64  # palette of a WebP picture: 40 % smaller than full colour, lines and text still sharp


def _save(fig, path: str | os.PathLike, **options) -> None:
    """Write ``fig`` atomically as PNG, or for a .webp path as lossless WebP on a palette of
    ``WEBP_COLOURS`` (lossless, so line drawings stay sharp; a plot's few colours and their
    antialiased edges fit a small palette)."""
    webp = os.fspath(path).lower().endswith(".webp")
    with atomic_path(path) as tmp:
        if not webp:
            fig.savefig(tmp, dpi=100, format="png", **options)
            return
        from PIL import Image

        drawn = io.BytesIO()
        fig.savefig(drawn, dpi=100, format="png", **options)
        with Image.open(drawn) as image:
            palette = image.convert("RGB").quantize(WEBP_COLOURS, method=Image.Quantize.MEDIANCUT)
            palette.save(tmp, format="WEBP", lossless=True, method=6)


def plot_doa(
    path: str | os.PathLike,
    estimate: DoaEstimate,
    trajectory: Trajectory | None = None,
    duration: float | None = None,
    title: str | None = None,
) -> None:
    """Azimuth and elevation over time: estimate solid, requested path dashed. Azimuth is
    unwrapped (a path through ±180° stays one line; the estimate is drawn within 180° of the
    requested path, so the gap between them is the error), ticks labelled with wrapped values."""
    plt = pyplot()
    fig, (ax_az, ax_el) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    active = estimate.active
    times = np.where(active, estimate.times, np.nan)
    end = duration if duration is not None else float(estimate.times[-1]) if estimate.times.size else 1.0
    shown = []
    if trajectory is not None:
        grid = np.linspace(0.0, end, 2000)
        req_az = trajectory.unwrapped_azimuth(grid)
        req_el = trajectory.positions(grid)[1]
        # One turn of offset so the path sits around the middle of the axis.
        req_az = req_az - 360.0 * np.round(np.mean(req_az) / 360.0)
        ax_az.plot(grid, req_az, "--", color="tab:orange", label="requested")
        ax_el.plot(grid, req_el, "--", color="tab:orange", label="requested")
        azimuth = unwrap_azimuth(estimate.azimuth, np.interp(estimate.times, grid, req_az))
        shown.append(req_az)
    else:
        azimuth = unwrap_azimuth(np.where(active, estimate.azimuth, np.nan))
        azimuth = azimuth - 360.0 * np.round(np.nanmean(azimuth) / 360.0) if active.any() else azimuth
    azimuth = np.where(active, azimuth, np.nan)
    shown.append(azimuth)
    ax_az.plot(times, azimuth, "-", color="tab:blue", label="estimated")
    ax_el.plot(times, estimate.elevation, "-", color="tab:blue", label="estimated")
    _azimuth_axis(ax_az, np.concatenate(shown))
    ax_az.set_ylabel("azimuth (deg, unwrapped)\n+90 = left")
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
    _save(fig, path)
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
    _save(fig, path, bbox_inches="tight")
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
    _save(fig, path)
    plt.close(fig)
