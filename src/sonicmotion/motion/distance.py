"""Distance in words (SPEC §6, beyond the paper): what the distance words of a description
say (:func:`read_distance`, a :class:`Distance`) and that distance put on a path
(:func:`with_distance`). Defaults (docs/motion.md): near 2 m, very close 0.5 m, far 50 m; an
approach runs far to near, a recession near to far; a pass with no speed spans ±3 times its
closest distance; a pass with a speed and no distance passes at 5 m.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sonicmotion.motion.words import FAR, NEAR, Mention
from sonicmotion.spatial.encode import direction_gains
from sonicmotion.spatial.trajectory import Keyframe, Trajectory


@dataclass(frozen=True)
class Distance:
    """What the words say about distance (metres; SPEC §6, beyond the paper).

    ``kind``: ``fixed`` (every keyframe at ``start`` m), ``change`` (from ``start`` to ``end``
    m: an approach or a recession, linear in time over the move), or ``pass`` (a straight line
    whose closest point lies ``start`` m away in the direction the angular path names, at
    ``speed`` m/s, or spanning ±``PASS_REACH`` × ``start`` when no speed is given).
    ``whole_clip``: a move in distance only with no timing words lasts the whole clip."""

    kind: str
    start: float
    end: float | None = None
    speed: float | None = None
    whole_clip: bool = False


PASS_REACH = 3.0  # a pass with no speed runs from 3x to 3x its closest distance either side (about ±72°)
PASS_DISTANCE = 5.0  # metres: the closest point of a pass whose words give a speed but no distance


def read_distance(state: Any, kinds: dict[str, list[Mention]], untimed: bool, circle: bool) -> Distance | None:
    """What the distance words say: a fixed distance, an approach or recession (start to end),
    or a pass on a straight line (closest distance, speed). ``state`` is the parser's reading
    (``parse._Reading``: what it understood, assumed, takes out of the content); ``untimed``: no timing or speed
    words. Refuses contradictions in one line."""
    said = kinds.get("distance", [])
    for mention in said:
        state.say(mention, mention.meaning)
        state.removed.append((mention.start, mention.end))
    paces = kinds.get("pace", [])
    for mention in paces:
        state.say(mention, mention.meaning)
        state.removed.append((mention.start, mention.end))
    if len({m.value for m in paces}) > 1:
        state.refuse(f"it gives more than one speed ({' and '.join(repr(state.phrase(m.start, m.end)) for m in paces)})")
    pace = paces[0].value if paces else None
    trends = kinds.get("approach", [])
    for mention in trends:
        state.say(mention, mention.meaning)
        if not mention.value[1]:  # "closer", "away": motion words; "approaches" stays in the content
            state.removed.append((mention.start, mention.end))
    ways = {m.value[0] for m in trends}
    if len(ways) > 1:
        state.refuse("it both approaches and recedes; describe one way, or give the distances (from ... to ... m)")
    trend = ways.pop() if ways else None
    by_role: dict[str | None, list[float]] = {}
    for mention in said:
        metres, role = mention.value
        if metres <= 0:
            state.refuse(f"a distance must be more than 0 m, got {state.phrase(mention.start, mention.end)!r}")
        by_role.setdefault(role, [])
        if metres not in by_role[role]:
            by_role[role].append(metres)
    for role, values in by_role.items():
        if len(values) > 1:
            state.refuse(f"it gives more than one {'start ' if role == 'start' else 'end ' if role == 'end' else ''}"
                         f"distance ({' and '.join(f'{v:g} m' for v in values)})")
    whole_clip = untimed
    if trend is not None or ("start" in by_role and "end" in by_role):
        near_far = (FAR, NEAR) if trend != "recede" else (NEAR, FAR)
        plain = by_role.get(None, [])
        start = (by_role.get("start") or (plain if trend == "approach" else []) or [None])[0]
        end = (by_role.get("end") or (plain if trend == "recede" else []) or [None])[0]
        if start is None:
            start = near_far[0]
            state.assumed.append(f"no distance where it starts: {start:g} m ({'far' if start == FAR else 'near'})")
        if end is None:
            end = near_far[1]
            state.assumed.append(f"no distance where it ends: {end:g} m ({'far' if end == FAR else 'near'})")
        if trend == "approach" and end >= start:
            state.refuse(f"it approaches but ends no nearer ({end:g} m) than it starts ({start:g} m)")
        if trend == "recede" and end <= start:
            state.refuse(f"it recedes but ends no farther ({end:g} m) than it starts ({start:g} m)")
        return Distance("change", start, end, None, whole_clip)
    values = sorted({v for vs in by_role.values() for v in vs})
    if len(values) > 1:
        state.refuse(f"it gives more than one distance ({' and '.join(f'{v:g} m' for v in values)})")
    if (kinds.get("pass") or pace is not None) and not circle:
        if not values:
            values = [PASS_DISTANCE]
            state.assumed.append(f"a pass with no distance: closest at {PASS_DISTANCE:g} m")
        if pace is None:
            state.assumed.append(f"a pass with no speed in m/s or km/h: from {PASS_REACH:g} times its closest "
                                 "distance before the closest point to as far after it")
        for mention in kinds.get("pass", []):
            state.say(mention, mention.meaning + " on a straight line")
        return Distance("pass", values[0], None, pace, whole_clip)
    if pace is not None:
        state.not_placed.append("a speed in m/s or km/h describes a pass on a straight line, not a circle")
    return Distance("fixed", values[0]) if values else None


def with_distance(path: Trajectory, distance: Distance, window: tuple[float, float]) -> Trajectory:
    """The angular ``path`` with ``distance`` (a pass becomes a cartesian straight line); a move
    in distance alone, and a pass, happen in ``window`` (seconds)."""
    if distance.kind == "fixed":
        return _keyed(path, lambda t: distance.start)
    if distance.kind == "change":
        if path.is_static:  # a fixed direction: the distance alone moves, over the move's window
            (az, el), (t0, t1) = path.start, window
            return Trajectory.linear(az, el, az, el, "shortest", t0, t1, distance.start, distance.end)
        t0, t1 = path.move_start, path.move_end
        return _keyed(path, lambda t: distance.start + (distance.end - distance.start) * (t - t0) / (t1 - t0))
    # a pass: closest where the angular path is halfway through its move, along the way it goes
    t0, t1 = window
    closest = direction_gains(*path.positions(0.5 * (path.move_start + path.move_end)))
    along = direction_gains(*path.end) - direction_gains(*path.start)
    along -= closest * float(along @ closest)
    if np.linalg.norm(along) < 1e-6:  # no way stated: front to back, else (passing in front or behind) left to right
        for default in (np.array([-1.0, 0.0, 0.0]), np.array([0.0, -1.0, 0.0])):
            along = default - closest * float(default @ closest)
            if np.linalg.norm(along) > 1e-6:
                break
    along /= np.linalg.norm(along)
    reach = distance.speed * (t1 - t0) / 2.0 if distance.speed is not None else PASS_REACH * distance.start
    middle = closest * distance.start
    first, last = middle - reach * along, middle + reach * along
    return Trajectory.cartesian([(t0, *map(float, first)), (t1, *map(float, last))])


def _keyed(path: Trajectory, metres) -> Trajectory:
    """``path`` with ``metres(time)`` at each keyframe (static and linear paths keep their kind)."""
    keys = path.keyframes
    if path.kind == "static":
        return Trajectory.static(keys[0].azimuth, keys[0].elevation, metres(keys[0].time))
    if path.kind == "linear":
        (az0, el0), (az1, el1) = path.start, path.end
        return Trajectory.linear(az0, el0, az1, el1, keys[1].direction, path.move_start, path.move_end,
                                 metres(keys[0].time), metres(keys[1].time))
    return Trajectory([Keyframe(k.time, k.azimuth, k.elevation, k.direction, metres(k.time)) for k in keys])
