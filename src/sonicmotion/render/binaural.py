"""Binaural rendering of FOA, by two methods, through a measured or a modelled head.

HRTF: the MIT KEMAR measurements (normal pinna, 710 directions) that Debian's ``libmysofa1``
installs as a SOFA file are the default where that file and h5py are present; otherwise a
rigid sphere (radius 8.75 cm, ears 10° behind the interaural axis, as in Brown & Duda's
structural model, 1998: a one-pole/one-zero head-shadow filter and a Woodworth-style delay
per ear, plus a coarse pinna shelf that darkens sources behind the head). Any SOFA file
(SimpleFreeFieldHRIR) can be given instead. Nothing is downloaded.

Methods:

- ``speakers``: FOA decoded (max-rE) to 18 virtual loudspeakers, each through the HRIR of
  its direction. Decoding and filtering are linear, so speakers and HRIRs collapse into one
  filter per FOA channel and ear: 8 convolutions whatever the number of speakers. First-order
  decoding spreads a source over many speakers, which blurs its interaural cues.
- ``parametric``: per time-frequency tile (32 ms frames, half overlapping) the direction of
  the intensity vector and the diffuseness ψ (as DirAC, Pulkki 2007); the tile's direct part
  √(1−ψ)·p goes through the HRTF of the measured direction nearest to it, the diffuse part
  √ψ·p through decorrelating filters shaped like the diffuse-field HRTF, one per ear. One
  source gets exactly its own HRTF, so its interaural time and level differences are kept.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
from scipy.fft import next_fast_len
from scipy.ndimage import uniform_filter1d

from sonicmotion.errors import SonicMotionError
from sonicmotion.optional import has_module
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


KEMAR_SOFA = "/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa"  # Debian's libmysofa1
METHODS = ("speakers", "parametric")


def load_sofa(path: str | os.PathLike) -> HrirSet:
    """Every measured HRIR of a SOFA file (SimpleFreeFieldHRIR) at its own rate, with the
    file's ``Data.Delay`` (samples, per measurement or shared) applied to the responses."""
    try:
        import h5py
    except ImportError:
        raise SonicMotionError("reading SOFA files needs h5py: pip install 'sonicmotion[sofa]'") from None
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise SonicMotionError(f"{path}: no such HRTF file")
    try:
        with h5py.File(path, "r") as sofa:
            convention = sofa.attrs.get("SOFAConventions", b"")
            convention = convention.decode() if isinstance(convention, bytes) else str(convention)
            if convention != "SimpleFreeFieldHRIR":
                raise SonicMotionError(f"{path}: SOFA convention {convention or '(none)'!r}; HRIRs need "
                                       "SimpleFreeFieldHRIR")
            impulses = np.asarray(sofa["Data.IR"], dtype=np.float64)
            rate = float(np.asarray(sofa["Data.SamplingRate"]).ravel()[0])
            delays = np.asarray(sofa["Data.Delay"], dtype=np.float64) if "Data.Delay" in sofa else np.zeros((1, 2))
            positions = np.asarray(sofa["SourcePosition"], dtype=np.float64)
            kind = sofa["SourcePosition"].attrs.get("Type", b"spherical")
    except (OSError, KeyError) as err:
        raise SonicMotionError(f"{path}: not a readable SOFA HRIR file ({err})") from None
    if impulses.ndim != 3 or impulses.shape[1] != 2:
        raise SonicMotionError(f"{path}: Data.IR must be (measurements, 2 ears, taps), got {impulses.shape}")
    if (kind.decode() if isinstance(kind, bytes) else str(kind)).lower() == "cartesian":
        x, y, z = positions[:, 0], positions[:, 1], positions[:, 2]
        positions = np.stack([np.degrees(np.arctan2(y, x)), np.degrees(np.arctan2(z, np.hypot(x, y)))], axis=1)
    delays = np.broadcast_to(delays.reshape(-1, 2), (impulses.shape[0], 2))
    if np.any(delays):  # a whole-response delay per measurement and ear, in samples (may be fractional)
        extra = int(np.ceil(delays.max()))
        size = impulses.shape[-1] + extra
        spectrum = np.fft.rfft(impulses, size) * np.exp(-2j * np.pi * np.fft.rfftfreq(size)[None, None]
                                                        * delays[..., None])
        impulses = np.fft.irfft(spectrum, size)
    return HrirSet(impulses, positions[:, :2].copy(), int(round(rate)), os.path.basename(path))


