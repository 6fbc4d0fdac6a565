"""Random spatial parameters of a dataset sample (paper §2.2, Table 1, SPEC §3), and the
distance samples of ``--motions paper+distance`` (SPEC §6, beyond the paper).

Every choice comes from a per-sample seed derived by hashing the global seed, the
corpus, the source id and the sample kind, so a sample never changes when other
sources are added or removed, the work is split differently or other kinds are added.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sonicmotion.audio import CLIP_SECONDS
from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial import Trajectory, direction_gains, wrap_azimuth
from sonicmotion.spatial.regions import SPEEDS
from sonicmotion.spatial.room import Room

KINDS = ("static", "moving")  # the paper's samples of every source
DISTANCE_KINDS = ("approach", "recede", "pass")  # added by --motions paper+distance
MOTIONS = {"paper": KINDS, "paper+distance": KINDS + DISTANCE_KINDS}  # --motions: the kinds per source
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
    if kind in ("approach", "recede"):
        return sample_distance_change(seed, kind)
    if kind == "pass":
        return sample_pass(seed)
    raise ValueError(f"sample kind must be one of {KINDS + DISTANCE_KINDS}, got {kind!r}")


def motion_kinds(motions: str) -> tuple[str, ...]:
    """The sample kinds of every source for ``--motions`` (``paper`` or ``paper+distance``)."""
    if motions not in MOTIONS:
        raise SonicMotionError(f"--motions must be one of {', '.join(MOTIONS)}, got {motions!r}")
    return MOTIONS[motions]


# -- distance samples (--motions paper+distance; SPEC §6, beyond the paper) ---------------------
DISTANCE_DECIMALS = 1  # metres are stored to 0.1 m (a pass's cartesian keyframes to 1 mm)
FAR_RANGE = (10.0, 60.0)  # metres, log-uniform: where an approach starts / a recession ends
NEAR_RANGE = (1.0, 5.0)  # metres, log-uniform: where an approach ends / a recession starts
CHANGE_SECONDS = (4.0, 10.0)  # an approach or recession lasts this long (uniform), anywhere in the clip
ROOM_PROBABILITY = 0.25  # of an approach or a recession happening in a shoebox room
ROOM_DIMENSIONS = ((8.0, 30.0), (6.0, 20.0), (3.0, 8.0))  # metres x, y, z (uniform each)
ROOM_RT60 = (0.2, 1.0)  # seconds, uniform
ROOM_ELEVATION_RANGE = (-20.0, 20.0)  # degrees: in a room the path stays clear of floor and ceiling
ROOM_FAR_FRACTION = (0.5, 0.9)  # of the way to the wall in the source's direction (uniform)
ROOM_NEAR_RANGE = (0.5, 1.2)  # metres, log-uniform, in a room
PASS_CLOSEST_RANGE = (1.5, 20.0)  # metres, log-uniform: a pass's closest distance
PASS_SPEED_RANGE = (3.0, 30.0)  # m/s, uniform: walking to a fast car
PASS_CLOSEST_TIME = (3.0, 7.0)  # seconds, uniform: when the pass is closest
PASS_ELEVATION_RANGE = (-30.0, 30.0)  # degrees, uniform: the closest point's (Table 1's horizon band)


@dataclass(frozen=True)
class DistanceParameters(SpatialParameters):
    """A distance sample: the angular fields (start = at 0 s, end = at 10 s) plus distances
    in metres and an optional room. ``motion`` is ``approach``, ``recede`` or ``pass``."""

    start_distance: float  # metres at 0 s
    end_distance: float  # metres at the clip's end
    closest_distance: float  # metres, the least over the clip
    closest_time: float  # seconds at which it is least
    source_speed: float  # m/s: a pass's speed along its line; an approach's or recession's radial speed
    path: dict[str, Any]  # Trajectory.to_dict() of the rendered path
    room: dict[str, Any] | None  # Room.to_dict(), or None (free field)
    doppler: bool = True
    gain: float | None = None  # linear, <= 1: set by the builder from the rendered peak (builder.with_headroom)

    def trajectory(self) -> Trajectory:
        return Trajectory.from_dict(self.path)

    def as_metadata(self) -> dict[str, Any]:
        fields = asdict(self)
        fields["trajectory"] = fields.pop("path")
        fields["clockwise"] = self.clockwise
        return fields


def _stored(path: Trajectory) -> dict[str, Any]:
    """``path.to_dict()`` without the 1e-14 noise that wrapping leaves (as the paper samples)."""
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in path.to_dict().items()}


def _metres(value: float) -> float:
    return round(float(value), DISTANCE_DECIMALS)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _wall_distance(room: Room, azimuth: float, elevation: float) -> float:
    """Metres from the listener to the room's boundary in the direction (degrees)."""
    unit = direction_gains(azimuth, elevation)
    listener, size = np.array(room.listener), np.array(room.dimensions)
    reach = [((size[i] if unit[i] > 0 else 0.0) - listener[i]) / unit[i] for i in range(3) if abs(unit[i]) > 1e-12]
    return float(min(reach))


