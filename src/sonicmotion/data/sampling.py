"""Random spatial parameters of a dataset sample (paper §2.2, Table 1, SPEC §3).

Every choice comes from a per-sample seed derived by hashing the global seed, the
corpus, the source id and the sample kind, so a sample never changes when other
sources are added or removed or the work is split differently.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sonicmotion.audio import CLIP_SECONDS
from sonicmotion.spatial import Trajectory, wrap_azimuth
from sonicmotion.spatial.regions import SPEEDS

KINDS = ("static", "moving")
MOVING_PARTS = ("azimuth", "elevation", "both")
ELEVATION_RANGE = (-35.0, 35.0)  # degrees, Table 1
MIN_AZIMUTH_TRAVEL = 45.0  # degrees in the chosen direction
MAX_AZIMUTH_TRAVEL = 315.0  # so the end also lies >= 45° from the start the other way round
MIN_ELEVATION_CHANGE = 30.0  # degrees
ANGLE_DECIMALS = 2  # degrees are stored to 0.01°
TIME_DECIMALS = 3  # seconds are stored to 1 ms


def sample_seed(global_seed: int, corpus: str, source_id: str, kind: str) -> int:
    """A 63-bit seed for one sample (fits int64 columns and JSON)."""
    digest = hashlib.sha256(f"{int(global_seed)}\0{corpus}\0{source_id}\0{kind}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclass(frozen=True)
class SpatialParameters:
    """Where a sample's source is and how it moves (degrees, seconds)."""

    motion: str  # "static" | "moving"
    moving_parts: str  # "none" | "azimuth" | "elevation" | "both"
    start_azimuth: float
    start_elevation: float
    end_azimuth: float
    end_elevation: float
    direction: str | None  # "cw" | "ccw" | None when azimuth does not move
    speed: str | None  # "fast" | "moderate" | "slow" | None when static
    move_start: float | None
    move_end: float | None

    @property
    def clockwise(self) -> bool | None:
        return None if self.direction is None else self.direction == "cw"

    @property
    def azimuth_travel(self) -> float:
        """Signed azimuth travel in degrees (negative = clockwise)."""
        if self.direction is None:
            return 0.0
        travel = (self.end_azimuth - self.start_azimuth) % 360.0
        return travel if self.direction == "ccw" else travel - 360.0

    def trajectory(self) -> Trajectory:
        if self.motion == "static":
            return Trajectory.static(self.start_azimuth, self.start_elevation)
        return Trajectory.linear(
            self.start_azimuth, self.start_elevation, self.end_azimuth, self.end_elevation,
            self.direction or "shortest", self.move_start, self.move_end,
        )

    def as_metadata(self) -> dict[str, Any]:
        """The SPEC §3 fields of these parameters (with ``clockwise`` and ``trajectory``)."""
        fields = asdict(self)
        fields["clockwise"] = self.clockwise
        # Trajectory wraps azimuths ((a + 180) % 360 - 180), which leaves 1e-14 noise on
        # values like 60.1; the stored path uses the same 0.01° values as the fields.
        fields["trajectory"] = {
            k: round(v, 6) if isinstance(v, float) else v for k, v in self.trajectory().to_dict().items()
        }
        return fields


def _angle(value: float) -> float:
    return round(float(value), ANGLE_DECIMALS)


def _azimuth(value: float) -> float:
    # Round first, then wrap, so 179.999 does not round up to an unwrapped 180.0.
    return _angle(float(wrap_azimuth(_angle(value))))


def _start_position(rng: np.random.Generator) -> tuple[float, float]:
    return _azimuth(rng.uniform(-180.0, 180.0)), _angle(rng.uniform(*ELEVATION_RANGE))


def sample_static(seed: int) -> SpatialParameters:
    """Uniform azimuth over the circle, uniform elevation in [-35, 35]."""
    rng = np.random.default_rng(seed)
    azimuth, elevation = _start_position(rng)
    return SpatialParameters("static", "none", azimuth, elevation, azimuth, elevation, None, None, None, None)


def _end_elevation(rng: np.random.Generator, start: float) -> float:
    """Uniform over the part of [-35, 35] at least 30° from ``start``."""
    low, high = ELEVATION_RANGE
    below = max(0.0, (start - MIN_ELEVATION_CHANGE) - low)  # length of [low, start - 30]
    above = max(0.0, high - (start + MIN_ELEVATION_CHANGE))  # length of [start + 30, high]
    pick = rng.uniform(0.0, below + above)
    end = low + pick if pick < below else start + MIN_ELEVATION_CHANGE + (pick - below)
    # Rounding to 0.01° must not bring the change under 30°.
    end = _angle(end)
    if abs(end - start) < MIN_ELEVATION_CHANGE:
        end = _angle(start + np.sign(end - start) * MIN_ELEVATION_CHANGE)
    return end


