"""Mono -> first-order Ambisonics along a trajectory (paper Eq. 1, SPEC §2)."""

from __future__ import annotations

import numpy as np

from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial.layout import FUMA, ChannelLayout, convert_layout, get_layout
from sonicmotion.spatial.trajectory import Trajectory


def direction_gains(azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """Unit vectors (3, n) float64 = (X, Y, Z) gains for azimuth/elevation in degrees."""
    az = np.radians(np.asarray(azimuth, dtype=np.float64))
    el = np.radians(np.asarray(elevation, dtype=np.float64))
    return np.stack([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])


def _ramp(start_deg: float, step_deg: float, count: int) -> np.ndarray | float:
    """Angles in radians, float32: start + k * step for k < count (a scalar if step is 0).

    Float32 trigonometry is several times faster than float64 and the angle rounding
    (~1e-5 degrees over a 10 s clip) is far below anything audible or measurable.
    """
    if step_deg == 0.0:
        return np.float32(np.radians(start_deg))
    ramp = np.arange(count, dtype=np.float32)
    ramp *= np.float32(np.radians(step_deg))
    ramp += np.float32(np.radians(start_deg))
    return ramp


def trajectory_gains(trajectory: Trajectory, num_samples: int, sample_rate: int) -> np.ndarray:
    """Per-sample (X, Y, Z) gains (3, num_samples) float32 of ``trajectory``.

    Angles are exact per sample (Eq. 3: linear in time between keyframes), so there is
    no zipper noise; held stretches reuse one gain and cost no trigonometry.
    """
    gains = np.empty((3, num_samples), dtype=np.float32)
    times, azimuth, elevation = trajectory.knots
    # First sample at or after each keyframe.
    bounds = np.clip(np.ceil(times * sample_rate).astype(np.int64), 0, num_samples)
    gains[:, : bounds[0]] = direction_gains(azimuth[:1], elevation[:1])
    for i in range(len(times) - 1):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        if hi <= lo:
            continue
        rate = 1.0 / ((times[i + 1] - times[i]) * sample_rate)  # fraction of the segment per sample
        offset = (lo / sample_rate - times[i]) / (times[i + 1] - times[i])
        d_az, d_el = azimuth[i + 1] - azimuth[i], elevation[i + 1] - elevation[i]
        az = _ramp(azimuth[i] + offset * d_az, rate * d_az, hi - lo)
        el = _ramp(elevation[i] + offset * d_el, rate * d_el, hi - lo)
        cos_el = np.cos(el)
        gains[0, lo:hi] = np.cos(az) * cos_el
        gains[1, lo:hi] = np.sin(az) * cos_el
        gains[2, lo:hi] = np.sin(el)
    gains[:, bounds[-1] :] = direction_gains(azimuth[-1:], elevation[-1:])
    return gains


def encode_foa(
    mono: np.ndarray,
    sample_rate: int,
    trajectory: Trajectory,
    layout: str | ChannelLayout = "fuma",
) -> np.ndarray:
    """Encode a mono signal (n,) at ``sample_rate`` Hz along ``trajectory`` into FOA.

    Returns (4, n) float32 in ``layout`` (default FuMa WXYZ with W = p/sqrt(2)).
    Time 0 is the first sample.
    """
    layout = get_layout(layout)
    mono = np.asarray(mono)
    if mono.ndim != 1:
        raise SonicMotionError(f"encode_foa expects mono audio of shape (samples,), got {mono.shape}")
    if sample_rate <= 0:
        raise SonicMotionError(f"sample rate must be positive, got {sample_rate}")
    if not np.all(np.isfinite(mono)):
        raise SonicMotionError("mono input contains NaN or infinite samples")
    mono = mono.astype(np.float32, copy=False)
    foa = np.empty((4, mono.shape[0]), dtype=np.float32)
    foa[0] = mono * np.float32(FUMA.w_gain)
    np.multiply(trajectory_gains(trajectory, mono.shape[0], sample_rate), mono, out=foa[1:])
    if layout is FUMA:
        return foa
    return convert_layout(foa, FUMA, layout).astype(np.float32)
