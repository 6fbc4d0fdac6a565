"""Where a source is over time: static, a linear move (paper Eq. 3), keyframes, or a
cartesian path.

Conventions (SPEC §2): degrees; azimuth 0 = front, +90 = left, wrapped to [-180, 180);
elevation 0 = horizon, +90 = up. Clockwise (``"cw"``, seen from above) means azimuth
decreasing: front -> right -> back. ``"ccw"`` means azimuth increasing. Between two
keyframes both angles move linearly in time; before the first keyframe the source
holds the first position, after the last it holds the last.

Distance (SPEC §6, beyond the paper): metres from the listener at the origin, x front,
y left, z up. A static, linear or keyframes path may give a distance at every keyframe
(linear in time between them, like the angles); a ``cartesian`` path gives ``(t, x, y, z)``
keyframes and moves on straight lines between them, so its direction and distance per
sample follow from the geometry. A path without distance is the paper's plane wave and
renders exactly as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from sonicmotion.errors import SonicMotionError

DIRECTIONS = ("cw", "ccw", "shortest")
SPEED_OF_SOUND = 343.0  # m/s (SPEC §6); a path with distance must move slower than this
MAX_DISTANCE = 10_000.0  # metres: the farthest a keyframe may be (air absorbs everything audible beyond)


def wrap_azimuth(azimuth: np.ndarray | float) -> np.ndarray | float:
    """Wrap azimuth in degrees to [-180, 180)."""
    wrapped = (np.asarray(azimuth, dtype=np.float64) + 180.0) % 360.0 - 180.0
    return float(wrapped) if np.ndim(wrapped) == 0 else wrapped


def azimuth_travel(start: float, end: float, direction: str) -> float:
    """Signed azimuth change in degrees from ``start`` to ``end`` going ``direction``.

    ``"ccw"`` gives a value in [0, 360), ``"cw"`` in (-360, 0], ``"shortest"`` in
    [-180, 180). Equal end points give 0 whatever the direction.
    """
    if direction == "ccw":
        return (end - start) % 360.0
    if direction == "cw":
        return -((start - end) % 360.0)
    if direction == "shortest":
        return (end - start + 180.0) % 360.0 - 180.0
    raise SonicMotionError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")


@dataclass(frozen=True)
class Keyframe:
    """A position at a time; ``direction`` says how azimuth travels *to* it."""

    time: float  # seconds
    azimuth: float  # degrees
    elevation: float  # degrees
    direction: str = "shortest"
    distance: float | None = None  # metres from the listener; None = plane wave (no distance)


class TrajectoryError(SonicMotionError):
    """A trajectory value that cannot be used. ``field`` names it (``time``, ``azimuth``,
    ``elevation``, ``direction``, ``distance``, ``x``, ``y``, ``z``, ``speed``, ``move_start``,
    ``move_end``), ``keyframe`` is its 0-based
    keyframe (None for the move times) and ``detail`` the problem without the location, so a
    scene file or a command line can name the value its own way."""

    def __init__(self, message: str, field: str, keyframe: int | None, detail: str):
        super().__init__(message)
        self.field = field
        self.keyframe = keyframe
        self.detail = detail


def _check_angle(value: float, index: int, field: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        detail = f"must be a finite number of degrees, got {value}"
        raise TrajectoryError(f"keyframe {index + 1} {field} {detail}", field, index, detail)
    if field == "elevation" and not -90.0 <= value <= 90.0:
        detail = f"must lie in [-90, 90] degrees, got {value:g}"
        raise TrajectoryError(f"keyframe {index + 1} {field} {detail}", field, index, detail)
    return value


def _check_distance(value: Any, index: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        detail = f"must be a number of metres, got {value!r}"
        raise TrajectoryError(f"keyframe {index + 1} distance {detail}", "distance", index, detail)
    value = float(value)
    if not math.isfinite(value) or not 0.0 < value <= MAX_DISTANCE:
        detail = f"must lie in (0, {MAX_DISTANCE:g}] metres, got {value:g}"
        raise TrajectoryError(f"keyframe {index + 1} distance {detail}", "distance", index, detail)
    return value


def _angles_of(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Azimuth, elevation (degrees, azimuth wrapped) and distance (metres) of points (3, n).

    At the listener's own position (distance 0) the direction is undefined; it reads as
    the front (azimuth 0, elevation 0)."""
    x, y, z = xyz
    horizontal = np.hypot(x, y)
    azimuth = wrap_azimuth(np.degrees(np.arctan2(y, x)))
    elevation = np.degrees(np.arctan2(z, horizontal))
    return np.asarray(azimuth), elevation, np.hypot(horizontal, z)


