"""Parametric FOA: one transport signal (W) plus direction and diffuseness per frame and band.

The idea of DirAC (Pulkki 2007) and of the MASA format of 3GPP IVAS, used here as a
latent: every sample of the paper's dataset is one source on a path, so its FOA is one
signal times a slowly turning unit vector, and W with one direction per frame describes
it exactly up to how fast the path turns inside a frame.

Analysis (:func:`analyze_parametric`), per frame of ``hop`` samples and per band:

- direction: the unit vector of the intensity I = Σ W·(X, Y, Z) summed over the frame, so
  loud samples weigh more than quiet ones; frames with no energy hold the neighbouring
  frame's direction;
- diffuseness ψ = 1 − |I| / (c·E) (DirAC), with E = Σ W² + (X² + Y² + Z²) / 2 and, in FuMa
  (W = p/√2), c = 1/√2: ψ is 0 for one plane wave and 1 for an isotropic diffuse field.

Synthesis (:func:`synthesize_parametric`) keeps W equal to the transport signal and builds
X, Y, Z = √2 (1 − ψ) W u + g_d D(W), where u is interpolated per sample along the great
circle between frame centres, D are three decorrelating filters and g_d² = 2/3 (1 − (1 − ψ)²)
restores the energy, so analysing the output gives back the same direction and ψ. Bands
come from a perfect-reconstruction filterbank (complementary masks on the spectrum, which
sum to one at every frequency), so with one direction in every band the synthesis is exact.

Exact for one source on a path (the paper's data); an approximation for several
sources or reverberant recordings, where bands and diffuseness carry what one direction
cannot. Angles are handled as unit vectors; times in samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial.encode import trajectory_gains
from sonicmotion.spatial.layout import FUMA, check_foa
from sonicmotion.spatial.trajectory import Trajectory

# Frames quieter than this fraction of the clip's loudest frame have no direction of their own.
SILENT_FRAME = 1e-6
DECORRELATOR_SECONDS = 0.02  # each side of the centre tap
DECORRELATOR_SEED = 20070601  # fixed: the same parameters always give the same audio
_SQRT2 = float(np.sqrt(2.0))


@dataclass(frozen=True)
class SpatialParameters:
    """Direction and diffuseness per parameter frame and band.

    ``directions`` (bands, 3, frames): unit (X, Y, Z) vectors (front, left, up);
    ``diffuseness`` (bands, frames) in [0, 1]; parameter frame j covers samples
    [j·hop, (j + 1)·hop) and its centre is sample j·hop + (hop − 1)/2.
    """

    directions: np.ndarray
    diffuseness: np.ndarray
    hop: int

    @property
    def bands(self) -> int:
        return self.directions.shape[0]

    @property
    def frames(self) -> int:
        return self.directions.shape[-1]


# -- filterbank ---------------------------------------------------------------------------

def band_edges(bands: int) -> np.ndarray:
    """Crossover frequencies in Hz between ``bands`` bands (bands − 1 of them)."""
    if bands < 1:
        raise SonicMotionError(f"bands must be >= 1, got {bands}")
    if bands == 1:
        return np.zeros(0)
    if bands == 2:
        return np.array([1000.0])
    return np.geomspace(200.0, 6000.0, bands - 1)


def band_masks(num_bins: int, sample_rate: int, bands: int) -> np.ndarray:
    """(bands, num_bins) gains over the rfft bins 0 … sample_rate/2; they sum to 1 at every bin.

    Each crossover is a sin² ramp in log-frequency, one octave wide (less where edges are
    closer), so the bands overlap smoothly and add back to the input exactly.
    """
    edges = band_edges(bands)
    freqs = np.linspace(0.0, sample_rate / 2.0, num_bins)
    octaves = np.log2(np.maximum(freqs, 1e-3))
    width = 1.0 if len(edges) < 2 else min(1.0, float(np.log2(edges[1] / edges[0])))
    above = []  # share of each bin above each edge, 0 -> 1
    for edge in edges:
        x = np.clip((octaves - np.log2(edge)) / width + 0.5, 0.0, 1.0)
        above.append(np.sin(0.5 * np.pi * x) ** 2)
    masks = np.empty((bands, num_bins))
    bounds = [np.ones(num_bins), *above, np.zeros(num_bins)]
    for k in range(bands):
        masks[k] = bounds[k] - bounds[k + 1]
    return masks


def split_bands(signal: np.ndarray, sample_rate: int, bands: int) -> np.ndarray:
    """(…, n) -> (bands, …, n) float64 zero-phase band signals that sum back to ``signal``."""
    signal = np.asarray(signal, dtype=np.float64)
    if bands == 1:
        return signal[None]
    n = signal.shape[-1]
    spectrum = np.fft.rfft(signal, axis=-1)
    masks = band_masks(spectrum.shape[-1], sample_rate, bands)
    shape = (bands,) + (1,) * (signal.ndim - 1) + (spectrum.shape[-1],)
    return np.fft.irfft(spectrum[None] * masks.reshape(shape), n=n, axis=-1)


# -- analysis -----------------------------------------------------------------------------

def _hold_silent(values: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Replace inactive frames (last axis) by the nearest earlier active frame (later for leading ones)."""
    if active.all() or not active.any():
        return values
    index = np.where(active, np.arange(active.size), -1)
    np.maximum.accumulate(index, out=index)
    first = int(np.argmax(active))
    index[index < 0] = first
    return values[..., index]