def sample_distance_change(seed: int, kind: str) -> DistanceParameters:
    """An approach (far to near) or a recession (near to far) at one fixed direction.

    Direction as a static sample; far log-uniform in FAR_RANGE, near in NEAR_RANGE; the
    distance changes linearly over a window of CHANGE_SECONDS anywhere in the clip. With
    probability ROOM_PROBABILITY it happens in a shoebox room (dimensions and RT60 uniform
    in their ranges, listener in the middle 1.5 m up, first-order images and the diffuse
    tail); then elevation is uniform in ROOM_ELEVATION_RANGE, far is a uniform fraction
    ROOM_FAR_FRACTION of the way to the wall and near log-uniform in ROOM_NEAR_RANGE.
    """
    rng = np.random.default_rng(seed)
    azimuth, elevation = _start_position(rng)
    duration = round(float(rng.uniform(*CHANGE_SECONDS)), TIME_DECIMALS)
    move_start = round(float(rng.uniform(0.0, CLIP_SECONDS - duration)), TIME_DECIMALS)
    move_start = min(move_start, round(CLIP_SECONDS - duration, TIME_DECIMALS))
    move_end = round(move_start + duration, TIME_DECIMALS)
    room = None
    if rng.uniform() < ROOM_PROBABILITY:
        dims = tuple(round(float(rng.uniform(*r)), DISTANCE_DECIMALS) for r in ROOM_DIMENSIONS)
        room = Room(dims, rt60=round(float(rng.uniform(*ROOM_RT60)), 2))
        elevation = _angle(rng.uniform(*ROOM_ELEVATION_RANGE))
        far = _metres(rng.uniform(*ROOM_FAR_FRACTION) * _wall_distance(room, azimuth, elevation))
        near = _metres(_log_uniform(rng, *ROOM_NEAR_RANGE))
        near = min(near, _metres(far / 1.5))  # a change of at least 1.5x even in a small room
    else:
        far = _metres(_log_uniform(rng, *FAR_RANGE))
        near = _metres(_log_uniform(rng, *NEAR_RANGE))
    start, end = (far, near) if kind == "approach" else (near, far)
    path = Trajectory.linear(azimuth, elevation, azimuth, elevation, "shortest", move_start, move_end, start, end)
    return DistanceParameters(
        kind, "none", azimuth, elevation, azimuth, elevation, None, None, move_start, move_end,
        start, end, near, move_end if kind == "approach" else move_start,
        round(abs(end - start) / duration, 3), _stored(path), None if room is None else room.to_dict(),
    )


