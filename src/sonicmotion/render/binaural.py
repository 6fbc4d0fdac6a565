"""Binaural rendering: FOA -> virtual loudspeakers -> head-related impulse responses.

The default head is a rigid sphere (radius 8.75 cm, ears 10° behind the interaural axis,
as in Brown & Duda's structural model, 1998): each ear gets a one-pole/one-zero head-shadow
filter and a Woodworth-style delay, both computed from the angle between the source and
the ear, plus a coarse pinna shelf that darkens sources behind the head. Nothing is downloaded. A measured HRTF set can replace it (`load_sofa_hrirs`).
Because decoding and filtering are linear, the speaker layout and HRIRs collapse into one
filter per FOA channel and ear: 8 convolutions whatever the number of speakers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from scipy.fft import next_fast_len

from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial.encode import direction_gains
from sonicmotion.spatial.layout import ChannelLayout, check_foa, get_layout

HEAD_RADIUS = 0.0875  # metres
SPEED_OF_SOUND = 343.0  # metres per second
EAR_AZIMUTH = 100.0  # degrees; ears sit slightly behind the interaural axis
# 18 virtual loudspeakers: a horizontal octagon, two tilted squares at ±45°, top and bottom.
SPEAKERS = np.array(
    [(az, 0.0) for az in range(-180, 180, 45)]
    + [(az, el) for el in (45.0, -45.0) for az in (-135.0, -45.0, 45.0, 135.0)]
    + [(0.0, 90.0), (0.0, -90.0)],
    dtype=np.float64,
)
REAR_SHELF_DB = -6.0  # high-frequency shading of a source straight behind
PINNA_CORNER = 3000.0  # Hz
MAX_RE_GAIN = 1.0 / np.sqrt(3.0)  # first-order 3-D max-rE weight of the dipole terms


@dataclass(frozen=True)
class HrirSet:
    """Impulse responses (directions, 2 ears, taps) at ``sample_rate`` for
    ``directions`` (azimuth, elevation) degrees; ear 0 is left."""

    impulses: np.ndarray
    directions: np.ndarray
    sample_rate: int
    name: str


def decoder_matrix(speakers: np.ndarray = SPEAKERS) -> np.ndarray:
    """(speakers, 4) max-rE sampling decoder acting on (p, X, Y, Z) where p is pressure."""
    unit = direction_gains(speakers[:, 0], speakers[:, 1]).T
    return np.hstack([np.ones((len(speakers), 1)), 3.0 * MAX_RE_GAIN * unit]) / len(speakers)


def spherical_head_hrirs(sample_rate: int, directions: np.ndarray = SPEAKERS) -> HrirSet:
    """Rigid-sphere HRIRs for ``directions`` (N, 2) in degrees."""
    taps = int(2 ** np.ceil(np.log2(0.016 * sample_rate)))
    freqs = np.fft.rfftfreq(taps, 1.0 / sample_rate)
    omega = 2 * np.pi * freqs
    omega0 = SPEED_OF_SOUND / HEAD_RADIUS
    base_delay = 2 * HEAD_RADIUS / SPEED_OF_SOUND + 0.001  # keeps every response causal
    sources = direction_gains(directions[:, 0], directions[:, 1]).T  # (N, 3)
    ears = direction_gains(np.array([EAR_AZIMUTH, -EAR_AZIMUTH]), np.zeros(2)).T  # (2, 3)
    incidence = np.arccos(np.clip(sources @ ears.T, -1.0, 1.0))  # (N, 2) radians
    # Head shadow: a high-frequency boost facing the source, a cut behind the head.
    alpha = 1.05 + 0.95 * np.cos(np.degrees(incidence) / 150.0 * np.pi)
    shadow = (1 + 1j * alpha[..., None] * omega / (2 * omega0)) / (1 + 1j * omega / (2 * omega0))
    # Arrival time relative to the head centre: direct path, or the path around the sphere.
    delay = np.where(
        incidence < np.pi / 2,
        -HEAD_RADIUS / SPEED_OF_SOUND * np.cos(incidence),
        HEAD_RADIUS / SPEED_OF_SOUND * (incidence - np.pi / 2),
    )
    # Coarse pinna cue (the sphere alone is nearly front/back symmetric): the pinnae shade
    # sources behind, modelled as a shelf of up to REAR_SHELF_DB above PINNA_CORNER Hz.
    behind = np.clip(-sources[:, 0], 0.0, 1.0)[:, None, None]
    rear_gain = 10.0 ** (REAR_SHELF_DB * behind / 20.0)
    pinna = (1 + 1j * rear_gain * freqs / PINNA_CORNER) / (1 + 1j * freqs / PINNA_CORNER)
    spectrum = shadow * pinna * np.exp(-2j * np.pi * freqs * (delay[..., None] + base_delay))
    return HrirSet(np.fft.irfft(spectrum, n=taps), directions.copy(), sample_rate, "spherical head")


def load_sofa_hrirs(path: str | os.PathLike, sample_rate: int) -> HrirSet:
    """Measured HRIRs from a SOFA file (SimpleFreeFieldHRIR), resampled to ``sample_rate``.

    For each virtual loudspeaker the nearest measured direction is used.
    """
    try:
        import h5py
    except ImportError:
        raise SonicMotionError("reading SOFA files needs h5py: .venv/bin/pip install h5py") from None
    from sonicmotion.audio import resample

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise SonicMotionError(f"{path}: no such HRTF file")
    try:
        with h5py.File(path, "r") as sofa:
            impulses = np.asarray(sofa["Data.IR"], dtype=np.float64)
            rate = float(np.asarray(sofa["Data.SamplingRate"]).ravel()[0])
            positions = np.asarray(sofa["SourcePosition"], dtype=np.float64)
            kind = sofa["SourcePosition"].attrs.get("Type", b"spherical")
    except (OSError, KeyError) as err:
        raise SonicMotionError(f"{path}: not a readable SOFA HRIR file ({err})") from None
    if impulses.ndim != 3 or impulses.shape[1] != 2:
        raise SonicMotionError(f"{path}: Data.IR must be (measurements, 2 ears, taps), got {impulses.shape}")
    if (kind.decode() if isinstance(kind, bytes) else str(kind)).lower() == "cartesian":
        x, y, z = positions[:, 0], positions[:, 1], positions[:, 2]
        positions = np.stack([np.degrees(np.arctan2(y, x)), np.degrees(np.arctan2(z, np.hypot(x, y)))], axis=1)
    measured = direction_gains(positions[:, 0], positions[:, 1]).T
    wanted = direction_gains(SPEAKERS[:, 0], SPEAKERS[:, 1]).T
    nearest = np.argmax(wanted @ measured.T, axis=1)
    chosen = impulses[nearest]
    if int(round(rate)) != sample_rate:
        flat = chosen.reshape(-1, chosen.shape[-1]).astype(np.float32)
        chosen = resample(flat, int(round(rate)), sample_rate).reshape(chosen.shape[0], 2, -1)
    return HrirSet(np.asarray(chosen, dtype=np.float64), SPEAKERS.copy(), sample_rate, os.path.basename(path))


def render_binaural(
    foa: np.ndarray,
    sample_rate: int,
    layout: str | ChannelLayout = "fuma",
    hrirs: HrirSet | None = None,
) -> np.ndarray:
    """Render (4, n) FOA to (2, n) float32 headphone audio (left, right)."""
    layout = get_layout(layout)
    foa = check_foa(foa)
    hrirs = hrirs or spherical_head_hrirs(sample_rate)
    if hrirs.sample_rate != sample_rate:
        raise SonicMotionError(f"HRIRs are at {hrirs.sample_rate} Hz but the audio is at {sample_rate} Hz")
    decoder = decoder_matrix(hrirs.directions)  # (S, 4) on (p, X, Y, Z)
    filters = np.einsum("sc,set->cet", decoder, hrirs.impulses)  # (4, 2, taps)
    w = foa[layout.index("W")].astype(np.float64) / layout.w_gain  # pressure
    channels = np.stack([w] + [foa[layout.index(c)].astype(np.float64) for c in "XYZ"])
    n = foa.shape[1]
    # One forward FFT per channel, the ear sums in the frequency domain, one inverse per ear.
    size = next_fast_len(n + filters.shape[-1] - 1, real=True)
    spectra = np.fft.rfft(channels, size)  # (4, bins)
    responses = np.fft.rfft(filters, size)  # (4, 2, bins)
    ears = np.einsum("cf,cef->ef", spectra, responses)
    return np.fft.irfft(ears, size)[:, :n].astype(np.float32)