def analyze_parametric(foa: np.ndarray, sample_rate: int, hop: int = 2048, bands: int = 1) -> SpatialParameters:
    """Direction and diffuseness of (4, n) FuMa FOA per ``hop`` samples and per band.

    The last frame is zero-padded. A clip with no energy at all gets the front direction
    and ψ = 1 (nothing to place).
    """
    foa = check_foa(foa).astype(np.float64)
    if hop < 1:
        raise SonicMotionError(f"hop must be >= 1 sample, got {hop}")
    n = foa.shape[1]
    frames = max(1, -(-n // hop))
    padded = np.zeros((4, frames * hop))
    padded[:, :n] = foa
    directions = np.empty((bands, 3, frames))
    diffuseness = np.empty((bands, frames))
    for b, band in enumerate(split_bands(padded, sample_rate, bands)):
        w, xyz = band[0].reshape(frames, hop), band[1:].reshape(3, frames, hop)
        intensity = (w[None] * xyz).sum(-1)  # (3, frames)
        energy = (w * w).sum(-1) + 0.5 * (xyz * xyz).sum((0, 2))
        norm = np.linalg.norm(intensity, axis=0)
        active = (energy > SILENT_FRAME * energy.max()) & (norm > 0)
        if not active.any():
            directions[b] = np.array([1.0, 0.0, 0.0])[:, None]
            diffuseness[b] = 1.0
            continue
        unit = intensity / np.where(norm > 0, norm, 1.0)
        psi = 1.0 - _SQRT2 * norm / np.where(energy > 0, energy, 1.0)
        directions[b] = _hold_silent(unit, active)
        diffuseness[b] = np.clip(_hold_silent(psi, active), 0.0, 1.0)
    return SpatialParameters(directions, diffuseness, hop)


def trajectory_parameters(trajectory: Trajectory, frames: int, hop: int, sample_rate: int, bands: int = 1) -> SpatialParameters:
    """The parameters of one plane-wave source on ``trajectory`` with a steady level.

    Each frame's direction is the mean of the path's unit vectors over its samples (what
    :func:`analyze_parametric` finds for a steady sound), the same in every band; ψ = 0.
    """
    gains = trajectory_gains(trajectory, frames * hop, sample_rate).astype(np.float64)
    mean = gains.reshape(3, frames, hop).mean(-1)
    unit = mean / np.maximum(np.linalg.norm(mean, axis=0), 1e-12)
    return SpatialParameters(np.repeat(unit[None], bands, 0), np.zeros((bands, frames)), hop)


# -- synthesis ----------------------------------------------------------------------------

def _frame_positions(num_samples: int, frames: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """For each sample: the frame whose centre precedes it and the fraction of the way to the next."""
    position = (np.arange(num_samples) - (hop - 1) / 2.0) / hop
    left = np.clip(np.floor(position).astype(np.int64), 0, max(frames - 2, 0))
    fraction = np.clip(position - left, 0.0, 1.0) if frames > 1 else np.zeros(num_samples)
    return left, fraction


def interpolate_directions(directions: np.ndarray, num_samples: int, hop: int) -> np.ndarray:
    """(3, frames) unit vectors -> (3, num_samples) along the great circle between frame centres.

    Samples before the first centre and after the last hold that frame's direction.
    """
    return _slerp(directions, *_frame_positions(num_samples, directions.shape[-1], hop))


def _slerp(directions: np.ndarray, left: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    a = directions[:, left]
    b = directions[:, np.minimum(left + 1, directions.shape[-1] - 1)]
    cos_angle = np.clip((a * b).sum(0), -1.0, 1.0)
    angle = np.arccos(cos_angle)
    sin_angle = np.sin(angle)
    curved = sin_angle > 1e-6
    safe = np.where(curved, sin_angle, 1.0)
    wa = np.where(curved, np.sin((1.0 - fraction) * angle) / safe, 1.0 - fraction)
    wb = np.where(curved, np.sin(fraction * angle) / safe, fraction)
    out = wa * a + wb * b
    # Opposite directions have no unique great circle: the straight line through the
    # centre passes near zero, so renormalise (and fall back to the earlier frame there).
    norm = np.linalg.norm(out, axis=0)
    return np.where(norm > 1e-9, out / np.where(norm > 1e-9, norm, 1.0), a)


def _lerp(values: np.ndarray, left: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """(frames,) values -> per sample, linear between frame centres, held at the ends."""
    return (1.0 - fraction) * values[left] + fraction * values[np.minimum(left + 1, values.shape[-1] - 1)]


def decorrelators(sample_rate: int) -> np.ndarray:
    """(3, 2·taps + 1) unit-energy decorrelating filters, one per X, Y, Z, centred on tap ``taps``.

    Each is odd around its centre (h[−k] = −h[k], decaying noise on either side), so its
    spectrum is purely imaginary: the output is uncorrelated with the input at lag 0 for
    any input spectrum, and the diffuse part adds no bias to the intensity direction.
    """
    taps = max(8, int(round(DECORRELATOR_SECONDS * sample_rate)))
    rng = np.random.default_rng(DECORRELATOR_SEED)
    half = rng.standard_normal((3, taps)) * np.exp(-np.arange(1, taps + 1) / (taps / 4.0))
    filters = np.concatenate([-half[:, ::-1], np.zeros((3, 1)), half], axis=1)
    return filters / np.linalg.norm(filters, axis=-1, keepdims=True)


def _convolve(signal: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """(n,) * (k, 2·c + 1) centred filters -> (k, n): FFT convolution without delay."""
    n, length = signal.shape[-1], filters.shape[-1]
    centre = length // 2
    size = 1 << int(np.ceil(np.log2(n + length - 1)))
    spectrum = np.fft.rfft(signal, size) * np.fft.rfft(filters, size, axis=-1)
    return np.fft.irfft(spectrum, size, axis=-1)[:, centre : centre + n]


def synthesize_parametric(transport: np.ndarray, parameters: SpatialParameters, sample_rate: int) -> np.ndarray:
    """(4, n) float32 FuMa FOA from the transport W (n,) and its spatial parameters.

    W is the transport itself; the directional part of X, Y, Z follows the interpolated
    direction with gain √2 (1 − ψ); the diffuse part is W through fixed decorrelators.
    """
    transport = np.asarray(transport, dtype=np.float64)
    if transport.ndim != 1:
        raise SonicMotionError(f"transport must be mono (samples,), got shape {transport.shape}")
    if not np.all(np.isfinite(transport)):
        raise SonicMotionError("transport signal contains NaN or infinite samples")
    n, hop = transport.shape[0], parameters.hop
    if parameters.frames * hop < n:
        raise SonicMotionError(
            f"spatial parameters cover {parameters.frames} frames of {hop} samples, fewer than the "
            f"transport's {n} samples"
        )
    foa = np.zeros((4, n))
    foa[0] = transport
    filters = decorrelators(sample_rate) if parameters.diffuseness.max() > 0 else None
    positions = _frame_positions(n, parameters.frames, hop)  # the same for every band
    for b, w in enumerate(split_bands(transport, sample_rate, parameters.bands)):
        unit = _slerp(parameters.directions[b], *positions)
        direct = 1.0 - np.clip(_lerp(parameters.diffuseness[b], *positions), 0.0, 1.0)
        foa[1:] += (_SQRT2 * direct * w) * unit
        if filters is not None:
            diffuse_gain = np.sqrt(np.maximum(2.0 / 3.0 * (1.0 - direct * direct), 0.0))
            if diffuse_gain.max() > 0:
                foa[1:] += diffuse_gain * _convolve(w, filters)
    return foa.astype(np.float32)


def parametric_round_trip(foa: np.ndarray, sample_rate: int, hop: int = 2048, bands: int = 1) -> np.ndarray:
    """Analyse (4, n) FuMa FOA and synthesise it again from its W: what the parametric latent keeps."""
    foa = check_foa(foa)
    return synthesize_parametric(foa[FUMA.index("W")], analyze_parametric(foa, sample_rate, hop, bands), sample_rate)