class Trajectory:
    """A source path built from keyframes; use :meth:`static`, :meth:`linear`,
    :meth:`from_keyframes` or :meth:`cartesian` rather than the constructor.

    ``points``: for ``kind="cartesian"`` only, the (k, 3) keyframe positions in metres
    (x front, y left, z up) at the keyframes' times; the keyframes then hold the same
    positions as angles and distances."""

    def __init__(self, keyframes: Sequence[Keyframe], kind: str = "keyframes", points: np.ndarray | None = None):
        if not keyframes:
            raise SonicMotionError("a trajectory needs at least one keyframe")
        has_distance = keyframes[0].distance is not None
        checked = []
        for i, key in enumerate(keyframes):
            time = float(key.time)
            if not math.isfinite(time) or time < 0:
                raise TrajectoryError(f"keyframe {i + 1}: time must be >= 0 seconds, got {key.time}",
                                      "time", i, f"must be >= 0, got {time:g}")
            if key.direction not in DIRECTIONS:
                raise TrajectoryError(
                    f"keyframe {i + 1}: direction must be one of {', '.join(DIRECTIONS)}, "
                    f"got {key.direction!r}",
                    "direction", i, f"expected one of {', '.join(DIRECTIONS)}, got {key.direction!r}",
                )
            if checked and time <= checked[-1].time:
                raise TrajectoryError(
                    f"keyframes must be in strictly increasing time order: keyframe {i + 1} "
                    f"at {time:g} s does not come after {checked[-1].time:g} s",
                    "time", i, f"{time:g} s must come after the previous keyframe ({checked[-1].time:g} s)",
                )
            if (key.distance is not None) != has_distance:
                detail = "give a distance at every keyframe or at none"
                raise TrajectoryError(f"keyframe {i + 1}: {detail}", "distance", i, detail)
            checked.append(
                Keyframe(
                    time,
                    float(wrap_azimuth(_check_angle(key.azimuth, i, "azimuth"))),
                    _check_angle(key.elevation, i, "elevation"),
                    key.direction,
                    None if key.distance is None else _check_distance(key.distance, i),
                )
            )
        self.keyframes: tuple[Keyframe, ...] = tuple(checked)
        self.kind = kind
        self._times = np.array([k.time for k in checked])
        unwrapped = [checked[0].azimuth]
        for prev, key in zip(checked, checked[1:]):
            unwrapped.append(unwrapped[-1] + azimuth_travel(prev.azimuth, key.azimuth, key.direction))
        self._azimuth = np.array(unwrapped)
        self._elevation = np.array([k.elevation for k in checked])
        self._distance = np.array([k.distance for k in checked]) if has_distance else None
        self._points = None if points is None else np.array(points, dtype=np.float64).reshape(-1, 3)
        if self._points is not None:
            steps = np.linalg.norm(np.diff(self._points, axis=0), axis=1)
        elif has_distance:
            steps = np.abs(np.diff(self._distance))  # only the radial speed changes the delay
        else:
            steps = np.zeros(len(checked) - 1)
        speeds = steps / np.maximum(np.diff(self._times), 1e-300)
        for i, speed in enumerate(speeds):
            if speed >= SPEED_OF_SOUND:
                detail = (f"the source would move at {speed:.4g} m/s between {self._times[i]:g} s and "
                          f"{self._times[i + 1]:g} s; a path must stay below the speed of sound "
                          f"({SPEED_OF_SOUND:g} m/s)")
                raise TrajectoryError(f"keyframe {i + 2}: {detail}", "speed", i + 1, detail)

    # -- constructors -------------------------------------------------------------
    @classmethod
    def static(cls, azimuth: float, elevation: float = 0.0, distance: float | None = None) -> "Trajectory":
        """A source that stays at (``azimuth``, ``elevation``) degrees, ``distance`` metres
        away (None: a plane wave, no distance)."""
        return cls([Keyframe(0.0, azimuth, elevation, "shortest", distance)], kind="static")

    @classmethod
    def linear(
        cls,
        start_azimuth: float,
        start_elevation: float,
        end_azimuth: float,
        end_elevation: float,
        direction: str,
        move_start: float,
        move_end: float,
        start_distance: float | None = None,
        end_distance: float | None = None,
    ) -> "Trajectory":
        """Hold the start until ``move_start`` s, move linearly (Eq. 3) until ``move_end`` s
        travelling ``direction`` (``"cw"``, ``"ccw"`` or ``"shortest"``), then hold the end.
        ``start_distance``/``end_distance`` in metres (linear in time like the angles; the
        end defaults to the start; both None: a plane wave)."""
        move_start, move_end = float(move_start), float(move_end)
        if not (math.isfinite(move_start) and math.isfinite(move_end)):
            raise TrajectoryError("move_start and move_end must be finite seconds",
                                  "move_end" if math.isfinite(move_start) else "move_start", None,
                                  "must be finite seconds")
        if move_start < 0:
            raise TrajectoryError(f"move_start must be >= 0 seconds, got {move_start:g}",
                                  "move_start", None, f"must be >= 0, got {move_start:g}")
        if move_end <= move_start:
            raise TrajectoryError(
                f"move_end ({move_end:g} s) must be later than move_start ({move_start:g} s)",
                "move_end", None, f"{move_end:g} s must be later than move_start {move_start:g} s",
            )
        if start_distance is None and end_distance is not None:
            detail = "an end distance needs a start distance"
            raise TrajectoryError(f"keyframe 1 distance: {detail}", "distance", 0, detail)
        if end_distance is None:
            end_distance = start_distance
        return cls(
            [
                Keyframe(move_start, start_azimuth, start_elevation, "shortest", start_distance),
                Keyframe(move_end, end_azimuth, end_elevation, direction, end_distance),
            ],
            kind="linear",
        )

    @classmethod
    def from_keyframes(cls, keyframes: Iterable[Sequence[Any]]) -> "Trajectory":
        """From ``(time_s, azimuth_deg, elevation_deg[, direction][, distance_m])`` tuples
        (a number in the fourth place is a distance)."""
        keys = []
        for i, row in enumerate(keyframes):
            row = tuple(row)
            if len(row) == 4 and not isinstance(row[3], str):
                row = (*row[:3], "shortest", row[3])
            if len(row) not in (3, 4, 5):
                raise SonicMotionError(
                    f"keyframe {i + 1} must be (time, azimuth, elevation[, direction][, distance]), got {row}"
                )
            keys.append(Keyframe(*row))
        return cls(keys)

    @classmethod
    def cartesian(cls, points: Iterable[Sequence[float]]) -> "Trajectory":
        """From ``(time_s, x_m, y_m, z_m)`` keyframes in the listener's frame (x front, y left,
        z up): straight lines between them at constant speed, held before the first and
        after the last. Direction and distance per sample follow from the geometry."""
        rows = []
        for i, row in enumerate(points):
            row = tuple(row)
            if len(row) != 4:
                raise SonicMotionError(f"cartesian keyframe {i + 1} must be (time, x, y, z), got {row}")
            values = []
            for name, value in zip(("time", "x", "y", "z"), row):
                if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                        or not math.isfinite(value):
                    detail = f"must be a finite number, got {value!r}"
                    raise TrajectoryError(f"keyframe {i + 1} {name} {detail}", name, i, detail)
                values.append(float(value))
            rows.append(values)
        if not rows:
            raise SonicMotionError("a trajectory needs at least one keyframe")
        table = np.array(rows)
        for i, (x, y, z) in enumerate(table[:, 1:]):
            distance = math.sqrt(x * x + y * y + z * z)
            if not 0.0 < distance <= MAX_DISTANCE:
                detail = (f"({x:g}, {y:g}, {z:g}) m lies {distance:g} m from the listener; a keyframe must lie "
                          f"in (0, {MAX_DISTANCE:g}] m")
                raise TrajectoryError(f"keyframe {i + 1}: {detail}", "distance", i, detail)
        azimuth, elevation, distance = _angles_of(table[:, 1:].T)
        keys = [Keyframe(t, float(az), float(el), "shortest", float(r))
                for t, az, el, r in zip(table[:, 0], azimuth, elevation, distance)]
        return cls(keys, kind="cartesian", points=table[:, 1:])

    @classmethod
    def parse_cartesian(cls, text: str) -> "Trajectory":
        """Parse ``"t,x,y,z; t,x,y,z; ..."`` (seconds, metres; x front, y left, z up)."""
        rows = []
        for i, item in enumerate(part for part in text.split(";") if part.strip()):
            fields = [f.strip() for f in item.split(",")]
            if len(fields) != 4:
                raise SonicMotionError(f"cartesian keyframe {i + 1} {item.strip()!r} must read t,x,y,z")
            try:
                rows.append([float(f) for f in fields])
            except ValueError:
                raise SonicMotionError(f"cartesian keyframe {i + 1} {item.strip()!r} has a non-numeric field") from None
        if not rows:
            raise SonicMotionError("--cartesian is empty; expected t,x,y,z; t,x,y,z; ...")
        return cls.cartesian(rows)

    @classmethod
    def parse_keyframes(cls, text: str) -> "Trajectory":
        """Parse ``"t:az:el[:dir][:dist];..."`` (seconds, degrees, metres)."""
        rows = []
        for i, item in enumerate(part for part in text.split(";") if part.strip()):
            fields = [f.strip() for f in item.split(":")]
            if len(fields) not in (3, 4, 5):
                raise SonicMotionError(
                    f"keyframe {i + 1} {item.strip()!r} must read time:azimuth:elevation[:cw|ccw][:metres]"
                )
            direction = [fields.pop(3)] if len(fields) > 3 and fields[3] in DIRECTIONS else []
            if len(fields) == 5:
                raise SonicMotionError(
                    f"keyframe {i + 1} {item.strip()!r} must read time:azimuth:elevation[:cw|ccw][:metres]"
                )
            try:
                numbers = [float(f) for f in fields]
            except ValueError:
                if len(fields) == 4 and not direction:  # a direction word that is not one
                    raise TrajectoryError(
                        f"keyframe {i + 1}: direction must be one of {', '.join(DIRECTIONS)} (or a distance in "
                        f"metres), got {fields[3]!r}", "direction", i,
                        f"expected one of {', '.join(DIRECTIONS)}, got {fields[3]!r}") from None
                raise SonicMotionError(f"keyframe {i + 1} {item.strip()!r} has a non-numeric field") from None
            rows.append((*numbers[:3], *(direction or ["shortest"]), *numbers[3:]))
        if not rows:
            raise SonicMotionError("--keyframes is empty; expected t:az:el;t:az:el;...")
        return cls.from_keyframes(rows)

    def check_within(self, duration: float, span: str = "clip") -> None:
        """Raise :class:`TrajectoryError` if the path goes on past ``duration`` seconds (a
        keyframe, or a linear move's end, later than the ``span`` lasts)."""
        if self.kind == "linear":
            if self.move_end > duration + 1e-9:
                detail = f"{self.move_end:g} s lies beyond the {span}'s {duration:g} s"
                raise TrajectoryError(f"move_end {detail}", "move_end", None, detail)
            return
        for i, key in enumerate(self.keyframes):
            if key.time > duration + 1e-9:
                detail = f"{key.time:g} s lies outside the {span} (0 to {duration:g} s)"
                raise TrajectoryError(f"keyframe {i + 1}: time {detail}", "time", i, detail)

    # -- queries ------------------------------------------------------------------
    @property
    def has_distance(self) -> bool:
        """True when the path gives distances (metres): it renders with propagation delay,
        1/r level and air absorption; False: the paper's plane wave."""
        return self._distance is not None

    @property
    def is_cartesian(self) -> bool:
        """True for a ``cartesian`` path (straight lines between (t, x, y, z) keyframes)."""
        return self._points is not None

    @property
    def is_static(self) -> bool:
        if self._points is not None:
            return bool(np.all(self._points == self._points[0]))
        still = bool(np.all(self._azimuth == self._azimuth[0]) and np.all(self._elevation == self._elevation[0]))
        return still and (self._distance is None or bool(np.all(self._distance == self._distance[0])))

    @property
    def start(self) -> tuple[float, float]:
        """(azimuth, elevation) in degrees before the first keyframe."""
        return self.keyframes[0].azimuth, self.keyframes[0].elevation

    @property
    def end(self) -> tuple[float, float]:
        """(azimuth, elevation) in degrees after the last keyframe."""
        return self.keyframes[-1].azimuth, self.keyframes[-1].elevation

    @property
    def move_start(self) -> float:
        """Seconds at which the first movement begins."""
        return float(self._times[0])

    @property
    def move_end(self) -> float:
        """Seconds at which the last movement ends."""
        return float(self._times[-1])

    @property
    def knots(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Keyframe times (s), unwrapped azimuths and elevations (degrees). Angles are linear
        in time between them, except on a cartesian path (see :meth:`positions`)."""
        return self._times.copy(), self._azimuth.copy(), self._elevation.copy()

    @property
    def cartesian_points(self) -> tuple[tuple[float, float, float, float], ...] | None:
        """A cartesian path's keyframes as ``(time_s, x_m, y_m, z_m)``; None for other paths."""
        if self._points is None:
            return None
        return tuple((float(t), *map(float, p)) for t, p in zip(self._times, self._points))

    def positions(self, times: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Azimuth (wrapped to [-180, 180)) and elevation in degrees at ``times`` seconds."""
        times = np.asarray(times, dtype=np.float64)
        if self._points is not None:
            azimuth, elevation, _ = _angles_of(self.coordinates(times))
            return (float(azimuth) if azimuth.ndim == 0 else azimuth), elevation
        azimuth = np.interp(times, self._times, self._azimuth)
        elevation = np.interp(times, self._times, self._elevation)
        return wrap_azimuth(azimuth), elevation

    def distances(self, times: np.ndarray | float) -> np.ndarray:
        """Distance from the listener in metres at ``times`` seconds (a path with distance)."""
        if self._distance is None:
            raise SonicMotionError("this path has no distance (a plane wave): give distances to its keyframes")
        times = np.asarray(times, dtype=np.float64)
        if self._points is not None:
            return np.sqrt(np.sum(self.coordinates(times) ** 2, axis=0))
        return np.interp(times, self._times, self._distance)

    def coordinates(self, times: np.ndarray | float) -> np.ndarray:
        """Positions (3, ...) in metres (x front, y left, z up) at ``times`` seconds: on a
        cartesian path linear between keyframes; on others the distance along the direction."""
        times = np.asarray(times, dtype=np.float64)
        if self._points is not None:
            return np.stack([np.interp(times, self._times, self._points[:, axis]) for axis in range(3)])
        azimuth, elevation = self.positions(times)
        az, el = np.radians(azimuth), np.radians(elevation)
        unit = np.stack([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])
        return unit * self.distances(times)

    def unwrapped_azimuth(self, times: np.ndarray | float) -> np.ndarray:
        """Azimuth in degrees without wrapping (continuous across ±180)."""
        times = np.asarray(times, dtype=np.float64)
        if self._points is not None:
            # Unwrapped along the times asked for (sorted), as the geometry turns.
            azimuth, _ = self.positions(np.atleast_1d(times))
            return np.degrees(np.unwrap(np.radians(azimuth))).reshape(times.shape)
        return np.interp(times, self._times, self._azimuth)

    # -- (de)serialisation --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description that :meth:`from_dict` reads back. Distance keys
        appear only on paths with distance, so plane-wave paths read as before."""
        if self._points is not None:
            return {"type": "cartesian", "keyframes": [list(row) for row in self.cartesian_points]}
        if self.kind == "static":
            az, el = self.start
            data = {"type": "static", "azimuth": az, "elevation": el}
            if self.has_distance:
                data["distance"] = self.keyframes[0].distance
            return data
        if self.kind == "linear":
            (az0, el0), (az1, el1) = self.start, self.end
            data = {
                "type": "linear",
                "start_azimuth": az0,
                "start_elevation": el0,
                "end_azimuth": az1,
                "end_elevation": el1,
                "direction": self.keyframes[1].direction,
                "move_start": self.move_start,
                "move_end": self.move_end,
            }
            if self.has_distance:
                data.update(start_distance=self.keyframes[0].distance, end_distance=self.keyframes[1].distance)
            return data
        return {
            "type": "keyframes",
            "keyframes": [[k.time, k.azimuth, k.elevation, k.direction, *([k.distance] if self.has_distance else [])]
                          for k in self.keyframes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Trajectory":
        kind = data.get("type")
        try:
            if kind == "static":
                return cls.static(data["azimuth"], data.get("elevation", 0.0), data.get("distance"))
            if kind == "linear":
                return cls.linear(
                    data["start_azimuth"], data["start_elevation"], data["end_azimuth"],
                    data["end_elevation"], data["direction"], data["move_start"], data["move_end"],
                    data.get("start_distance"), data.get("end_distance"),
                )
            if kind == "keyframes":
                return cls.from_keyframes(data["keyframes"])
            if kind == "cartesian":
                return cls.cartesian(data["keyframes"])
        except KeyError as missing:
            raise SonicMotionError(f"{kind} trajectory is missing field {missing}") from None
        raise SonicMotionError(f"unknown trajectory type {kind!r}; expected static, linear, keyframes or cartesian")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Trajectory) and self.keyframes == other.keyframes and self.kind == other.kind
                and self.cartesian_points == other.cartesian_points)

    def __repr__(self) -> str:
        return f"Trajectory({self.to_dict()})"
