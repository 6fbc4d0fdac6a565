"""The paper's spatial errors (§2.7.1, Eq. 7-8; SPEC §2): L1 azimuth, L1 elevation, Δangle."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial.doa import (
    FRAME_SECONDS,
    GATE,
    HOP_SECONDS,
    FrameGrid,
    estimate_doa,
    intensity,
    vector_angles,
)
from sonicmotion.spatial.encode import trajectory_gains
from sonicmotion.spatial.layout import ChannelLayout
from sonicmotion.spatial.trajectory import Trajectory


def angular_differences(
    azimuth: np.ndarray, elevation: np.ndarray, ref_azimuth: np.ndarray, ref_elevation: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-point |Δazimuth| (circular), |Δelevation| and great-circle angle, in degrees.

    The angle is the haversine form of Eq. 7-8:
    ``a = sin²(Δφ/2) + cos φ cos φ̂ sin²(Δθ/2)``, ``Δ = 2·atan2(√a, √(1-a))``.
    """
    d_az = np.abs((np.asarray(azimuth) - ref_azimuth + 180.0) % 360.0 - 180.0)
    d_el = np.abs(np.asarray(elevation) - ref_elevation)
    el, ref_el = np.radians(elevation), np.radians(ref_elevation)
    a = np.sin(np.radians(d_el) / 2) ** 2 + np.cos(el) * np.cos(ref_el) * np.sin(np.radians(d_az) / 2) ** 2
    a = np.clip(a, 0.0, 1.0)
    angle = np.degrees(2.0 * np.arctan2(np.sqrt(a), np.sqrt(1.0 - a)))
    return d_az, d_el, angle


@dataclass(frozen=True)
class SpatialErrors:
    """Mean errors in degrees over ``count`` compared frames (or samples)."""

    l1_azimuth: float
    l1_elevation: float
    delta_angle: float
    count: int
    resolution: str

    def as_dict(self) -> dict:
        return asdict(self)


def _summarise(d_az: np.ndarray, d_el: np.ndarray, angle: np.ndarray, resolution: str) -> SpatialErrors:
    return SpatialErrors(float(d_az.mean()), float(d_el.mean()), float(angle.mean()), int(d_az.size), resolution)


def spatial_errors(
    foa: np.ndarray,
    reference: np.ndarray | Trajectory,
    sample_rate: int,
    resolution: str = "frame",
    layout: str | ChannelLayout = "fuma",
    reference_layout: str | ChannelLayout | None = None,
    frame_seconds: float = FRAME_SECONDS,
    hop_seconds: float = HOP_SECONDS,
    gate: float = GATE,
) -> SpatialErrors:
    """Errors of (4, n) ``foa`` against another FOA signal or a :class:`Trajectory`.

    Against FOA (same length and rate): both are analysed with :func:`estimate_doa` and
    compared where both are active. Against a trajectory: in frame mode the requested
    direction of a frame is the path's unit vector averaged over the frame, weighted by
    the analysed signal's W energy (what a perfect encoder of this very signal along
    the path would show); in sample mode it is the path at each active sample.
    """
    kwargs = dict(resolution=resolution, frame_seconds=frame_seconds, hop_seconds=hop_seconds, gate=gate)
    estimate = estimate_doa(foa, sample_rate, layout=layout, **kwargs)
    if isinstance(reference, Trajectory):
        n = np.shape(foa)[1]
        path = trajectory_gains(reference, n, sample_rate).astype(np.float64)
        if resolution == "frame":
            grid = FrameGrid.from_seconds(n, sample_rate, frame_seconds, hop_seconds)
            _, energy = intensity(foa, layout)
            ref_az, ref_el = vector_angles(grid.sums(path * energy))
        else:
            ref_az, ref_el = vector_angles(path)
        keep = estimate.active
    else:
        if np.shape(reference) != np.shape(foa):
            raise SonicMotionError(
                f"cannot compare FOA of shape {np.shape(foa)} with reference of shape {np.shape(reference)}"
            )
        ref = estimate_doa(reference, sample_rate, layout=reference_layout or layout, **kwargs)
        ref_az, ref_el = ref.azimuth, ref.elevation
        keep = estimate.active & ref.active
    if not keep.any():
        raise SonicMotionError("no active frames to compare: the audio is silent")
    diffs = angular_differences(estimate.azimuth[keep], estimate.elevation[keep], ref_az[keep], ref_el[keep])
    return _summarise(*diffs, resolution)

