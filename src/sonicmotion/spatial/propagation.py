"""A source at a distance: propagation delay (so Doppler), 1/r level, air absorption and an
optional shoebox room, rendered into FOA (SPEC §6).

For each output sample at time t the sound left the source at the emission time t_e that
solves t = t_e + r(t_e) / c (c = 343 m/s; one solution because paths stay slower than
sound). The mono signal is read at t_e through a band-limited fractional delay line
(windowed sinc), so a moving source is Doppler-shifted by the physics alone; its level is
1/r(t_e) from a reference of 1 m, clamped at ``MIN_DISTANCE``; the air between is an ISO
9613-1 filter for r(t_e) (:mod:`sonicmotion.spatial.air`); the direction is the source's at
t_e. In a room each image source (:meth:`Room.image_sources`) is one more such path, moving
with its source, scaled by its wall bounces (or, with materials, through the zero-phase FIR
of the walls it hit: fixed per image, so applied once to its whole signal); the diffuse tail
follows the direct sound.
``doppler=False`` keeps level and air but reads the signal without the changing delay.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

import numpy as np

from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial.air import Air, apply_air
from sonicmotion.spatial.layout import FUMA
from sonicmotion.spatial.room import Room
from sonicmotion.spatial.walls import apply_wall_filter
from sonicmotion.spatial.trajectory import SPEED_OF_SOUND, Trajectory

REFERENCE_DISTANCE = 1.0  # metres at which a source with distance has the plane wave's level
MIN_DISTANCE = 0.2  # metres: nearer sources keep this level (+14 dB over 1 m), the head's size
SINC_TAPS = 32  # taps of the fractional delay line's kernel
SINC_PHASES = 2048  # fractional positions tabulated (delay resolution 1/4096 sample)
SINC_CUTOFF = 0.9  # of Nyquist: room for the Doppler shift up before anything folds over
_KAISER_BETA = 8.0
_BLOCK = 2048  # samples per step of the delay line (its temporaries stay in cache)

Coordinates = Callable[[np.ndarray], np.ndarray]  # seconds (n,) -> listener-relative metres (3, n)


@lru_cache(maxsize=1)
def _sinc_table() -> np.ndarray:
    """(SINC_PHASES + 1, SINC_TAPS) float32: row q reads the signal at i + q / SINC_PHASES from
    samples i - SINC_TAPS/2 + 1 ... i + SINC_TAPS/2 (Kaiser-windowed sinc, unit gain at 0 Hz)."""
    half = SINC_TAPS // 2
    offsets = np.arange(-half + 1, half + 1, dtype=np.float64)
    fractions = np.arange(SINC_PHASES + 1, dtype=np.float64) / SINC_PHASES
    u = offsets[None, :] - fractions[:, None]
    window = np.i0(_KAISER_BETA * np.sqrt(np.clip(1.0 - (u / half) ** 2, 0.0, None))) / np.i0(_KAISER_BETA)
    table = SINC_CUTOFF * np.sinc(SINC_CUTOFF * u) * window
    table /= table.sum(axis=1, keepdims=True)
    table = table.astype(np.float32)
    table.flags.writeable = False
    return table


def read_fractional(signal: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``signal`` (n,) read at fractional sample ``positions`` (m,) by windowed-sinc
    interpolation (zero outside the signal). Returns float32 (m,)."""
    signal = np.asarray(signal, dtype=np.float32)
    half = SINC_TAPS // 2
    padded = np.concatenate([np.zeros(SINC_TAPS, np.float32), signal, np.zeros(SINC_TAPS, np.float32)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, SINC_TAPS)
    table = _sinc_table()
    positions = np.asarray(positions, dtype=np.float64)
    out = np.zeros(positions.shape[0], dtype=np.float32)
    # Positions that read nothing but the zero padding stay silent.
    heard = (positions > -half) & (positions < signal.shape[0] + half - 1)
    for lo in range(0, positions.shape[0], _BLOCK):
        where = positions[lo : lo + _BLOCK]
        inside = heard[lo : lo + _BLOCK]
        base = np.floor(where)
        phase = np.rint((where - base) * SINC_PHASES).astype(np.intp)
        # Window start in the padded signal: sample base - half + 1 sits at padded index base + half + 1.
        start = np.clip(base, -half, signal.shape[0] + half - 1).astype(np.intp) + half + 1
        block = np.einsum("ij,ij->i", windows[start], table[phase])
        out[lo : lo + _BLOCK] = np.where(inside, block, 0.0)
    return out


CONTROL_STEP = 8  # samples between the control points where the geometry is solved exactly


def emission_times(coordinates: Coordinates, num_samples: int, sample_rate: int) -> np.ndarray:
    """Emission time t_e (seconds, (num_samples,) float64) of the sound heard at each output
    sample t = k / sample_rate: the solution of t = t_e + r(t_e) / c for a source at
    ``coordinates(t_e)`` metres. Before time 0 the source holds its first position."""
    grid = np.arange(num_samples, dtype=np.float64) / sample_rate
    return _retarded(grid, np.sqrt(np.sum(coordinates(grid) ** 2, axis=0)))


def _retarded(times: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Emission times for the hearing ``times`` (increasing seconds, from 0) of a source at
    ``distances`` metres at those same times as emission times."""
    # Increasing, since a path's radial speed stays below the speed of sound; kept so (held)
    # where a mirror image of a fast-turning path would momentarily outrun it.
    arrival = np.maximum.accumulate(times + distances / SPEED_OF_SOUND)
    emitted = np.interp(times, arrival, times)
    early = times < arrival[0]  # heard before the sound emitted at time 0 arrives
    emitted[early] = times[early] - (arrival[0] - times[0])
    return emitted


def _upsample(control: np.ndarray, num_samples: int, dtype: type = np.float32) -> np.ndarray:
    """Values (..., m) at every CONTROL_STEP-th sample, linear in between, to (..., num_samples)."""
    step = CONTROL_STEP
    lo = control[..., :-1].astype(dtype)
    slope = (control[..., 1:] - control[..., :-1]).astype(dtype)
    out = np.empty((*control.shape[:-1], lo.shape[-1], step), dtype=dtype)
    np.multiply(slope[..., None], (np.arange(step) / step).astype(dtype), out=out)
    out += lo[..., None]
    out = out.reshape(*control.shape[:-1], -1)
    if out.shape[-1] < num_samples:  # the last control point sits on the last sample
        out = np.concatenate([out, control[..., -1:].astype(dtype)], axis=-1)
    return out[..., :num_samples]


def _render_path(mono: np.ndarray, sample_rate: int, source: np.ndarray, image: Callable[[np.ndarray], np.ndarray],
                 gain: float, doppler: bool, fixed_delay: float, air: Air | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One sound path: (the signal as heard (n,) float32, delayed and through the air; its
    FuMa W, X, Y, Z gains (4, n) float32, level and direction; the signal read at the
    emission times (n,) float32, before level and air).

    ``source``: the source's listener-relative positions (3, m) at the control times
    k * CONTROL_STEP / sample_rate (the last at or after the end); ``image(xyz)`` maps them
    to this path's (the source itself, or a mirror image). The geometry is solved exactly
    at the control points and is linear between them (8 samples: the error in the delay is
    below 1e-3 sample even 3 m from a source passing at 20 m/s)."""
    n = mono.shape[0]
    step = CONTROL_STEP
    control_times = np.arange(source.shape[1], dtype=np.float64) * step / sample_rate
    positions = image(source)
    if doppler:
        emitted = _retarded(control_times, np.sqrt(np.sum(positions**2, axis=0)))
    else:
        emitted = control_times - fixed_delay
    # Positions at the emission times, linear between the control points (held before 0).
    index = np.clip(emitted * sample_rate / step, 0.0, source.shape[1] - 1.0)
    below = np.minimum(np.floor(index).astype(np.intp), source.shape[1] - 2) if source.shape[1] > 1 else \
        np.zeros(index.shape, np.intp)
    fraction = index - below
    above = np.minimum(below + 1, source.shape[1] - 1)
    xyz = positions[:, below] + (positions[:, above] - positions[:, below]) * fraction
    distance = np.sqrt(np.sum(xyz**2, axis=0))
    if doppler or fixed_delay:
        delayed = read_fractional(mono, _upsample(emitted * sample_rate, n, np.float64))
    else:
        delayed = mono  # no delay: the samples themselves
    heard = delayed if air is None else apply_air(delayed, _upsample(distance, n), sample_rate, air)
    # Level and direction are one slowly varying gain per channel (the air filter and a gain
    # that changes over metres commute to well below anything audible).
    level = (gain * REFERENCE_DISTANCE) / np.maximum(distance, MIN_DISTANCE)
    # At the listener's own position the direction is undefined: it reads as the front.
    unit = np.divide(xyz, distance, out=np.array([[1.0], [0.0], [0.0]]) * np.ones_like(distance),
                     where=distance > 0)
    gains = np.concatenate([np.full((1, level.shape[0]), FUMA.w_gain), unit]) * level
    return heard, _upsample(gains, n), delayed


def render_distance(mono: np.ndarray, sample_rate: int, trajectory: Trajectory, doppler: bool = True,
                    room: Room | None = None, air: Air | None = Air()) -> np.ndarray:
    """``mono`` (n,) float32 from a source on ``trajectory`` (which has distance) as FOA
    (4, n) float32 FuMa WXYZ; see the module docstring. ``air`` None: no air absorption.
    Sound still on its way at the end of the clip is not heard."""
    if not trajectory.has_distance:
        raise SonicMotionError("rendering with distance needs a path with distance (metres)")
    if not math.isfinite(sample_rate) or sample_rate <= 0:
        raise SonicMotionError(f"sample rate must be positive, got {sample_rate}")
    mono = np.asarray(mono, dtype=np.float32)
    foa = np.zeros((4, mono.shape[0]), dtype=np.float32)
    if mono.shape[0] == 0:
        return foa

    def add(signal: np.ndarray, gains: np.ndarray) -> None:
        gains *= signal
        foa[...] += gains

    n = mono.shape[0]
    control_count = (n - 1) // CONTROL_STEP + 2  # the last control point at or after the last sample
    source = trajectory.coordinates(np.arange(control_count, dtype=np.float64) * CONTROL_STEP / sample_rate)
    if room is None:
        signal, gains, _ = _render_path(mono, sample_rate, source, lambda xyz: xyz, 1.0, doppler, 0.0, air)
        add(signal, gains)
        return foa
    listener = np.array(room.listener)[:, None]
    check_path_in_room(trajectory, room, n / sample_rate)
    direct_distance = np.sqrt(np.sum(source**2, axis=0))
    tail_input = None
    for signs, offsets, bounces in room.image_sources():
        s, o = signs[:, None], offsets[:, None]

        def image(xyz: np.ndarray, s=s, o=o) -> np.ndarray:  # listener-relative metres of this image
            return s * (xyz + listener) + o - listener

        fixed = 0.0
        if not doppler and bounces:  # each reflection keeps its mean delay after the direct sound, unchanging
            extra = np.sqrt(np.sum(image(source) ** 2, axis=0)) - direct_distance
            fixed = float(np.mean(extra)) / SPEED_OF_SOUND
        gain, bands = room.reflection**bounces, None
        if room.materials is not None:
            bands = room.reflection_bands(signs, offsets)
            if max(bands) == 0.0:
                continue  # absorbed whole
            if max(bands) - min(bands) <= 1e-12:  # the same in every band (the direct sound): a gain
                gain, bands = bands[0], None
            else:
                gain = 1.0
        signal, gains, delayed = _render_path(mono, sample_rate, source, image, gain, doppler, fixed, air)
        if bands is not None:
            signal = apply_wall_filter(signal, bands, sample_rate)
        add(signal, gains)
        if bounces == 0:
            tail_input = delayed
    if room.tail and tail_input is not None:
        ir = room.late_tail(sample_rate)
        if ir.shape[1]:
            from scipy.signal import oaconvolve

            foa += oaconvolve(tail_input[None, :], ir, axes=1)[:, : mono.shape[0]].astype(np.float32)
    return foa


def check_path_in_room(trajectory: Trajectory, room: Room, seconds: float) -> None:
    """Refuse (one line) a path that leaves the room within ``seconds`` (checked every 10 ms
    and at every keyframe)."""
    times = np.concatenate([np.arange(0.0, seconds, 0.01), trajectory.knots[0]])
    where = trajectory.coordinates(times) + np.array(room.listener)[:, None]
    outside = np.any((where <= 0.0) | (where >= np.array(room.dimensions)[:, None]), axis=0)
    if outside.any():
        t = float(times[np.argmax(outside)])
        x, y, z = where[:, np.argmax(outside)]
        raise SonicMotionError(
            f"the path leaves the {'x'.join(f'{d:g}' for d in room.dimensions)} m room at {t:g} s (room position "
            f"{x:.2f}, {y:.2f}, {z:.2f} m with the listener at {', '.join(f'{p:g}' for p in room.listener)}); keep "
            "the source inside the room")