def sample_pass(seed: int) -> DistanceParameters:
    """A pass on a straight horizontal line over the whole clip, at a constant speed.

    Closest distance log-uniform in PASS_CLOSEST_RANGE, in a direction with azimuth uniform
    and elevation uniform in PASS_ELEVATION_RANGE; speed uniform in
    PASS_SPEED_RANGE; closest at a time uniform in PASS_CLOSEST_TIME; the line runs at
    right angles to the closest direction, counter-clockwise (azimuth increasing) or
    clockwise with probability 1/2 each. Free field (a 10 s pass does not fit a room).
    """
    rng = np.random.default_rng(seed)
    azimuth, elevation = _azimuth(rng.uniform(-180.0, 180.0)), _angle(rng.uniform(*PASS_ELEVATION_RANGE))
    closest = _metres(_log_uniform(rng, *PASS_CLOSEST_RANGE))
    speed = round(float(rng.uniform(*PASS_SPEED_RANGE)), 2)
    closest_time = round(float(rng.uniform(*PASS_CLOSEST_TIME)), TIME_DECIMALS)
    direction = "cw" if rng.integers(2) else "ccw"
    middle = closest * direction_gains(azimuth, elevation)
    az = math.radians(azimuth)
    along = np.array([-math.sin(az), math.cos(az), 0.0]) * (1.0 if direction == "ccw" else -1.0)
    keys = [(t, *(round(float(v), 3) for v in middle + along * speed * (t - closest_time)))
            for t in (0.0, CLIP_SECONDS)]
    path = Trajectory.cartesian(keys)
    (az0, az1), (el0, el1) = path.positions(np.array([0.0, CLIP_SECONDS]))
    distances = path.distances(np.array([0.0, CLIP_SECONDS]))
    return DistanceParameters(
        "pass", "azimuth" if elevation == 0.0 else "both", _azimuth(az0), _angle(el0), _azimuth(az1), _angle(el1),
        direction, None, 0.0, CLIP_SECONDS, _metres(distances[0]), _metres(distances[1]), closest, closest_time,
        speed, path.to_dict(), None,
    )


def check_parameters(meta: dict[str, Any]) -> list[str]:
    """SPEC §3 constraints a sample's metadata must meet (and a distance sample's, see
    :func:`check_distance_parameters`); the list of violations (empty if fine)."""
    if meta.get("motion") in DISTANCE_KINDS:
        return check_distance_parameters(meta)
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


def _within(value: Any, bounds: tuple[float, float], slack: float) -> bool:
    return isinstance(value, (int, float)) and bounds[0] - slack <= value <= bounds[1] + slack