def sample_moving(seed: int) -> SpatialParameters:
    """Start as :func:`sample_static`; move azimuth, elevation or both; speed band; random window.

    Azimuth travels 45°-315° clockwise or counter-clockwise; elevation ends >= 30° away
    within [-35, 35]; the move lasts 1-3 s (fast), 3.5-6.5 s (moderate) or 7-10 s (slow)
    and starts at a uniform time such that it ends by 10 s.
    """
    rng = np.random.default_rng(seed)
    start_azimuth, start_elevation = _start_position(rng)
    parts = MOVING_PARTS[int(rng.integers(len(MOVING_PARTS)))]
    speed = tuple(SPEEDS)[int(rng.integers(len(SPEEDS)))]
    low, high = SPEEDS[speed]
    duration = round(float(rng.uniform(low, high)), TIME_DECIMALS)
    duration = min(max(duration, low), high)
    move_start = round(float(rng.uniform(0.0, CLIP_SECONDS - duration)), TIME_DECIMALS)
    move_start = min(move_start, round(CLIP_SECONDS - duration, TIME_DECIMALS))
    move_end = round(move_start + duration, TIME_DECIMALS)
    direction, end_azimuth, end_elevation = None, start_azimuth, start_elevation
    if parts in ("azimuth", "both"):
        direction = "cw" if rng.integers(2) else "ccw"
        travel = _angle(rng.uniform(MIN_AZIMUTH_TRAVEL, MAX_AZIMUTH_TRAVEL))
        end_azimuth = _azimuth(start_azimuth + (travel if direction == "ccw" else -travel))
    if parts in ("elevation", "both"):
        end_elevation = _end_elevation(rng, start_elevation)
    return SpatialParameters(
        "moving", parts, start_azimuth, start_elevation, end_azimuth, end_elevation,
        direction, speed, move_start, move_end,
    )


def sample_parameters(seed: int, kind: str) -> SpatialParameters:
    if kind == "static":
        return sample_static(seed)
    if kind == "moving":
        return sample_moving(seed)
    raise ValueError(f"sample kind must be one of {KINDS}, got {kind!r}")


def check_parameters(meta: dict[str, Any]) -> list[str]:
    """SPEC §3 constraints a sample's metadata must meet; the list of violations (empty if fine)."""
    problems = []
    low, high = ELEVATION_RANGE
    for name in ("start_azimuth", "end_azimuth"):
        if not -180.0 <= meta[name] < 180.0:
            problems.append(f"{name} {meta[name]} outside [-180, 180)")
    for name in ("start_elevation", "end_elevation"):
        if not low <= meta[name] <= high:
            problems.append(f"{name} {meta[name]} outside [{low:g}, {high:g}]")
    if meta["motion"] == "static":
        if (meta["start_azimuth"], meta["start_elevation"]) != (meta["end_azimuth"], meta["end_elevation"]):
            problems.append("static sample with different start and end")
        return problems
    parts = meta["moving_parts"]
    travel = (meta["end_azimuth"] - meta["start_azimuth"]) % 360.0
    if parts in ("azimuth", "both"):
        if meta["direction"] == "cw":
            travel = 360.0 - travel if travel else 0.0
        if not MIN_AZIMUTH_TRAVEL - 1e-6 <= travel <= MAX_AZIMUTH_TRAVEL + 1e-6:
            problems.append(f"azimuth travel {travel:.2f} deg {meta['direction']} outside [45, 315]")
        if meta["clockwise"] != (meta["direction"] == "cw"):
            problems.append("clockwise flag disagrees with direction")
    elif travel or meta["direction"] is not None:
        problems.append("azimuth changes although only elevation moves")
    change = abs(meta["end_elevation"] - meta["start_elevation"])
    if parts in ("elevation", "both") and change < MIN_ELEVATION_CHANGE - 1e-6:
        problems.append(f"elevation change {change:.2f} deg under 30")
    if parts == "azimuth" and change:
        problems.append("elevation changes although only azimuth moves")
    duration = meta["move_end"] - meta["move_start"]
    low_s, high_s = SPEEDS.get(meta["speed"], (np.nan, np.nan))
    if not low_s - 1e-6 <= duration <= high_s + 1e-6:
        problems.append(f"movement of {duration:.3f} s does not match speed {meta['speed']!r}")
    if meta["move_start"] < 0 or meta["move_end"] > CLIP_SECONDS + 1e-9:
        problems.append(f"movement window [{meta['move_start']}, {meta['move_end']}] s outside the clip")
    return problems
