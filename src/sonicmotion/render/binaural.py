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
- ``magls``: magnitude least squares (Schörkhuber, Zaunschirm & Höldrich 2018): one filter
  per FOA channel and ear fitted to every measured HRTF at once, in the least-squares sense
  below ``MAGLS_CUTOFF`` Hz, and above it on magnitudes only, each frequency taking the phase
  its neighbour below predicts (interaural time differences are a low-frequency cue, spectral
  colour a high-frequency one; first order cannot hold both phase and magnitude up there).
  Below the cutoff the fit holds the two sides (±90°) exactly and weighs the front more, so
  the largest interaural delays come through (see :func:`magls_filters`).

Level (one convention for every set and method): every HRTF set is **diffuse-field
equalised to 0 dB**: a minimum-phase filter common to all directions and both ears makes
the power average over the sphere (directions weighted by the solid angle they stand for)
flat at 0 dB from 100 Hz to 0.8 x the set's Nyquist frequency (held outside; at most
±``EQ_LIMIT_DB``). A diffuse sound keeps its level at each ear; a plane wave gets its own
direction's HRTF (about +3 dB at the near ear from the side). Resampling a set scales it by
the rate ratio, so a filter's gain does not depend on the rate it runs at. The ``speakers``
and ``magls`` filters lose energy where first order cannot follow the HRTFs (above ~1 kHz);
their diffuse-field response is equalised back to the set's (a common filter, which keeps
interaural differences), so switching method keeps the loudness.
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
EQ_LIMIT_DB = 20.0  # the diffuse-field equalisers boost or cut by at most this much
EQ_LOW_HOLD = 100.0  # Hz: below, the equaliser keeps its gain here (measurements are unreliable)
EQ_HIGH_HOLD = 0.8  # of Nyquist: above, the equaliser keeps its gain here (anti-alias roll-off)
MAGLS_CUTOFF = 2000.0  # Hz: least squares below, magnitude least squares above
MAGLS_SIDES = np.array([(90.0, 0.0), (-90.0, 0.0)])  # degrees: matched exactly below the cutoff
MAGLS_FRONT_EMPHASIS = 5.0  # below the cutoff, weights x (1 + this x max(0, forward component))


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


def _sphere_impulses(sample_rate: int, directions: np.ndarray) -> np.ndarray:
    """Rigid-sphere HRIRs (N, 2, taps) for ``directions`` (N, 2) in degrees, before equalisation."""
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
    return np.fft.irfft(spectrum, n=taps)


def spherical_head_hrirs(sample_rate: int, directions: np.ndarray = SPEAKERS) -> HrirSet:
    """Rigid-sphere HRIRs for ``directions`` (N, 2) in degrees, diffuse-field equalised (the
    equaliser is measured on a dense grid, so it does not depend on ``directions``)."""
    directions = np.asarray(directions, dtype=np.float64)
    impulses = _apply_filter(_sphere_impulses(sample_rate, directions), _sphere_equaliser(sample_rate))
    return HrirSet(impulses, directions.copy(), sample_rate, "spherical head")


@functools.lru_cache(maxsize=4)
def _sphere_equaliser(sample_rate: int) -> np.ndarray:
    dense = HrirSet(_sphere_impulses(sample_rate, _SPHERE_GRID), _SPHERE_GRID, sample_rate, "spherical head")
    return diffuse_field_equaliser(dense)


KEMAR_SOFA = "/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa"  # Debian's libmysofa1
METHODS = ("speakers", "parametric", "magls")


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
    """The same set at ``sample_rate`` Hz (soxr HQ), with the same gain.

    An impulse response's samples are the continuous response times the sampling period:
    at a new rate the samples scale by old rate / new rate, or every filter's gain would
    change by new / old (-8.8 dB from 44.1 to 16 kHz)."""
    from sonicmotion.audio import resample

    if hrtf.sample_rate == sample_rate:
        return hrtf
    flat = hrtf.impulses.reshape(-1, hrtf.impulses.shape[-1]).astype(np.float32)
    out = resample(flat, hrtf.sample_rate, sample_rate).reshape(hrtf.impulses.shape[0], 2, -1)
    out = np.asarray(out, dtype=np.float64) * (hrtf.sample_rate / sample_rate)
    return HrirSet(out, hrtf.directions, sample_rate, hrtf.name)