def check_distance_parameters(meta: dict[str, Any]) -> list[str]:
    """The rules of the distance samples (docs/dataset.md) that ``meta`` breaks, and any
    disagreement between its fields and its trajectory; empty if none."""
    kind = meta["motion"]
    slack = 0.5 * 10.0**-DISTANCE_DECIMALS + 1e-9  # stored metres are rounded to 0.1 m
    problems = []
    try:
        path = Trajectory.from_dict(meta["trajectory"])
        room = None if meta.get("room") is None else Room.from_dict(meta["room"])
    except (KeyError, TypeError, SonicMotionError) as err:
        return [f"unusable trajectory or room ({err})"]
    if not path.has_distance:
        return [f"{kind} sample whose trajectory has no distance"]
    if meta.get("doppler") is not True:
        problems.append("distance samples are rendered with Doppler")
    if not (isinstance(meta.get("gain"), float) and 0.0 < meta["gain"] <= 1.0):
        problems.append(f"gain {meta.get('gain')!r} is not a number in (0, 1]")
    ends = np.array([0.0, CLIP_SECONDS])
    (az0, az1), (el0, el1) = path.positions(ends)
    gaps = np.array([az0, el0, az1, el1]) - np.array(
        [meta["start_azimuth"], meta["start_elevation"], meta["end_azimuth"], meta["end_elevation"]])
    gaps[[0, 2]] = (gaps[[0, 2]] + 180.0) % 360.0 - 180.0
    if np.max(np.abs(gaps)) > 0.5 * 10.0**-ANGLE_DECIMALS + 1e-6:
        problems.append("trajectory disagrees with the start/end angles")
    distances = path.distances(ends)
    if np.max(np.abs(distances - [meta["start_distance"], meta["end_distance"]])) > slack:
        problems.append("trajectory disagrees with start_distance/end_distance")
    times = np.linspace(0.0, CLIP_SECONDS, 10_001)
    along = path.distances(times)
    if abs(along.min() - meta["closest_distance"]) > slack:
        problems.append(f"closest distance {meta['closest_distance']} m, the trajectory's is {along.min():.2f} m")
    if kind in ("approach", "recede"):
        if path.kind != "linear" or meta["moving_parts"] != "none" or meta["direction"] is not None:
            problems.append(f"an {kind} keeps one direction (a linear path, moving_parts none, no direction)")
        if (meta["start_azimuth"], meta["start_elevation"]) != (meta["end_azimuth"], meta["end_elevation"]):
            problems.append(f"{kind} sample with different start and end directions")
        start, end = meta["start_distance"], meta["end_distance"]
        if (start <= end) if kind == "approach" else (start >= end):
            problems.append(f"{kind} from {start} m to {end} m")
        near, far = min(start, end), max(start, end)
        if room is None:
            if not (_within(near, NEAR_RANGE, slack) and _within(far, FAR_RANGE, slack)):
                problems.append(f"distances {near} and {far} m outside {NEAR_RANGE} and {FAR_RANGE} m")
            if not _within(meta["start_elevation"], ELEVATION_RANGE, 0.0):
                problems.append(f"elevation {meta['start_elevation']} outside {ELEVATION_RANGE}")
        else:
            if not all(_within(d, r, 1e-9) for d, r in zip(room.dimensions, ROOM_DIMENSIONS)) \
                    or not _within(room.rt60, ROOM_RT60, 1e-9):
                problems.append(f"room {room.dimensions} m, RT60 {room.rt60} s outside the sampled ranges")
            wall = _wall_distance(room, meta["start_azimuth"], meta["start_elevation"])
            if not (0.0 < near <= ROOM_NEAR_RANGE[1] + slack and far <= ROOM_FAR_FRACTION[1] * wall + slack):
                problems.append(f"distances {near} and {far} m do not fit the room ({wall:.2f} m to the wall)")
            if not _within(meta["start_elevation"], ROOM_ELEVATION_RANGE, 0.0):
                problems.append(f"elevation {meta['start_elevation']} outside {ROOM_ELEVATION_RANGE} in a room")
        duration = meta["move_end"] - meta["move_start"]
        if not _within(duration, CHANGE_SECONDS, 1e-6) or meta["move_start"] < 0 \
                or meta["move_end"] > CLIP_SECONDS + 1e-9:
            problems.append(f"change over [{meta['move_start']}, {meta['move_end']}] s outside the rules")
        if (path.move_start, path.move_end) != (meta["move_start"], meta["move_end"]):
            problems.append("trajectory disagrees with move_start/move_end")
        if abs(meta["source_speed"] - abs(end - start) / max(duration, 1e-9)) > 1e-3 + 1e-9:
            problems.append(f"source speed {meta['source_speed']} m/s does not match the change")
        return problems
    if kind == "pass":
        points = path.cartesian_points
        if points is None or len(points) != 2 or (points[0][0], points[1][0]) != (0.0, CLIP_SECONDS):
            return problems + ["a pass is a straight line over the whole clip (cartesian keyframes at 0 and 10 s)"]
        if room is not None:
            problems.append("a pass has no room")
        (_, *first), (_, *last) = points
        if first[2] != last[2]:
            problems.append("a pass runs level (a constant height)")
        speed = float(np.linalg.norm(np.subtract(last, first))) / CLIP_SECONDS
        if abs(speed - meta["source_speed"]) > 0.01 or not _within(meta["source_speed"], PASS_SPEED_RANGE, 0.0):
            problems.append(f"pass speed {meta['source_speed']} m/s (path {speed:.2f} m/s) outside the rules")
        closest_time = float(times[np.argmin(along)])
        if abs(closest_time - meta["closest_time"]) > 0.01 or not _within(meta["closest_time"], PASS_CLOSEST_TIME, 0):
            problems.append(f"closest at {meta['closest_time']} s (path {closest_time:.3f} s) outside the rules")
        if not _within(meta["closest_distance"], PASS_CLOSEST_RANGE, 0.0):
            problems.append(f"closest distance {meta['closest_distance']} m outside {PASS_CLOSEST_RANGE}")
        turn = path.unwrapped_azimuth(np.array([0.0, CLIP_SECONDS]))
        if meta["direction"] != ("ccw" if turn[1] > turn[0] else "cw") or meta["clockwise"] != (meta["direction"] == "cw"):
            problems.append(f"direction {meta['direction']!r} disagrees with the way the pass turns")
        _, closest_elevation = path.positions(meta["closest_time"])
        if not _within(float(closest_elevation), PASS_ELEVATION_RANGE, 0.01):
            problems.append(f"closest elevation {float(closest_elevation):.2f} outside {PASS_ELEVATION_RANGE}")
    return problems