def resampled(hrtf: HrirSet, sample_rate: int) -> HrirSet:
    """The same set at ``sample_rate`` Hz (soxr HQ)."""
    from sonicmotion.audio import resample

    if hrtf.sample_rate == sample_rate:
        return hrtf
    flat = hrtf.impulses.reshape(-1, hrtf.impulses.shape[-1]).astype(np.float32)
    out = resample(flat, hrtf.sample_rate, sample_rate).reshape(hrtf.impulses.shape[0], 2, -1)
    return HrirSet(np.asarray(out, dtype=np.float64), hrtf.directions, sample_rate, hrtf.name)


def nearest(hrtf: HrirSet, directions: np.ndarray) -> HrirSet:
    """The measured responses nearest to each of ``directions`` (N, 2) degrees."""
    measured = direction_gains(hrtf.directions[:, 0], hrtf.directions[:, 1]).T
    wanted = direction_gains(directions[:, 0], directions[:, 1]).T
    index = np.argmax(wanted @ measured.T, axis=1)
    return HrirSet(hrtf.impulses[index], np.asarray(directions, dtype=np.float64).copy(), hrtf.sample_rate, hrtf.name)


def load_sofa_hrirs(path: str | os.PathLike, sample_rate: int) -> HrirSet:
    """A SOFA file's HRIRs at ``sample_rate``, all measured directions (for either method)."""
    return resampled(load_sofa(path), sample_rate)


# A dense grid for the spherical head, so the parametric method has a response near every direction.
_SPHERE_GRID = np.array([(az, el) for el in range(-80, 81, 10) for az in range(-180, 180, 5)]
                        + [(0, 90), (0, -90)], dtype=np.float64)


@functools.lru_cache(maxsize=4)
def default_hrtf(sample_rate: int) -> HrirSet:
    """MIT KEMAR (Debian's libmysofa1 file) where it and h5py are present, else the spherical head."""
    if os.path.isfile(KEMAR_SOFA) and has_module("h5py"):
        kemar = load_sofa_hrirs(KEMAR_SOFA, sample_rate)
        return HrirSet(kemar.impulses, kemar.directions, sample_rate,
                       "MIT KEMAR, normal pinna (measured; libmysofa1's SOFA file)")
    return spherical_head_hrirs(sample_rate, _SPHERE_GRID)


def render_binaural(
    foa: np.ndarray,
    sample_rate: int,
    layout: str | ChannelLayout = "fuma",
    hrirs: HrirSet | None = None,
    method: str = "speakers",
) -> np.ndarray:
    """Render (4, n) FOA to (2, n) float32 headphone audio (left, right) with ``method``
    (``"speakers"`` or ``"parametric"``) through ``hrirs`` (default: :func:`default_hrtf`)."""
    layout = get_layout(layout)
    foa = check_foa(foa)
    if method not in METHODS:
        raise SonicMotionError(f"binaural method must be one of {', '.join(METHODS)}, got {method!r}")
    hrirs = hrirs or default_hrtf(sample_rate)
    if hrirs.sample_rate != sample_rate:
        raise SonicMotionError(f"HRIRs are at {hrirs.sample_rate} Hz but the audio is at {sample_rate} Hz")
    w = foa[layout.index("W")].astype(np.float64) / layout.w_gain  # pressure
    # X, Y, Z with the gain of a plane wave's pressure (FuMa's; AmbiX's are the same for order 1).
    channels = np.stack([w] + [foa[layout.index(c)].astype(np.float64) for c in "XYZ"])
    if method == "parametric":
        return _render_parametric(channels, sample_rate, hrirs)
    speakers = nearest(hrirs, SPEAKERS)
    decoder = decoder_matrix(speakers.directions)  # (S, 4) on (p, X, Y, Z)
    filters = np.einsum("sc,set->cet", decoder, speakers.impulses)  # (4, 2, taps)
    n = foa.shape[1]
    # One forward FFT per channel, the ear sums in the frequency domain, one inverse per ear.
    size = next_fast_len(n + filters.shape[-1] - 1, real=True)
    spectra = np.fft.rfft(channels, size)  # (4, bins)
    responses = np.fft.rfft(filters, size)  # (4, 2, bins)
    ears = np.einsum("cf,cef->ef", spectra, responses)
    return np.fft.irfft(ears, size)[:, :n].astype(np.float32)