def direction_weights(directions: np.ndarray) -> np.ndarray:
    """Quadrature weights (N,), summing to 1, for ``directions`` (N, 2) degrees: each counts
    inversely to the number of directions within 20° of it, so a densely measured ring does
    not outweigh a sparse one in averages over the sphere."""
    unit = direction_gains(directions[:, 0], directions[:, 1]).T
    close = np.cos(np.radians(20.0))
    # In blocks of rows: a dense SOFA set (12,000 directions) would need 1 GB as one matrix.
    neighbours = np.concatenate([np.sum(unit[i : i + 1024] @ unit.T > close, axis=1)
                                 for i in range(0, len(unit), 1024)])
    weights = 1.0 / neighbours
    return weights / weights.sum()


def plane_wave_gains(directions: np.ndarray) -> np.ndarray:
    """(N, 4) what a plane wave from each of ``directions`` (N, 2) degrees puts on (p, X, Y, Z)."""
    directions = np.asarray(directions, dtype=np.float64)
    return np.hstack([np.ones((len(directions), 1)), direction_gains(directions[:, 0], directions[:, 1]).T])


def _smooth_third_octave(power: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Power spectrum (..., bins) averaged over a third of an octave around each bin."""
    cumulative = np.concatenate([np.zeros(power.shape[:-1] + (1,)), np.cumsum(power, axis=-1)], axis=-1)
    lo = np.searchsorted(freqs, freqs * 2 ** (-1 / 6), side="left")
    hi = np.maximum(np.searchsorted(freqs, freqs * 2 ** (1 / 6), side="right"), lo + 1)
    return (cumulative[..., hi] - cumulative[..., lo]) / (hi - lo)


def minimum_phase(magnitude: np.ndarray, size: int) -> np.ndarray:
    """Impulse response (size,) with ``magnitude`` (size // 2 + 1 bins) and minimum phase
    (folded real cepstrum)."""
    cepstrum = np.fft.irfft(np.log(np.maximum(magnitude, 1e-12)), size)
    folded = np.zeros(size)
    folded[0] = cepstrum[0]
    folded[1 : size // 2] = 2.0 * cepstrum[1 : size // 2]
    folded[size // 2] = cepstrum[size // 2]
    return np.fft.irfft(np.exp(np.fft.rfft(folded)), size)


EQ_SIZE = 4096  # FFT size of the equalisers' design; they are then cut to 8 ms


def _equaliser(gain_power: np.ndarray, freqs: np.ndarray, sample_rate: int) -> np.ndarray:
    """A minimum-phase FIR whose power gain follows ``gain_power`` (third-octave smoothed,
    held below EQ_LOW_HOLD and above EQ_HIGH_HOLD x Nyquist, limited to ±EQ_LIMIT_DB)."""
    db = 10.0 * np.log10(np.maximum(gain_power, 1e-30))
    held = (freqs >= EQ_LOW_HOLD) & (freqs <= EQ_HIGH_HOLD * sample_rate / 2)
    inside = np.flatnonzero(held)
    db = np.interp(freqs, freqs[inside], db[inside])  # constant outside the held band
    db = np.clip(db, -EQ_LIMIT_DB, EQ_LIMIT_DB)
    grid = np.fft.rfftfreq(EQ_SIZE, 1.0 / sample_rate)
    magnitude = 10.0 ** (np.interp(grid, freqs, db) / 20.0)
    impulse = minimum_phase(magnitude, EQ_SIZE)
    taps = int(2 ** np.ceil(np.log2(0.008 * sample_rate)))  # 8 ms: the smoothed response settles well within
    fade = 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, taps // 4))
    out = impulse[:taps].copy()
    out[-len(fade):] *= fade
    return out


def _apply_filter(impulses: np.ndarray, fir: np.ndarray) -> np.ndarray:
    """Every response (..., taps) convolved with ``fir`` (full length)."""
    size = next_fast_len(impulses.shape[-1] + fir.shape[-1] - 1, real=True)
    out = np.fft.irfft(np.fft.rfft(impulses, size) * np.fft.rfft(fir, size), size)
    return out[..., : impulses.shape[-1] + fir.shape[-1] - 1]


def diffuse_field_power(hrtf: HrirSet, size: int) -> np.ndarray:
    """(size // 2 + 1,) power response averaged over the sphere (weighted) and both ears."""
    spectra = np.abs(np.fft.rfft(hrtf.impulses, size)) ** 2  # (M, 2, bins)
    return np.einsum("m,meb->b", direction_weights(hrtf.directions), spectra) / 2.0


def diffuse_field_equaliser(hrtf: HrirSet) -> np.ndarray:
    """The minimum-phase FIR that brings ``hrtf``'s diffuse-field response to 0 dB."""
    size = max(EQ_SIZE, int(2 ** np.ceil(np.log2(hrtf.impulses.shape[-1]))))
    freqs = np.fft.rfftfreq(size, 1.0 / hrtf.sample_rate)
    power = _smooth_third_octave(diffuse_field_power(hrtf, size), freqs)
    return _equaliser(1.0 / np.maximum(power, 1e-30), freqs, hrtf.sample_rate)


def diffuse_field_equalised(hrtf: HrirSet) -> HrirSet:
    """``hrtf`` with its diffuse-field response at 0 dB (see the module docstring)."""
    impulses = _apply_filter(hrtf.impulses, diffuse_field_equaliser(hrtf))
    return HrirSet(impulses, hrtf.directions, hrtf.sample_rate, hrtf.name)


def nearest_index(hrtf: HrirSet, directions: np.ndarray) -> np.ndarray:
    """(N,) index of the measured direction nearest to each of ``directions`` (N, 2) degrees."""
    measured = direction_gains(hrtf.directions[:, 0], hrtf.directions[:, 1]).T
    wanted = direction_gains(directions[:, 0], directions[:, 1]).T
    return np.argmax(wanted @ measured.T, axis=1)


def nearest(hrtf: HrirSet, directions: np.ndarray) -> HrirSet:
    """The measured responses nearest to each of ``directions`` (N, 2) degrees."""
    index = nearest_index(hrtf, directions)
    return HrirSet(hrtf.impulses[index], np.asarray(directions, dtype=np.float64).copy(), hrtf.sample_rate, hrtf.name)


def load_sofa_hrirs(path: str | os.PathLike, sample_rate: int) -> HrirSet:
    """A SOFA file's HRIRs at ``sample_rate``, all measured directions, diffuse-field
    equalised at the file's own rate (where its whole band is known), then resampled."""
    return resampled(diffuse_field_equalised(load_sofa(path)), sample_rate)


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
    (``"speakers"``, ``"parametric"`` or ``"magls"``) through ``hrirs`` (default:
    :func:`default_hrtf`)."""
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
    filters = binaural_filters(hrirs, method)  # (4, 2, taps)
    n = foa.shape[1]
    # One forward FFT per channel, the ear sums in the frequency domain, one inverse per ear.
    size = next_fast_len(n + filters.shape[-1] - 1, real=True)
    spectra = np.fft.rfft(channels, size)  # (4, bins)
    responses = np.fft.rfft(filters, size)  # (4, 2, bins)
    ears = np.einsum("cf,cef->ef", spectra, responses)
    return np.fft.irfft(ears, size)[:, :n].astype(np.float32)


_FILTERS: dict[tuple[int, str], tuple[HrirSet, np.ndarray]] = {}  # the last few sets' filters


def binaural_filters(hrirs: HrirSet, method: str = "speakers") -> np.ndarray:
    """(4, 2, taps) filters from (p, X, Y, Z) to the ears for the ``speakers`` or ``magls``
    method, their diffuse-field response equalised to that of ``hrirs`` (kept for the last
    few sets: a report renders many clips through one set)."""
    kept = _FILTERS.get((id(hrirs), method))
    if kept is not None and kept[0] is hrirs:
        return kept[1]
    filters = _design_filters(hrirs, method)
    if len(_FILTERS) >= 8:
        _FILTERS.pop(next(iter(_FILTERS)))
    _FILTERS[(id(hrirs), method)] = (hrirs, filters)
    return filters


def _design_filters(hrirs: HrirSet, method: str) -> np.ndarray:
    if method == "speakers":
        speakers = nearest(hrirs, SPEAKERS)
        decoder = decoder_matrix(speakers.directions)  # (S, 4) on (p, X, Y, Z)
        filters = np.einsum("sc,set->cet", decoder, speakers.impulses)
    elif method == "magls":
        filters = magls_filters(hrirs)
    else:
        raise SonicMotionError(f"no fixed filters for binaural method {method!r}")
    return _apply_filter(filters, decoder_equaliser(filters, hrirs))


def decoder_equaliser(filters: np.ndarray, hrirs: HrirSet) -> np.ndarray:
    """Minimum-phase FIR that gives ``filters`` (4, 2, taps) on (p, X, Y, Z) the diffuse-field
    power response of ``hrirs``: the power of the rendered plane waves (p, X, Y, Z) = (1, u)
    from the measured directions, averaged with the same weights as the set's own (a set
    measured on part of the sphere is compared on that part), both ears averaged, so
    interaural differences are untouched."""
    size = max(EQ_SIZE, int(2 ** np.ceil(np.log2(max(filters.shape[-1], hrirs.impulses.shape[-1])))))
    freqs = np.fft.rfftfreq(size, 1.0 / hrirs.sample_rate)
    planes = np.einsum("mc,ceb->meb", plane_wave_gains(hrirs.directions), np.fft.rfft(filters, size))  # (M, 2, bins)
    rendered = np.einsum("m,meb->b", direction_weights(hrirs.directions.astype(np.float64)), np.abs(planes) ** 2) / 2.0
    target = diffuse_field_power(hrirs, size)
    ratio = _smooth_third_octave(target, freqs) / np.maximum(_smooth_third_octave(rendered, freqs), 1e-30)
    return _equaliser(ratio, freqs, hrirs.sample_rate)


def _least_squares_solver(gains: np.ndarray, weights: np.ndarray, exact: np.ndarray | None = None) -> np.ndarray:
    """(4, M) matrix S such that b = S h minimises ||W^1/2 (Y b - h)||^2 (plus a little
    Tikhonov, for sparse sets) for Y = ``gains`` (M, 4), W = ``weights`` (M,) and any M
    responses h, subject to (Y b)[m] = h[m] exactly for the directions m in ``exact``
    (a Lagrange-multiplier system; the constrained rows must be independent)."""
    normal = gains.T @ (weights[:, None] * gains)
    normal += 1e-3 * np.trace(normal) / 4.0 * np.eye(4)
    exact = np.zeros(0, dtype=int) if exact is None else exact
    rows = gains[exact]  # (K, 4) the constraints
    k = len(exact)
    system = np.block([[normal, rows.T], [rows, np.zeros((k, k))]])
    right = np.zeros((4 + k, len(gains)))
    right[:4] = (weights[:, None] * gains).T
    right[4 + np.arange(k), exact] = 1.0
    return np.linalg.solve(system, right)[:4]


def magls_filters(hrirs: HrirSet, cutoff: float = MAGLS_CUTOFF) -> np.ndarray:
    """(4, 2, taps) magnitude-least-squares filters on (p, X, Y, Z), before diffuse-field
    equalisation (Schörkhuber, Zaunschirm & Höldrich 2018), with the sides held exactly.

    Per frequency bin f and ear, with Y (M, 4) the plane-wave gains (1, u) of the M measured
    directions and h (M,) their HRTFs, weights W from :func:`direction_weights`:
    below ``cutoff`` Hz, b(f) = argmin ||V^1/2 (Y b - h)||^2 (complex least squares) subject
    to Y b = h at the measured directions nearest to ``MAGLS_SIDES``, with V = W (1 +
    ``MAGLS_FRONT_EMPHASIS`` max(0, u_x)); above, b(f) = argmin ||W^1/2 (Y b - |h| e^{i phi})||^2
    with phi = arg(Y b(f - 1)), the phase the previous bin's solution gives each direction:
    only magnitudes are matched, and the phase stays continuous across bins.

    Why: a plain fit over the sphere cannot follow the interaural phase above ~500 Hz and
    renders KEMAR's 0.72 ms ITD at the sides as 0.46 ms. Holding the two sides fixes the omni
    and left-right filters, b0 = (h(+90) + h(-90)) / 2 and by = (h(+90) - h(-90)) / 2. On the
    horizon only the front-back filter bx is then free: above ~600 Hz one ear's responses from
    the two sides approach opposite phase, b0 shrinks, and b0 + bx cos(azimuth) can restore the
    front's responses or the back's, not both (cos changes sign). The emphasis gives bx to the
    front; behind the head (135°) the ITD comes out too large (figures in docs/rendering.md)."""
    directions = hrirs.directions.astype(np.float64)
    taps = hrirs.impulses.shape[-1]
    size = int(2 ** np.ceil(np.log2(2 * taps)))  # room for the phase the fit leaves to later bins
    # The set's common delay (its energy peak) is taken out before the fit and put back after:
    # above the cutoff the fit keeps each bin's phase close to its neighbour's, so it would
    # otherwise spread the high frequencies around time 0, half of them before it.
    bulk = int(np.argmax(np.sum(hrirs.impulses ** 2, axis=(0, 1))))
    spectra = np.fft.rfft(hrirs.impulses, size)  # (M, 2, bins)
    advance = np.exp(2j * np.pi * np.arange(spectra.shape[-1]) * bulk / size)
    spectra = spectra * advance
    freqs = np.fft.rfftfreq(size, 1.0 / hrirs.sample_rate)
    gains = plane_wave_gains(directions)
    weights = direction_weights(directions)
    sides = np.unique(nearest_index(hrirs, MAGLS_SIDES))
    front = weights * (1.0 + MAGLS_FRONT_EMPHASIS * np.clip(gains[:, 1], 0.0, None))
    low = freqs < cutoff
    coefficients = np.zeros((4, 2, len(freqs)), dtype=np.complex128)
    held = _least_squares_solver(gains, front, sides)
    coefficients[..., low] = np.einsum("cm,meb->ceb", held, spectra[..., low])
    solver = _least_squares_solver(gains, weights)
    magnitude = np.abs(spectra)
    for k in np.flatnonzero(~low):
        if k == 0:  # a cutoff of 0 Hz: nothing below to take the phase from
            coefficients[..., k] = solver @ spectra[..., k]
            continue
        phase = np.angle(np.einsum("mc,ce->me", gains, coefficients[..., k - 1]))
        coefficients[..., k] = solver @ (magnitude[..., k] * np.exp(1j * phase))
    coefficients[..., -1] = coefficients[..., -1].real  # the Nyquist bin of a real filter
    return np.fft.irfft(coefficients / advance, size)


def plane_wave_ears(mono: np.ndarray, hrirs: HrirSet, azimuth: float, elevation: float) -> np.ndarray:
    """(2, n) float64: ``mono`` through the measured HRIR nearest to (azimuth, elevation)
    degrees: what the head hears of one plane wave, the reference every method is measured against."""
    pair = nearest(hrirs, np.array([[azimuth, elevation]], dtype=np.float64)).impulses[0]
    return _apply_filter(np.asarray(mono, dtype=np.float64)[None], pair)[:, : len(mono)]


ITD_CUTOFF = 1500.0  # Hz: interaural time differences are read below this
MAX_ITD = 0.001  # seconds


def interaural_time_difference(ears: np.ndarray, sample_rate: int) -> float:
    """Right-minus-left arrival time of (2, n) ear signals in seconds (positive: the left ear
    hears it first), from the peak of their cross-correlation below ``ITD_CUTOFF`` Hz within
    ±``MAX_ITD``, refined by a parabola through the peak."""
    size = next_fast_len(2 * ears.shape[1], real=True)
    spectra = np.fft.rfft(np.asarray(ears, dtype=np.float64), size)
    spectra[:, np.fft.rfftfreq(size, 1.0 / sample_rate) > ITD_CUTOFF] = 0.0
    cross = np.fft.irfft(spectra[1] * np.conj(spectra[0]), size)  # peaks at lag (right - left)
    lags = int(MAX_ITD * sample_rate)
    window = np.concatenate([cross[-lags:], cross[: lags + 1]])
    k = int(np.argmax(window))
    shift = 0.0
    if 0 < k < len(window) - 1:
        a, b, c = window[k - 1 : k + 2]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c != 0 else 0.0
    return (k - lags + shift) / sample_rate


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
    diffuse_field = np.sqrt(np.einsum("m,meb->eb", direction_weights(hrirs.directions.astype(np.float64)),
                                      np.abs(responses) ** 2))  # (2, bins)
    spreading = diffuse_field * np.fft.rfft(spread, size)  # (2, bins)
    ears = (np.sqrt(1.0 - diffuseness)[..., None] * direct
            + np.sqrt(diffuseness)[..., None] * spreading.T[None]) * p[..., None]  # (F, bins, 2)
    blocks = np.fft.irfft(np.moveaxis(ears, -1, 0), size)  # (2, F, size)
    out = np.zeros((2, starts[-1] + size))
    for i, start in enumerate(starts):  # overlap-add: the filtered frames run longer than a hop
        out[:, start : start + size] += blocks[:, i]
    return out[:, hop : hop + n].astype(np.float32)


def mean_ear_level_db(mono: np.ndarray, sample_rate: int, hrirs: HrirSet, directions, method: str) -> float:
    """The ears' power over ``mono``'s in dB, averaged over ``directions`` ((azimuth, elevation)
    degrees), for ``method`` or ``"direct"`` (the plane wave through its own HRIR, the reference);
    the first 1/8 s is left out while the filters settle."""
    from sonicmotion.spatial import Trajectory, encode_foa

    powers = []
    for azimuth, elevation in directions:
        if method == "direct":
            ears = plane_wave_ears(mono, hrirs, azimuth, elevation)
        else:
            ears = render_binaural(encode_foa(mono, sample_rate, Trajectory.static(azimuth, elevation)), sample_rate,
                                   hrirs=hrirs, method=method)
        powers.append(np.mean(ears[:, sample_rate // 8 :].astype(np.float64) ** 2))
    return float(10 * np.log10(np.mean(powers) / np.mean(np.asarray(mono, dtype=np.float64) ** 2)))
