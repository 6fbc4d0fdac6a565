"""Mono -> first-order Ambisonics along a trajectory (paper Eq. 1, SPEC §2); paths with
distance add delay, level, air and a room (:mod:`sonicmotion.spatial.propagation`)."""

from __future__ import annotations

import numpy as np

from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial.air import Air
from sonicmotion.spatial.layout import FUMA, ChannelLayout, convert_layout, get_layout
from sonicmotion.spatial.room import Room
from sonicmotion.spatial.trajectory import Trajectory


def direction_gains(azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """Unit vectors (3, n) float64 = (X, Y, Z) gains for azimuth/elevation in degrees."""
    az = np.radians(np.asarray(azimuth, dtype=np.float64))
    el = np.radians(np.asarray(elevation, dtype=np.float64))
    return np.stack([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])


_COUNTS = np.arange(0, dtype=np.float32)  # 0, 1, 2, ... kept between calls: see _ramp


def _ramp(start_deg: float, step_deg: float, out: np.ndarray) -> None:
    """Fill ``out`` (float32) with angles in radians: start + k * step.

    Float32 trigonometry is several times faster than float64 and the angle rounding
    (~1e-5 degrees over a 10 s clip) is far below anything audible or measurable.
    """
    global _COUNTS
    if _COUNTS.shape[0] < out.shape[0]:
        _COUNTS = np.arange(out.shape[0], dtype=np.float32)
    np.multiply(_COUNTS[: out.shape[0]], np.float32(np.radians(step_deg)), out=out)
    out += np.float32(np.radians(start_deg))


def trajectory_gains(
    trajectory: Trajectory, num_samples: int, sample_rate: int, first_sample: int = 0,
    out: np.ndarray | None = None, signal: np.ndarray | None = None,
) -> np.ndarray:
    """Per-sample (X, Y, Z) gains (3, num_samples) float32 of ``trajectory`` for the samples
    ``first_sample, first_sample + 1, ...`` of its clock (sample k sits at k / sample_rate s).

    Angles are exact per sample (Eq. 3: linear in time between keyframes), so there is
    no zipper noise; held stretches reuse one gain and cost no trigonometry. ``out``: a
    (3, num_samples) float32 array to fill instead of a new one. ``signal``: a
    (num_samples,) float32 signal to multiply the gains by (the encoder's X, Y, Z), in
    one pass over held stretches.
    """
    gains = np.empty((3, num_samples), dtype=np.float32) if out is None else out
    if trajectory.is_cartesian:  # straight lines in space: the direction comes from the geometry
        xyz = trajectory.coordinates(np.arange(first_sample, first_sample + num_samples) / sample_rate)
        distance = np.sqrt(np.sum(xyz**2, axis=0))
        # Divided in float64, then stored: a masked divide into the float32 buffer reads its
        # uninitialised values through the cast and warns about them.
        gains[...] = xyz / np.where(distance > 0, distance, 1.0)
        gains[:, distance <= 0] = np.array([[1.0], [0.0], [0.0]], dtype=np.float32)  # at the listener: front
        if signal is not None:
            gains *= signal
        return gains
    times, azimuth, elevation = trajectory.knots

    def hold(lo: int, hi: int, azimuth: np.ndarray, elevation: np.ndarray) -> None:
        gain = direction_gains(azimuth, elevation).astype(np.float32)
        if signal is None:
            gains[:, lo:hi] = gain
        else:
            np.multiply(gain, signal[lo:hi], out=gains[:, lo:hi])

    # First sample at or after each keyframe, counted from first_sample.
    bounds = np.clip(np.ceil(times * sample_rate).astype(np.int64) - first_sample, 0, num_samples)
    hold(0, int(bounds[0]), azimuth[:1], elevation[:1])
    for i in range(len(times) - 1):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        if hi <= lo:
            continue
        rate = 1.0 / ((times[i + 1] - times[i]) * sample_rate)  # fraction of the segment per sample
        offset = ((lo + first_sample) / sample_rate - times[i]) / (times[i + 1] - times[i])
        d_az, d_el = azimuth[i + 1] - azimuth[i], elevation[i + 1] - elevation[i]
        az0, d_az = azimuth[i] + offset * d_az, rate * d_az
        el0, d_el = elevation[i] + offset * d_el, rate * d_el
        # Everything is written in place: fresh temporaries of this size cost more than the
        # trigonometry (page faults on every call).
        x, y, z = gains[0, lo:hi], gains[1, lo:hi], gains[2, lo:hi]
        if d_az:
            _ramp(az0, d_az, x)
            np.sin(x, out=y)
            np.cos(x, out=x)
        else:
            x.fill(np.cos(np.float32(np.radians(az0))))
            y.fill(np.sin(np.float32(np.radians(az0))))
        if d_el:
            _ramp(el0, d_el, z)
            cos_el = np.cos(z)
            np.sin(z, out=z)
        else:
            cos_el = np.cos(np.float32(np.radians(el0)))
            z.fill(np.sin(np.float32(np.radians(el0))))
        x *= cos_el
        y *= cos_el
        if signal is not None:
            gains[:, lo:hi] *= signal[lo:hi]
    hold(int(bounds[-1]), num_samples, azimuth[-1:], elevation[-1:])
    return gains


def encode_foa(
    mono: np.ndarray,
    sample_rate: int,
    trajectory: Trajectory,
    layout: str | ChannelLayout = "fuma",
    first_sample: int = 0,
    doppler: bool = True,
    room: Room | None = None,
    air: Air | None = Air(),
) -> np.ndarray:
    """Encode a mono signal (n,) at ``sample_rate`` Hz along ``trajectory`` into FOA.

    Returns (4, n) float32 in ``layout`` (default FuMa WXYZ with W = p/sqrt(2)).
    ``mono[0]`` is sample ``first_sample`` of the trajectory's clock (default 0: time 0),
    so a crop of a clip encodes as the same stretch of the whole clip would.

    A path without distance is the paper's plane wave (Eq. 1) and ignores ``doppler`` and
    ``air``. A path with distance (metres) is rendered with propagation delay (``doppler``
    False: without the changing delay), 1/r level and ``air`` absorption (None: none), in
    ``room`` if given (see :mod:`sonicmotion.spatial.propagation`); it starts at time 0
    (``first_sample`` 0), since its delay reaches back before a crop.
    """
    layout = get_layout(layout)
    mono = np.asarray(mono)
    if mono.ndim != 1:
        raise SonicMotionError(f"encode_foa expects mono audio of shape (samples,), got {mono.shape}")
    if sample_rate <= 0:
        raise SonicMotionError(f"sample rate must be positive, got {sample_rate}")
    if not np.all(np.isfinite(mono)):
        raise SonicMotionError("mono input contains NaN or infinite samples")
    if first_sample < 0:
        raise SonicMotionError(f"first_sample must be >= 0, got {first_sample}")
    mono = mono.astype(np.float32, copy=False)
    if trajectory.has_distance:
        if first_sample:
            raise SonicMotionError("a path with distance is rendered from time 0 (first_sample 0): its delay "
                                   "reaches back before a crop")
        from sonicmotion.spatial.propagation import render_distance

        foa = render_distance(mono, sample_rate, trajectory, doppler, room, air)
        return foa if layout is FUMA else convert_layout(foa, FUMA, layout).astype(np.float32)
    if room is not None:
        raise SonicMotionError("a room needs a path with distance: give the source a distance in metres "
                               "(or a cartesian path)")
    foa = np.empty((4, mono.shape[0]), dtype=np.float32)
    np.multiply(mono, np.float32(FUMA.w_gain), out=foa[0])
    # Made in place in the output: a separate (3, n) array of gains costs as much again in
    # fresh memory as the arithmetic (page faults on every call).
    trajectory_gains(trajectory, mono.shape[0], sample_rate, first_sample, out=foa[1:], signal=mono)
    if layout is FUMA:
        return foa
    return convert_layout(foa, FUMA, layout).astype(np.float32)
