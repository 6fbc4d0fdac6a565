"""Where a source is over time: static, a linear move (paper Eq. 3), or keyframes.

Conventions (SPEC §2): degrees; azimuth 0 = front, +90 = left, wrapped to [-180, 180);
elevation 0 = horizon, +90 = up. Clockwise (``"cw"``, seen from above) means azimuth
decreasing: front -> right -> back. ``"ccw"`` means azimuth increasing. Between two
keyframes both angles move linearly in time; before the first keyframe the source
holds the first position, after the last it holds the last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from sonicmotion.errors import SonicMotionError

DIRECTIONS = ("cw", "ccw", "shortest")


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


class TrajectoryError(SonicMotionError):
    """A trajectory value that cannot be used. ``field`` names it (``time``, ``azimuth``,
    ``elevation``, ``direction``, ``move_start``, ``move_end``), ``keyframe`` is its 0-based
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


class Trajectory:
    """A source path built from keyframes; use :meth:`static`, :meth:`linear` or
    :meth:`from_keyframes` rather than the constructor."""

    def __init__(self, keyframes: Sequence[Keyframe], kind: str = "keyframes"):
        if not keyframes:
            raise SonicMotionError("a trajectory needs at least one keyframe")
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
            checked.append(
                Keyframe(
                    time,
                    float(wrap_azimuth(_check_angle(key.azimuth, i, "azimuth"))),
                    _check_angle(key.elevation, i, "elevation"),
                    key.direction,
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

    # -- constructors -------------------------------------------------------------
    @classmethod
    def static(cls, azimuth: float, elevation: float = 0.0) -> "Trajectory":
        """A source that stays at (``azimuth``, ``elevation``) degrees."""
        return cls([Keyframe(0.0, azimuth, elevation)], kind="static")

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
    ) -> "Trajectory":
        """Hold the start until ``move_start`` s, move linearly (Eq. 3) until ``move_end`` s
        travelling ``direction`` (``"cw"``, ``"ccw"`` or ``"shortest"``), then hold the end."""
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
        return cls(
            [
                Keyframe(move_start, start_azimuth, start_elevation),
                Keyframe(move_end, end_azimuth, end_elevation, direction),
            ],
            kind="linear",
        )

    @classmethod
    def from_keyframes(cls, keyframes: Iterable[Sequence[Any]]) -> "Trajectory":
        """From ``(time_s, azimuth_deg, elevation_deg[, direction])`` tuples."""
        keys = []
        for i, row in enumerate(keyframes):
            if len(row) not in (3, 4):
                raise SonicMotionError(
                    f"keyframe {i + 1} must be (time, azimuth, elevation[, direction]), got {tuple(row)}"
                )
            keys.append(Keyframe(*row))
        return cls(keys)

    @classmethod
    def parse_keyframes(cls, text: str) -> "Trajectory":
        """Parse ``"t:az:el[:dir];t:az:el[:dir];..."`` (seconds, degrees)."""
        rows = []
        for i, item in enumerate(part for part in text.split(";") if part.strip()):
            fields = [f.strip() for f in item.split(":")]
            if len(fields) not in (3, 4):
                raise SonicMotionError(
                    f"keyframe {i + 1} {item.strip()!r} must read time:azimuth:elevation[:cw|ccw]"
                )
            try:
                numbers = [float(f) for f in fields[:3]]
            except ValueError:
                raise SonicMotionError(f"keyframe {i + 1} {item.strip()!r} has a non-numeric field") from None
            rows.append((*numbers, *fields[3:]))
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
    def is_static(self) -> bool:
        return bool(np.all(self._azimuth == self._azimuth[0]) and np.all(self._elevation == self._elevation[0]))

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
        """Keyframe times (s), unwrapped azimuths and elevations (degrees)."""
        return self._times.copy(), self._azimuth.copy(), self._elevation.copy()

    def positions(self, times: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Azimuth (wrapped to [-180, 180)) and elevation in degrees at ``times`` seconds."""
        times = np.asarray(times, dtype=np.float64)
        azimuth = np.interp(times, self._times, self._azimuth)
        elevation = np.interp(times, self._times, self._elevation)
        return wrap_azimuth(azimuth), elevation

    def unwrapped_azimuth(self, times: np.ndarray | float) -> np.ndarray:
        """Azimuth in degrees without wrapping (continuous across ±180)."""
        return np.interp(np.asarray(times, dtype=np.float64), self._times, self._azimuth)

    # -- (de)serialisation --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description that :meth:`from_dict` reads back."""
        if self.kind == "static":
            az, el = self.start
            return {"type": "static", "azimuth": az, "elevation": el}
        if self.kind == "linear":
            (az0, el0), (az1, el1) = self.start, self.end
            return {
                "type": "linear",
                "start_azimuth": az0,
                "start_elevation": el0,
                "end_azimuth": az1,
                "end_elevation": el1,
                "direction": self.keyframes[1].direction,
                "move_start": self.move_start,
                "move_end": self.move_end,
            }
        return {
            "type": "keyframes",
            "keyframes": [[k.time, k.azimuth, k.elevation, k.direction] for k in self.keyframes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Trajectory":
        kind = data.get("type")
        try:
            if kind == "static":
                return cls.static(data["azimuth"], data.get("elevation", 0.0))
            if kind == "linear":
                return cls.linear(
                    data["start_azimuth"], data["start_elevation"], data["end_azimuth"],
                    data["end_elevation"], data["direction"], data["move_start"], data["move_end"],
                )
            if kind == "keyframes":
                return cls.from_keyframes(data["keyframes"])
        except KeyError as missing:
            raise SonicMotionError(f"{kind} trajectory is missing field {missing}") from None
        raise SonicMotionError(f"unknown trajectory type {kind!r}; expected static, linear or keyframes")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Trajectory) and self.keyframes == other.keyframes and self.kind == other.kind

    def __repr__(self) -> str:
        return f"Trajectory({self.to_dict()})"
