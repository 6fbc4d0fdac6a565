"""What the words allow (a :class:`Plan`), the path it gives, and samples within it.

A plan is a list of waypoints, each a range of azimuths and elevations, with the way
between each pair (clockwise, counter-clockwise, the shorter way, over the head) and what
the words said about time. The point estimate takes each range's centre; a sample draws
each range uniformly and the timing by SPEC §3 (duration uniform in the speed band, start
uniform so that the move ends by the clip's end), both through :func:`build_path`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sonicmotion.data.sampling import MIN_AZIMUTH_TRAVEL
from sonicmotion.errors import SonicMotionError
from sonicmotion.motion.distance import Distance, with_distance
from sonicmotion.spatial.regions import SPEEDS
from sonicmotion.spatial.trajectory import Keyframe, Trajectory, azimuth_travel, wrap_azimuth

DEFAULT_SPEED = "moderate"  # SPEC §6: no timing words -> the moderate band's middle, centred
ZENITH_STEP = 0.001  # seconds: at the top of an overhead pass the azimuth flips to the far side
TIME_TOLERANCE = 0.5  # seconds a stated duration may lie outside a stated speed band


def band_middle(speed: str) -> float:
    low, high = SPEEDS[speed]
    return (low + high) / 2.0


@dataclass(frozen=True)
class Waypoint:
    """A place the words name: centre and allowed half-width of azimuth, elevation range (degrees)."""

    azimuth: float
    azimuth_half_width: float
    elevation: float
    elevation_low: float
    elevation_high: float

    def draw(self, rng: np.random.Generator | None) -> tuple[float, float]:
        if rng is None:
            return self.azimuth, self.elevation
        az = self.azimuth + (rng.uniform(-self.azimuth_half_width, self.azimuth_half_width)
                             if self.azimuth_half_width else 0.0)
        el = rng.uniform(self.elevation_low, self.elevation_high) if self.elevation_high > self.elevation_low \
            else self.elevation
        return float(wrap_azimuth(az)), float(el)


@dataclass(frozen=True)
class Timing:
    """What the words say about when the move happens (seconds; None = not said)."""

    start: float | None = None
    end: float | None = None
    duration: float | None = None
    speed: str | None = None  # fast | moderate | slow

    def window(self, seconds: float, rng: np.random.Generator | None = None) -> tuple[float, float]:
        """(move_start, move_end) in seconds: stated values, else the speed band's middle
        (moderate when none is said) centred in the clip; with ``rng``, SPEC §3 draws."""
        speed = self.speed or DEFAULT_SPEED
        low, high = SPEEDS[speed]
        start, end, duration = self.start, self.end, self.duration
        if start is not None and end is not None:
            return start, end
        if duration is None:
            room = seconds - start if start is not None else (end if end is not None else seconds)
            duration = band_middle(speed) if rng is None else float(rng.uniform(low, high))
            duration = min(duration, room)
        if start is not None:
            return start, start + duration
        if end is not None:
            return end - duration, end
        begin = (seconds - duration) / 2.0 if rng is None else float(rng.uniform(0.0, seconds - duration))
        return begin, begin + duration


@dataclass(frozen=True)
class Plan:
    """Everything the words allow about one source's path."""

    waypoints: tuple[Waypoint, ...]
    ways: tuple[str, ...] = ()  # per leg: cw | ccw | shortest | over (the head) | under (the feet)
    turns: float | None = None  # a circle: full turns from the first waypoint, going ways[0]
    timing: Timing = field(default_factory=Timing)
    keep_travel: bool = False  # a sampled leg keeps SPEC §3's 45-315 degree travel (Table 1 words)
    distance: Distance | None = None  # None: the paper's plane wave (no distance)

    @property
    def moving(self) -> bool:
        return len(self.waypoints) > 1 or self.turns is not None


def build_path(plan: Plan, seconds: float, rng: np.random.Generator | None = None) -> Trajectory:
    """The plan's point estimate (``rng`` None) or one draw from it, as a Trajectory."""
    path = _angular_path(plan, seconds, rng)
    if plan.distance is None:
        return path
    whole = plan.distance.whole_clip or plan.distance.kind == "fixed"
    return with_distance(path, plan.distance, (0.0, seconds) if whole else plan.timing.window(seconds, rng))


def _angular_path(plan: Plan, seconds: float, rng: np.random.Generator | None) -> Trajectory:
    for _ in range(100 if rng is not None else 1):
        points = [w.draw(rng) for w in plan.waypoints]
        if rng is None or not plan.keep_travel or _travel_ok(points, plan.ways):
            break
    if not plan.moving:
        return Trajectory.static(*points[0])
    start, end = plan.timing.window(seconds, rng)
    if plan.turns is not None:
        return _circle(points[0], plan.ways[0], plan.turns, start, end)
    legs = []  # (azimuth travel, from, to, way)
    for (a, b), way in zip(zip(points, points[1:]), plan.ways):
        legs.append(_leg(a, b, way))
    pieces = [piece for leg in legs for piece in leg]
    lengths = np.array([math.hypot(d_az, b[1] - a[1]) for d_az, a, b, _ in pieces])
    if lengths.sum() <= 0:
        lengths = np.ones(len(pieces))
    times = start + (end - start) * np.concatenate([[0.0], np.cumsum(lengths) / lengths.sum()])
    if len(pieces) == 1 and pieces[0][3] != "jump":
        (d_az, a, b, way), = pieces
        return Trajectory.linear(a[0], a[1], b[0], b[1], way, start, end)
    keys = [Keyframe(float(times[0]), *pieces[0][1])]
    for t, (d_az, a, b, way) in zip(times[1:], pieces):
        if way == "jump":  # the azimuth flips over the top while the elevation stays at +-90
            keys.append(Keyframe(keys[-1].time + ZENITH_STEP, b[0], b[1], "shortest"))
            continue
        keys.append(Keyframe(float(t), b[0], b[1], way))
    return Trajectory(_unique_times(keys))


