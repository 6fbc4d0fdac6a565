"""Directional energy over time: where the energy of each frame comes from.

Each short-time Fourier bin of W, X, Y, Z gives an intensity direction (the active
intensity ``Re(W* · [X, Y, Z])``); the bin's W energy is added to the azimuth cell of that
direction. Sources that do not overlap much in time-frequency (most everyday sounds) show
as separate ridges, so several sources can be followed at once, which a single per-frame
DoA cannot do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import stft

from sonicmotion.spatial.layout import ChannelLayout, check_foa, get_layout


@dataclass(frozen=True)
class EnergyMap:
    """``energy[a, t]``: W energy arriving from azimuth cell ``a`` during frame ``t``."""

    times: np.ndarray  # seconds, frame centres
    azimuths: np.ndarray  # degrees, cell centres in [-180, 180)
    energy: np.ndarray  # (azimuth cells, frames)

    def peaks(self, frames: slice | int = slice(None), count: int = 2) -> list[float]:
        """Azimuths (degrees) of the ``count`` strongest local maxima of the energy summed
        over ``frames``, after light circular smoothing; strongest first."""
        profile = self.energy[:, frames]
        if profile.ndim == 2:
            profile = profile.sum(axis=1)
        smooth = (np.roll(profile, 1) + 2 * profile + np.roll(profile, -1)) / 4
        maxima = np.flatnonzero((smooth >= np.roll(smooth, 1)) & (smooth > np.roll(smooth, -1)))
        maxima = maxima[np.argsort(smooth[maxima])[::-1]][:count]
        return [float(self.azimuths[i]) for i in maxima]


def directional_energy_map(
    foa: np.ndarray,
    sample_rate: int,
    layout: str | ChannelLayout = "fuma",
    cell_degrees: float = 5.0,
    frame_seconds: float = 0.1,
    fft_seconds: float = 0.032,
) -> EnergyMap:
    """Azimuth-time energy map of (4, n) FOA, ``cell_degrees`` wide cells, frames of
    ``frame_seconds`` built from STFT frames of ``fft_seconds`` (half overlap)."""
    layout = get_layout(layout)
    foa = check_foa(foa).astype(np.float64)
    nperseg = max(16, int(round(fft_seconds * sample_rate)))
    if foa.shape[1] < nperseg:  # a clip shorter than one STFT frame: one frame, the rest silence
        foa = np.pad(foa, ((0, 0), (0, nperseg - foa.shape[1])))
    _, stft_times, spec = stft(foa, fs=sample_rate, nperseg=nperseg, noverlap=nperseg // 2, boundary=None)
    w = spec[layout.index("W")]
    ix, iy = (np.real(np.conj(w) * spec[layout.index(c)]) for c in "XY")
    azimuth = np.degrees(np.arctan2(iy, ix))
    energy = np.abs(w) ** 2
    cells = int(round(360.0 / cell_degrees))
    cell = np.floor((azimuth + 180.0) / 360.0 * cells).astype(np.int64) % cells
    per_stft = max(1, int(round(frame_seconds / (stft_times[1] - stft_times[0])))) if stft_times.size > 1 else 1
    frames = max(1, stft_times.size // per_stft)
    grid = np.zeros((cells, frames))
    frame_of = np.minimum(np.arange(stft_times.size) // per_stft, frames - 1)
    np.add.at(grid, (cell, np.broadcast_to(frame_of, cell.shape)), energy)
    times = np.array([stft_times[frame_of == f].mean() for f in range(frames)])
    centres = -180.0 + (np.arange(cells) + 0.5) * 360.0 / cells
    return EnergyMap(times, centres, grid)
