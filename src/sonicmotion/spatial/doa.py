"""Direction of arrival from the FOA intensity vector (paper Eq. 5-6, SPEC §2)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial.layout import ChannelLayout, check_foa, get_layout

RESOLUTIONS = ("frame", "sample")
FRAME_SECONDS = 0.1
HOP_SECONDS = 0.05
GATE = 1e-3


@dataclass(frozen=True)
class FrameGrid:
    """Frames of ``length`` samples every ``hop`` samples over ``num_samples`` samples.

    A clip shorter than one frame is one frame covering the whole clip.
    """

    num_samples: int
    length: int
    hop: int

    @classmethod
    def from_seconds(cls, num_samples: int, sample_rate: int, frame_seconds: float, hop_seconds: float) -> "FrameGrid":
        length = int(round(frame_seconds * sample_rate))
        hop = int(round(hop_seconds * sample_rate))
        if length < 1 or hop < 1:
            raise SonicMotionError(
                f"frame ({frame_seconds} s) and hop ({hop_seconds} s) must each span at least one sample"
            )
        return cls(num_samples, length, hop)

    @property
    def starts(self) -> np.ndarray:
        if self.num_samples <= self.length:
            return np.zeros(1, dtype=np.int64)
        return np.arange(0, self.num_samples - self.length + 1, self.hop, dtype=np.int64)

    @property
    def stops(self) -> np.ndarray:
        return np.minimum(self.starts + self.length, self.num_samples)

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` (..., num_samples) inside each frame -> (..., frames), float64."""
        if self.num_samples <= self.length:
            return values.sum(axis=-1, dtype=np.float64)[..., None]
        # Every frame starts and ends on a multiple of gcd(length, hop): sum blocks of that
        # size once (vectorised, float32 pairwise sums are accurate to ~1e-7), then form
        # frames from prefix sums over blocks.
        block = math.gcd(self.length, self.hop)
        count = self.num_samples // block
        blocks = values[..., : count * block].reshape(values.shape[:-1] + (count, block)).sum(axis=-1)
        prefix = np.zeros(values.shape[:-1] + (count + 1,), dtype=np.float64)
        np.cumsum(blocks, axis=-1, dtype=np.float64, out=prefix[..., 1:])
        return prefix[..., self.stops // block] - prefix[..., self.starts // block]

    def centres(self, sample_rate: int) -> np.ndarray:
        """Frame centre times in seconds."""
        return (self.starts + self.stops) / (2.0 * sample_rate)


@dataclass(frozen=True)
class DoaEstimate:
    """Estimated direction per frame (or per sample), in degrees."""

    times: np.ndarray  # seconds: frame centres, or sample times
    azimuth: np.ndarray  # degrees in [-180, 180)
    elevation: np.ndarray  # degrees in [-90, 90]
    active: np.ndarray  # bool: frames loud enough to have a direction
    resolution: str
    energy: np.ndarray  # W energy per frame (sum of squares) or per sample

    def to_dict(self) -> dict[str, Any]:
        return {
            "resolution": self.resolution,
            "times": self.times.round(6).tolist(),
            "azimuth": self.azimuth.round(4).tolist(),
            "elevation": self.elevation.round(4).tolist(),
            "active": self.active.tolist(),
        }


def intensity(foa: np.ndarray, layout: str | ChannelLayout = "fuma") -> tuple[np.ndarray, np.ndarray]:
    """Per-sample intensity (3, n) = (W·X, W·Y, W·Z) and W energy (n,).

    Float32 input stays float32 (fast, and ample for directions); anything else is
    computed in float64. W's normalisation is a positive factor, so directions do not
    depend on the layout.
    """
    layout = get_layout(layout)
    foa = check_foa(foa)
    if foa.dtype != np.float32:
        foa = foa.astype(np.float64)
    w = foa[layout.index("W")]
    xyz = foa[[layout.index(c) for c in "XYZ"]]
    return xyz * w, w * w


def vector_angles(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth and elevation in degrees of (3, n) vectors (atan2 form of Eq. 6)."""
    x, y, z = vectors
    azimuth = np.degrees(np.arctan2(y, x))
    elevation = np.degrees(np.arctan2(z, np.hypot(x, y)))
    # atan2 gives (-180, 180]; SPEC stores [-180, 180).
    azimuth[azimuth >= 180.0] -= 360.0
    return azimuth, elevation


def estimate_doa(
    foa: np.ndarray,
    sample_rate: int,
    layout: str | ChannelLayout = "fuma",
    resolution: str = "frame",
    frame_seconds: float = FRAME_SECONDS,
    hop_seconds: float = HOP_SECONDS,
    gate: float = GATE,
) -> DoaEstimate:
    """Direction of arrival of (4, n) FOA over time.

    ``resolution="frame"``: intensity summed over frames of ``frame_seconds`` every
    ``hop_seconds``; frames whose W energy is below ``gate`` times the loudest frame's
    are inactive. ``resolution="sample"``: the paper's per-sample intensity; a sample
    is inactive only when its intensity is exactly zero (silence).
    """
    if resolution not in RESOLUTIONS:
        raise SonicMotionError(f"resolution must be 'frame' or 'sample', got {resolution!r}")
    if sample_rate <= 0:
        raise SonicMotionError(f"sample rate must be positive, got {sample_rate}")
    vectors, energy = intensity(foa, layout)
    n = vectors.shape[1]
    if n == 0:
        raise SonicMotionError("FOA audio has no samples")
    if resolution == "sample":
        azimuth, elevation = vector_angles(vectors)
        active = np.any(vectors != 0.0, axis=0)
        return DoaEstimate(np.arange(n) / sample_rate, azimuth, elevation, active, "sample", energy)
    grid = FrameGrid.from_seconds(n, sample_rate, frame_seconds, hop_seconds)
    frame_vectors = grid.sums(vectors)
    frame_energy = grid.sums(energy)
    azimuth, elevation = vector_angles(frame_vectors)
    active = active_frames(frame_vectors, frame_energy, gate)
    return DoaEstimate(grid.centres(sample_rate), azimuth, elevation, active, "frame", frame_energy)


def active_frames(frame_vectors: np.ndarray, frame_energy: np.ndarray, gate: float = GATE) -> np.ndarray:
    """Frames loud enough to have a direction: W energy above ``gate`` times the loudest
    frame's, and a non-zero intensity."""
    loudest = frame_energy.max()
    return (frame_energy > gate * loudest) & (loudest > 0) & np.any(frame_vectors != 0.0, axis=0)


def direction_summary(estimate: DoaEstimate, step_seconds: float = 1.0) -> list[str]:
    """One line per ``step_seconds`` window (s): the energy-weighted mean direction (degrees) and its words."""
    from sonicmotion.spatial.encode import direction_gains
    from sonicmotion.spatial.regions import describe_direction

    lines: list[str] = []
    if not estimate.active.any():
        return lines
    last = float(estimate.times[-1])
    edges = np.arange(0.0, last, step_seconds)
    units = direction_gains(estimate.azimuth, estimate.elevation) * estimate.energy
    for lo in edges:
        inside = estimate.active & (estimate.times >= lo) & (estimate.times < lo + step_seconds)
        if not inside.any():
            lines.append(f"  {lo:6.1f}-{lo + step_seconds:<6.1f} s   (silent)")
            continue
        az, el = vector_angles(units[:, inside].sum(axis=1, keepdims=True))
        lines.append(
            f"  {lo:6.1f}-{lo + step_seconds:<6.1f} s   azimuth {az[0]:+7.1f}   elevation {el[0]:+6.1f}   "
            f"{describe_direction(az[0], el[0])}"
        )
    return lines