def _unique_times(keys: list[Keyframe]) -> list[Keyframe]:
    """Keyframe times strictly increasing (a jump right after a piece of zero length)."""
    out = [keys[0]]
    for key in keys[1:]:
        if key.time <= out[-1].time:
            key = Keyframe(out[-1].time + ZENITH_STEP, key.azimuth, key.elevation, key.direction)
        out.append(key)
    return out


def _leg(a: tuple[float, float], b: tuple[float, float], way: str) -> list[tuple]:
    """A leg as pieces (azimuth travel, from, to, direction); an overhead pass is up, flip, down."""
    if way in ("over", "under"):
        pole = 90.0 if way == "over" else -90.0
        top_a, top_b = (a[0], pole), (b[0], pole)
        return [(0.0, a, top_a, "shortest"), (0.0, top_a, top_b, "jump"), (0.0, top_b, b, "shortest")]
    if way in ("cw", "ccw"):
        return [(azimuth_travel(a[0], b[0], way), a, b, way)]
    return [(azimuth_travel(a[0], b[0], "shortest"), a, b, "shortest")]


def _circle(start: tuple[float, float], way: str, turns: float, t0: float, t1: float) -> Trajectory:
    """``turns`` full turns from ``start`` going ``way``: keyframes at most 180° apart."""
    total = 360.0 * turns
    pieces = max(1, math.ceil(total / 180.0 - 1e-9))
    sign = -1.0 if way == "cw" else 1.0
    keys = []
    for i in range(pieces + 1):
        az = start[0] + sign * total * i / pieces
        keys.append(Keyframe(t0 + (t1 - t0) * i / pieces, float(wrap_azimuth(az)), start[1],
                             "shortest" if i == 0 else way))
    if pieces == 1:
        return Trajectory.linear(start[0], start[1], keys[1].azimuth, start[1], way, t0, t1)
    return Trajectory(keys)


def _travel_ok(points: list[tuple[float, float]], ways: tuple[str, ...]) -> bool:
    for (a, b), way in zip(zip(points, points[1:]), ways):
        if way in ("cw", "ccw"):
            travel = abs(azimuth_travel(a[0], b[0], way))
            if not MIN_AZIMUTH_TRAVEL <= travel <= 360.0 - MIN_AZIMUTH_TRAVEL:
                return False
    return True


@dataclass(frozen=True)
class Phrase:
    """A phrase of the text and what it set."""

    phrase: str
    sets: str

    def to_dict(self) -> dict[str, str]:
        return {"phrase": self.phrase, "sets": self.sets}


@dataclass(frozen=True)
class MotionReading:
    """What :func:`describe_to_motion` read in a description.

    ``trajectory``: the point estimate (None when the words say nothing about position);
    ``content``: the text without the motion words; ``understood``: the phrases used and
    what each set; ``assumed``: defaults taken where the words were silent; ``not_placed``:
    phrases it saw but could not place; ``seconds``: the clip length the path lies in.
    """

    text: str
    trajectory: Trajectory | None
    content: str
    understood: tuple[Phrase, ...]
    assumed: tuple[str, ...]
    not_placed: tuple[str, ...]
    seconds: float
    plan: Plan | None = field(default=None, repr=False, compare=False)

    def sample(self, rng: np.random.Generator, n: int) -> list[Trajectory]:
        """``n`` paths drawn from what the words allow (SPEC §3's distributions restricted to
        the words: each named region, the speed band, the unknown start time)."""
        if self.plan is None:
            raise SonicMotionError("the words say nothing about position, so there is no path to sample")
        if n < 0:
            raise SonicMotionError(f"the number of samples must be >= 0, got {n}")
        return [build_path(self.plan, self.seconds, rng) for _ in range(n)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``trajectory`` in the prompts-file schema (``Trajectory.to_dict``)."""
        return {
            "text": self.text,
            "trajectory": None if self.trajectory is None else rounded(self.trajectory.to_dict()),
            "content": self.content,
            "seconds": self.seconds,
            "understood": {
                "phrases": [p.to_dict() for p in self.understood],
                "assumed": list(self.assumed),
                "not_placed": list(self.not_placed),
            },
        }


def rounded(value: Any) -> Any:
    """Angles and times to 1e-6 (wrapping leaves 1e-14 noise on values like 60.1)."""
    if isinstance(value, float):
        return round(value, 6) + 0.0
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value