FRAME_SECONDS = 0.032  # parametric analysis frames, half overlapping
SMOOTHING_FRAMES = 3  # intensity and energy averaged over this many frames


def _direction_table(hrirs: HrirSet) -> np.ndarray:
    """Index of the nearest measured direction for every 1-degree (azimuth, elevation) cell."""
    return _nearest_table(hrirs.directions.astype(np.float64).tobytes())


@functools.lru_cache(maxsize=8)
def _nearest_table(directions: bytes) -> np.ndarray:
    measured = np.frombuffer(directions, dtype=np.float64).reshape(-1, 2)
    az, el = np.arange(-180.0, 180.0), np.arange(-90.0, 91.0)
    cells = direction_gains(*[g.ravel() for g in np.meshgrid(az, el, indexing="ij")]).T
    unit = direction_gains(measured[:, 0], measured[:, 1]).T
    return np.argmax(cells @ unit.T, axis=1).reshape(len(az), len(el))


def _render_parametric(channels: np.ndarray, sample_rate: int, hrirs: HrirSet) -> np.ndarray:
    from sonicmotion.spatial.parametric import decorrelators

    n = channels.shape[1]
    frame = int(2 ** round(np.log2(FRAME_SECONDS * sample_rate)))
    hop = frame // 2
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)  # periodic Hann: halves sum to 1
    spread = decorrelators(sample_rate)[:2]  # one per ear
    size = next_fast_len(frame + max(hrirs.impulses.shape[-1], spread.shape[-1]) - 1, real=True)
    count = -(-(n + hop) // hop)
    padded = np.zeros((4, (count + 1) * hop))
    padded[:, hop : hop + n] = channels  # every output sample lies under two frames
    starts = hop * np.arange(count)
    frames = padded[:, starts[:, None] + np.arange(frame)[None, :]] * window  # (4, F, frame)
    spectra = np.fft.rfft(frames, size)  # (4, F, bins)
    p, v = spectra[0], spectra[1:]
    intensity = np.real(np.conj(p)[None] * v)  # (3, F, bins)
    energy = 0.5 * (np.abs(p) ** 2 + np.sum(np.abs(v) ** 2, axis=0))
    intensity = uniform_filter1d(intensity, SMOOTHING_FRAMES, axis=-2, mode="nearest")
    energy = uniform_filter1d(energy, SMOOTHING_FRAMES, axis=-2, mode="nearest")
    norm = np.sqrt(np.sum(intensity ** 2, axis=0))
    diffuseness = np.clip(1.0 - norm / np.maximum(energy, 1e-30), 0.0, 1.0)
    diffuseness[energy <= 1e-30] = 1.0  # silence has no direction
    azimuth = np.degrees(np.arctan2(intensity[1], intensity[0]))
    elevation = np.degrees(np.arctan2(intensity[2], np.hypot(intensity[0], intensity[1])))
    table = _direction_table(hrirs)
    index = table[np.clip(np.round(azimuth + 180.0).astype(int), 0, table.shape[0] - 1) % table.shape[0],
                  np.clip(np.round(elevation + 90.0).astype(int), 0, table.shape[1] - 1)]  # (F, bins)
    responses = np.fft.rfft(hrirs.impulses, size)  # (M, 2, bins)
    bins = np.arange(responses.shape[-1])
    direct = responses[index, :, bins[None, :]]  # (F, bins, 2)
    diffuse_field = np.sqrt(np.mean(np.abs(responses) ** 2, axis=0))  # (2, bins)
    spreading = diffuse_field * np.fft.rfft(spread, size)  # (2, bins)
    ears = (np.sqrt(1.0 - diffuseness)[..., None] * direct
            + np.sqrt(diffuseness)[..., None] * spreading.T[None]) * p[..., None]  # (F, bins, 2)
    blocks = np.fft.irfft(np.moveaxis(ears, -1, 0), size)  # (2, F, size)
    out = np.zeros((2, starts[-1] + size))
    for i, start in enumerate(starts):  # overlap-add: the filtered frames run longer than a hop
        out[:, start : start + size] += blocks[:, i]
    return out[:, hop : hop + n].astype(np.float32)
