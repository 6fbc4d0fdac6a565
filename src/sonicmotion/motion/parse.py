"""Words to a path: :func:`describe_to_motion` reads a description into a :class:`MotionReading`.

A rule-based reader, deterministic and explainable. It finds the vocabulary of
:mod:`sonicmotion.motion.words` in the text, joins neighbouring position words into places
("behind you and to the left", "the back, up high"), gives each place its role from the
word before it (from / to / then / via / passing ...), orders the places into legs, chooses
each leg's way round (clockwise, counter-clockwise, over the head) from the route words,
and the time window from the timing words (SPEC §6 defaults where they are silent).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from sonicmotion.audio import CLIP_SECONDS
from sonicmotion.errors import SonicMotionError
from sonicmotion.motion.distance import read_distance
from sonicmotion.motion.reading import (
    TIME_TOLERANCE,
    MotionReading,
    Phrase,
    Plan,
    Timing,
    Waypoint,
    band_middle,
    build_path,
)
from sonicmotion.motion.words import (
    HORIZON_RANGE,
    SECTOR_HALF_WIDTH,
    Azimuth,
    Elevation,
    Mention,
    find_mentions,
    normalise,
)
from sonicmotion.spatial.regions import SPEEDS
from sonicmotion.spatial.trajectory import TrajectoryError, azimuth_travel, wrap_azimuth

ROLE_WORDS = {
    "start": ("from", "starting", "starts", "start", "begins", "begin", "beginning", "first", "initially"),
    "end": ("to", "towards", "toward", "into", "onto", "until", "reaching", "reaches", "ending", "ends", "end",
            "arriving", "arrives", "finishing", "finishes", "finally", "heading", "up to", "over to", "across to",
            "round to", "around to", "back to", "on to"),
    "next": ("then", "later", "next", "afterwards", "after that"),
    "via": ("via", "through", "along", "across", "past", "round by", "around by", "round", "around", "by way of",
            "by", "passing", "passes", "pass", "passed", "going", "goes", "go", "crossing", "crosses"),
}
_MARKER = {word: role for role, words in ROLE_WORDS.items() for word in words}
_MARKERS = "|".join(sorted((re.escape(w) for w in _MARKER), key=len, reverse=True))
_FILLER = r"(?:(?:at|on|in|of|off|out|the|your|my|his|her|their|its|a|an|just|right|far|slightly|directly|way|" \
          r"it is|it's|it|is|gets|reaches|over on|somewhere|up|side|position)\s+)*"
_ROLE_BEFORE = re.compile(rf"(?:^|(?<=[\s,;:(]))(?P<marker>{_MARKERS})\s+(?P<filler>{_FILLER})$")
_GAP_FILLER = re.compile(r"^[\s,;:]*(?:(?:and|also|to|on|at|in|the|your|my|of|you|me|off|far|just|slightly|a|bit|"
                         r"little|is|it|it's|sits|side|hand|somewhere|over|there|but|up)[\s,;:]+)*$")
CONNECTORS = set(("and then from to at on in into of your my you me it is are was while until till with as by "
                  "via through round around starting ending first finally towards toward over past along across "
                  "moving moves move travels travelling traveling circling circles rising rises descending "
                  "descends sweeps sweeping located positioned placed coming heard sits sitting static stays "
                  "which that where but also both can be somewhere there here "
                  "itself when all way way, its").split())


@dataclass
class Place:
    """Position words that name one place, and its role in the route."""

    mentions: list[Mention]
    role: str  # start | end | next | via | none
    marker_start: int  # where the role word (or the first mention) begins
    azimuth: Azimuth | None = None
    elevation: Elevation | None = None
    pole: bool = False  # straight above or below: the azimuth does not matter

    @property
    def start(self) -> int:
        return self.mentions[0].start

    @property
    def end(self) -> int:
        return self.mentions[-1].end


@dataclass
class _Reading:
    text: str
    norm: str
    mentions: list[Mention]
    understood: list[Phrase] = field(default_factory=list)
    assumed: list[str] = field(default_factory=list)
    not_placed: list[str] = field(default_factory=list)
    removed: list[tuple[int, int]] = field(default_factory=list)

    def phrase(self, start: int, end: int) -> str:
        return self.text[start:end].strip(" ,;:")

    def say(self, mention: Mention, meaning: str) -> None:
        """Record that ``mention``'s phrase set ``meaning`` (shown in ``understood``)."""
        self.understood.append(Phrase(self.phrase(mention.start, mention.end), meaning))

    def refuse(self, message: str) -> None:
        raise SonicMotionError(f"cannot read {self.text!r}: {message}")


def describe_to_motion(text: str, seconds: float = CLIP_SECONDS) -> MotionReading:
    """Read where a sound is and how it moves from ``text``, for a clip of ``seconds`` s.

    Raises :class:`SonicMotionError` (one line) for contradictions (both clockwise and
    counter-clockwise, two speeds, a route that cannot go the stated way) and for times
    outside the clip. Words that say nothing about position give ``trajectory=None``.
    """
    if not isinstance(text, str) or not text.strip():
        raise SonicMotionError("the description is empty; say what the sound is and where it is")
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise SonicMotionError(f"the clip length must be a positive number of seconds, got {seconds!r}")
    seconds = float(seconds)
    norm = normalise(text)
    state = _Reading(text, norm, find_mentions(norm))
    plan = _plan(state, seconds)
    trajectory = None
    if plan is not None:
        try:
            trajectory = build_path(plan, seconds)
            trajectory.check_within(seconds)
        except TrajectoryError as err:
            state.refuse(str(err))
    return MotionReading(text, trajectory, _content(state), tuple(state.understood), tuple(state.assumed),
                         tuple(state.not_placed), seconds, plan)


# -- places ------------------------------------------------------------------------------
def _role_before(norm: str, start: int, floor: int = 0) -> tuple[str, int]:
    """The role word just before ``start`` (skipping articles and prepositions): (role, its start)."""
    window_start = max(floor, start - 48)
    match = _ROLE_BEFORE.search(norm[window_start:start])
    if not match:
        return "none", start
    return _MARKER[match.group("marker")], window_start + match.start()


def _places(state: _Reading) -> list[Place]:
    places: list[Place] = []
    floor = 0
    seen_start = False
    for mention in state.mentions:
        if mention.kind not in ("azimuth", "elevation"):
            if mention.kind not in ("ignore",):
                floor = max(floor, mention.end) if mention.kind in ("time",) else floor
            continue
        role, marker_start = _role_before(state.norm, mention.start, floor)
        if places and _joins(state.norm, places[-1], mention, role, marker_start, seen_start):
            _add(places[-1], mention)
            continue
        place = Place([], role, marker_start)
        _add(place, mention)
        places.append(place)
        seen_start = seen_start or role == "start"
        floor = mention.end
    for place in places:
        if place.elevation is not None and place.elevation.soft:  # "above": overhead alone, raised beside a place
            if place.azimuth is None:
                sign = 1.0 if place.elevation.degrees > 0 else -1.0
                place.elevation = Elevation(90.0 * sign, 90.0 * sign, 90.0 * sign)
        place.pole = place.elevation is not None and abs(place.elevation.degrees) == 90.0
    return places


def _joins(norm: str, place: Place, mention: Mention, role: str, marker_start: int, seen_start: bool) -> bool:
    """Whether ``mention`` adds to ``place`` ("behind you and to the left", "the left, up high")."""
    gap = norm[place.end:mention.start]
    if len(gap) > 30 or not _GAP_FILLER.match(gap):
        return False
    if role != "none" and marker_start >= place.end:
        # a role word between them starts a new place, except "to" in a location ("on the horizon to the right")
        if not (norm[marker_start:].startswith("to ") and place.role == "none" and not seen_start):
            return False
    if mention.kind == "elevation":
        # straight above or below is a place of its own beside a horizontal one ("from behind you over your head")
        pole = abs(mention.value.degrees) == 90.0 and not mention.value.soft
        return place.elevation is None and not (pole and place.azimuth is not None)
    if place.elevation is not None and abs(place.elevation.degrees) == 90.0 and not place.elevation.soft:
        return False
    new = mention.value
    if place.azimuth is None:
        return True
    families = {place.azimuth.family, new.family}
    if families != {"fb", "lr"}:
        return False
    # front/back + left/right = a diagonal, where the words are one place ("behind your right
    # shoulder", "behind you and to the left"), not a route ("from left to right behind me")
    return place.role == "none" or bool(re.search(r"\band\b|,|\byour\b|\bmy\b", gap))


def _add(place: Place, mention: Mention) -> None:
    place.mentions.append(mention)
    if mention.kind == "elevation":
        place.elevation = mention.value
        return
    if place.azimuth is None:
        place.azimuth = mention.value
        return
    a, b = place.azimuth.degrees, mention.value.degrees
    diagonal = math.degrees(math.atan2(math.sin(math.radians(a)) + math.sin(math.radians(b)),
                                       math.cos(math.radians(a)) + math.cos(math.radians(b))))
    place.azimuth = Azimuth(diagonal, SECTOR_HALF_WIDTH, "exact")


def _describe_place(place: Place) -> str:
    parts = []
    if place.azimuth is not None and not place.pole:
        az = place.azimuth
        parts.append(f"azimuth {az.degrees:g}" + (f" (±{az.half_width:g})" if az.half_width else ""))
    if place.elevation is not None:
        el = place.elevation
        parts.append(f"elevation {el.degrees:g}" + (f" ({el.low:g} to {el.high:g})" if el.high > el.low else ""))
    return ", ".join(parts)


def _waypoint(place: Place, azimuth: Azimuth | None) -> Waypoint:
    az = place.azimuth or azimuth
    el = place.elevation
    if el is None:
        el_value, low, high = 0.0, *HORIZON_RANGE
    else:
        el_value, low, high = el.degrees, el.low, el.high
    if az is None:
        return Waypoint(0.0, 0.0, el_value, low, high)
    return Waypoint(float(wrap_azimuth(az.degrees)), az.half_width, el_value, low, high)


# -- the plan ------------------------------------------------------------------------------
def _plan(state: _Reading, seconds: float) -> Plan | None:
    kinds: dict[str, list[Mention]] = {}
    for mention in state.mentions:
        kinds.setdefault(mention.kind, []).append(mention)
    places = _places(state)
    direction = _one_value(state, kinds.get("direction", []), "direction")
    if_moving: list[tuple[int, int]] = []  # speed and timing words: content words when the sound stays put
    speed = _one_value(state, _of_the_move(state, kinds, "speed"), "speed", if_moving)
    rise = _one_value(state, _of_the_move(state, kinds, "rise"), "way up or down")
    circle = bool(kinds.get("circle")) or bool(kinds.get("turns"))
    for mention in kinds.get("circle", []):
        state.understood.append(Phrase(state.phrase(mention.start, mention.end), mention.meaning))
        state.removed.append((mention.start, mention.end))
    turns = _one_value(state, kinds.get("turns", []), "number of turns")
    for mention in kinds.get("diffuse", []):
        state.not_placed.append(f"{state.phrase(mention.start, mention.end)!r}: all around is not one direction")
        state.removed.append((mention.start, mention.end))
    for kind in ("frame", "verb"):
        state.removed.extend((m.start, m.end) for m in kinds.get(kind, []))

    distance_said = bool(kinds.get("distance") or kinds.get("pace") or kinds.get("approach"))
    if not places and not circle and not distance_said:
        if rise is not None:
            state.not_placed.append(f"{'rises' if rise == 'rise' else 'falls'}, but no place is named")
        return None

    # the route: start, then each end / next place; via places belong to the leg they sit in
    route: list[Place] = []
    vias: list[Place] = []
    loose: list[Place] = []
    starts = [p for p in places if p.role == "start"]
    for place in places:
        role = place.role
        if role == "start":
            if route and route[0].role == "start":
                route.append(place)  # a second "from" continues the route
            else:
                if route and route[0].role == "none":
                    loose.append(route.pop(0))  # "overhead from front to back": the first place is not the start
                route.insert(0, place)
        elif role in ("end", "next"):
            if not route and loose:
                route.append(loose.pop(0))
            elif not route and not starts and place is places[0]:
                place.role = "none"  # "a bell to your left": a location, not a destination
            route.append(place)
        elif role == "via":
            vias.append(place)
        elif not route and not starts:
            route.append(place)
        else:
            loose.append(place)
    if not route:
        route, vias = vias[:1], vias[1:]

    # loose places: a horizontal place for height-only waypoints, an overhead pass, a via, or nothing
    overall: Azimuth | None = None
    for place in loose:
        if len(route) == 1 and not circle and _fills(route[0], place):
            _merge_into(route[0], place)
        elif place.azimuth is not None and place.elevation is None and any(p.azimuth is None for p in route):
            overall = place.azimuth
            _note(state, place, "horizontal place of the whole path: " + _describe_place(place))
        elif len(route) >= 2 or (circle and place.pole):
            vias.append(place)
        elif len(route) == 1:
            state.refuse(f"it names two places ({state.phrase(route[0].marker_start, route[0].end)!r} and "
                         f"{state.phrase(place.marker_start, place.end)!r}) but no movement between them; "
                         "describe one sound per text, or say how it moves (from ... to ...)")
    for index, place in enumerate(route):
        label = "start" if index == 0 else ("end" if index == len(route) - 1 else f"waypoint {index + 1}")
        _note(state, place, f"{label}: " + (_describe_place(place) or "position"))

    waypoints, assumed_front = [], False
    previous = overall
    for index, place in enumerate(route):
        az = place.azimuth if place.azimuth is not None and not place.pole else None
        if az is None:
            nearby = [p.azimuth for p in route[index + 1:] if p.azimuth is not None and not p.pole]
            az = previous or (nearby[0] if nearby else None)
        if az is None:
            assumed_front = True
        waypoints.append(_waypoint(place, az))
        previous = az or previous
    if not waypoints and not circle:  # distance words and no place: over the head for a flyover, else the front
        if any(m.value == "over" for m in kinds.get("pass", [])):
            waypoints.append(Waypoint(0.0, 0.0, 90.0, 90.0, 90.0))
            state.assumed.append("a pass over the head with no route: from the front to the back")
        else:
            waypoints.append(Waypoint(0.0, 0.0, 0.0, *HORIZON_RANGE))
            assumed_front = True
    if not waypoints:  # a circle and no place: it may start anywhere
        waypoints.append(Waypoint(0.0, 180.0, 0.0, *HORIZON_RANGE))
        state.assumed.append("a circle with no start: the front (any azimuth when sampling)")
    if assumed_front and (not route or not all(p.pole for p in route)):
        state.assumed.append("no horizontal direction given: front (azimuth 0)")
    if any(p.elevation is None for p in route) or (not route and not circle and waypoints[0].elevation == 0.0):
        state.assumed.append("no height given: ear level (elevation 0, Table 1 horizon band -30 to 30)")

    timing = _timing(state, kinds.get("time", []), speed, seconds, if_moving)
    distance = read_distance(state, kinds, timing == Timing(), circle) if distance_said else None
    if circle and len(waypoints) == 1:
        state.removed.extend(if_moving)
        if turns is None:
            turns = 1.0
            state.assumed.append("a circle with no count: one full turn")
        way = direction
        if way is None:
            way = "ccw"
            state.assumed.append("a circle with no direction: counter-clockwise")
        return _finish(state, Plan(tuple(waypoints), (way,), turns, timing, distance=distance), seconds)
    if rise is not None and len(waypoints) == 1:
        waypoints = _rise_pair(waypoints[0], rise, route[0])
        state.assumed.append("a rise or fall with no heights: across the horizon band (-15 to +15 degrees)"
                             if route[0].elevation is None else "a rise or fall with one height: 30 degrees of change")
    if len(waypoints) == 1:
        if distance is not None and distance.kind != "fixed":  # it moves in distance only
            state.removed.extend(if_moving)
            return _finish(state, Plan(tuple(waypoints), timing=timing, distance=distance), seconds)
        if timing != Timing() or speed is not None:
            state.assumed.append("timing words ignored: the sound does not move")
        return Plan(tuple(waypoints), distance=distance)
    state.removed.extend(if_moving)
    ways = _ways(state, route, waypoints, vias, direction)
    if rise is not None:
        change = waypoints[-1].elevation - waypoints[0].elevation
        if (rise == "rise" and change < 0) or (rise == "fall" and change > 0):
            state.refuse(f"it {'rises' if rise == 'rise' else 'falls'} but ends "
                         f"{'lower' if change < 0 else 'higher'} than it starts")
    keep = all(w.azimuth_half_width == SECTOR_HALF_WIDTH for w in waypoints) and direction is not None
    return _finish(state, Plan(tuple(waypoints), ways, None, timing, keep, distance), seconds)


def _finish(state: _Reading, plan: Plan, seconds: float) -> Plan:
    timing = plan.timing
    if plan.distance is not None and plan.distance.whole_clip:
        state.assumed.append(f"no times given: the move in distance lasts the whole {seconds:g} s clip")
    elif timing.start is None and timing.end is None and timing.duration is None:
        speed = timing.speed or "moderate"
        state.assumed.append(f"no times given: the move lasts {band_middle(speed):g} s (middle of the {speed} band"
                             f"{'' if timing.speed else ', none said'}), centred in the {seconds:g} s clip")
    return plan


_ANCHORS = ("azimuth", "elevation", "direction", "circle", "turns", "verb")


def _of_the_move(state: _Reading, kinds: dict[str, list[Mention]], kind: str) -> list[Mention]:
    """The ``kind`` mentions that describe the movement rather than the sound ("a bell tolls slowly,
    moving fast from ..."): for speeds, when there are several, those in a clause (between
    punctuation) with position or route words; rise words only in such a clause, and "rises and
    falls" there is no single way and is left out."""
    mentions = kinds.get(kind, [])
    # a rise word moves the sound only beside a place, a route or a speed word ("rising slowly at the
    # left"); "a siren rises and falls, heard at the back" describes its pitch
    anchors = _ANCHORS + (("rise",) if kind == "speed" else ("speed",))
    stop = r"[,.;:!?]"
    anchored = [m for m in mentions if any(a.kind in anchors and a is not m and _same_clause(state.norm, a, m, stop)
                                           for a in state.mentions)]
    chosen = mentions if kind == "speed" and (len(mentions) <= 1 or not anchored) else anchored
    if kind == "rise" and len({m.value for m in chosen}) > 1:
        chosen = []
    for mention in mentions:
        if mention not in chosen:
            state.not_placed.append(f"{state.phrase(mention.start, mention.end)!r}: describes the sound, not "
                                    "its movement")
    return chosen


def _same_clause(norm: str, a: Mention, b: Mention, stop: str) -> bool:
    low, high = (a, b) if a.start < b.start else (b, a)
    return not re.search(stop, norm[low.end:high.start])


def _one_value(state: _Reading, mentions: list[Mention], what: str, spans: list | None = None):
    """The one value the mentions give (refused if they give two); their spans go to ``spans``
    (taken out of the content only if the sound moves) or straight out of the content."""
    values = []
    for mention in mentions:
        state.understood.append(Phrase(state.phrase(mention.start, mention.end), mention.meaning))
        (state.removed if spans is None else spans).append((mention.start, mention.end))
        if mention.value not in values:
            values.append(mention.value)
    if len(values) > 1:
        said = " and ".join(repr(state.phrase(m.start, m.end)) for m in mentions)
        state.refuse(f"it gives more than one {what} ({said})")
    return values[0] if values else None


def _note(state: _Reading, place: Place, sets: str) -> None:
    state.understood.append(Phrase(state.phrase(place.marker_start, place.end), sets))
    state.removed.append((place.marker_start, place.end))


def _fills(place: Place, other: Place) -> bool:
    return (place.azimuth is None) != (other.azimuth is None) and \
        (place.elevation is None or other.elevation is None)


def _merge_into(place: Place, other: Place) -> None:
    place.mentions.extend(other.mentions)
    place.azimuth = place.azimuth or other.azimuth
    place.elevation = place.elevation or other.elevation
    place.pole = place.elevation is not None and abs(place.elevation.degrees) == 90.0
    # both phrases are taken out of the content
    place.mentions.sort(key=lambda m: m.start)


def _rise_pair(point: Waypoint, rise: str, place: Place) -> list[Waypoint]:
    """A rise or fall at one place: across the horizon band, or 30 degrees from the one height given."""
    sign = 1.0 if rise == "rise" else -1.0
    if place.elevation is None:
        low, high = HORIZON_RANGE
        below = Waypoint(point.azimuth, point.azimuth_half_width, -15.0, low, 0.0)
        above = Waypoint(point.azimuth, point.azimuth_half_width, 15.0, 0.0, high)
        return [below, above] if sign > 0 else [above, below]
    end = max(-90.0, min(90.0, point.elevation + 30.0 * sign))
    return [point, Waypoint(point.azimuth, point.azimuth_half_width, end, end, end)]


def _ways(state: _Reading, route: list[Place], points: list[Waypoint], vias: list[Place],
          direction: str | None) -> tuple[str, ...]:
    """Each leg's way round: the stated direction, the side a via place names, over the head, or the
    shorter way (through the front when both ways are equal)."""
    legs = len(points) - 1
    leg_vias: list[list[Place]] = [[] for _ in range(legs)]
    for via in vias:
        index = sum(1 for p in route[1:-1] if p.start < via.start)
        leg_vias[min(index, legs - 1)].append(via)
    ways = []
    for leg, (a, b) in enumerate(zip(points, points[1:])):
        way = direction
        for via in leg_vias[leg]:
            if via.pole:
                _note(state, via, f"leg {leg + 1} passes {'over the head' if via.elevation.degrees > 0 else 'below'}")
                way = "over" if via.elevation.degrees > 0 else "under"
                continue
            if via.azimuth is None:
                state.not_placed.append(f"{state.phrase(via.marker_start, via.end)!r}: a height with no route")
                continue
            side = _side(a.azimuth, b.azimuth, via.azimuth.degrees)
            if side is None:
                state.not_placed.append(f"{state.phrase(via.marker_start, via.end)!r}: not between "
                                        f"azimuth {a.azimuth:g} and {b.azimuth:g}")
                continue
            if direction is not None and side != direction:
                state.refuse(f"it goes {'clockwise' if direction == 'cw' else 'counter-clockwise'} but "
                             f"{state.phrase(via.marker_start, via.end)!r} lies the other way round")
            _note(state, via, f"leg {leg + 1} passes azimuth {via.azimuth.degrees:g}: direction {side}")
            way = side
        if way is None:
            travel = azimuth_travel(a.azimuth, b.azimuth, "shortest")
            way = "shortest"
            if abs(abs(travel) - 180.0) < 1e-6:
                way = _side(a.azimuth, b.azimuth, 0.0) or "ccw"
                state.assumed.append(f"leg {leg + 1} is half a turn either way: through the "
                                     f"{'front' if _side(a.azimuth, b.azimuth, 0.0) else 'left'} ({way})")
        ways.append(way)
    return tuple(ways)


def _side(start: float, end: float, via: float) -> str | None:
    """``cw`` or ``ccw``: the way from ``start`` to ``end`` whose arc passes ``via`` (strictly inside)."""
    ccw = azimuth_travel(start, end, "ccw")
    to_via = azimuth_travel(start, via, "ccw")
    if ccw == 0 or to_via == 0 or abs(to_via - ccw) < 1e-6:
        return None
    return "ccw" if to_via < ccw else "cw"


# -- timing ------------------------------------------------------------------------------
def _timing(state: _Reading, mentions: list[Mention], speed: str | None, seconds: float,
            spans: list[tuple[int, int]]) -> Timing:
    said: dict[str, float] = {}
    for mention in mentions:
        state.understood.append(Phrase(state.phrase(mention.start, mention.end), mention.meaning))
        spans.append((mention.start, mention.end))
        value = dict(mention.value)
        if "whole" in value:
            value = {"start": 0.0, "end": seconds}
        if "last" in value:
            n = seconds / 2 if value["last"] == "half" else value["last"]
            value = {"start": seconds - n, "end": seconds}
        if "first" in value:
            n = seconds / 2 if value["first"] == "half" else value["first"]
            # "on the left for the first five seconds, then ..." holds, then moves
            then = re.search(r"\bthen\b", state.norm[mention.end:])
            value = {"start": n} if then else {"start": 0.0, "end": n}
        if value.get("start") == "half":
            value["start"] = seconds / 2
        for key, number in value.items():
            if key in said and abs(said[key] - number) > 1e-9:
                state.refuse(f"it gives two {key} times ({said[key]:g} s and {number:g} s)")
            said[key] = float(number)
    start, end, duration = said.get("start"), said.get("end"), said.get("duration")
    for key, number in said.items():
        if number < 0 or number > seconds + 1e-9:
            state.refuse(f"the {key} time {number:g} s lies outside the {seconds:g} s clip")
    if start is not None and end is not None:
        if end <= start:
            state.refuse(f"the move ends ({end:g} s) no later than it starts ({start:g} s)")
        if duration is not None and abs(end - start - duration) > TIME_TOLERANCE:
            state.refuse(f"{start:g} to {end:g} s is not {duration:g} s long")
    elif duration is not None:
        if duration <= 0:
            state.refuse("the move must last more than 0 s")
        if start is not None:
            end = start + duration
        elif end is not None:
            start = end - duration
        if (start is not None and start < -1e-9) or (end is not None and end > seconds + 1e-9):
            state.refuse(f"a {duration:g} s move from {start:g} to {end:g} s does not fit the {seconds:g} s clip")
        if duration > seconds + 1e-9:
            state.refuse(f"a {duration:g} s move does not fit the {seconds:g} s clip")
    if speed is not None:
        low, high = SPEEDS[speed]
        length = end - start if start is not None and end is not None else duration
        if length is not None and not low - TIME_TOLERANCE <= length <= high + TIME_TOLERANCE:
            state.refuse(f"{speed} means a {low:g}-{high:g} s move, but the times give {length:g} s")
        room = seconds - start if start is not None else (end if end is not None else seconds)
        if length is None and room < low - TIME_TOLERANCE:
            state.refuse(f"{speed} means a {low:g}-{high:g} s move, but only {room:g} s of the clip are left")
    return Timing(start, end, None if (start is not None and end is not None) else duration, speed)


# -- content -----------------------------------------------------------------------------
def _content(state: _Reading) -> str:
    """The text with the motion words (and the words left hanging by them) taken out."""
    text = state.text
    keep = bytearray(b"\x01" * len(text))
    for start, end in state.removed:
        keep[start:end] = b"\x00" * (end - start)
    pieces, current = [], []
    for ch, flag in zip(text, keep):
        if flag:
            current.append(ch)
        elif current or not pieces:
            pieces.append("".join(current))
            current = []
    pieces.append("".join(current))
    cleaned = []
    for i, piece in enumerate(pieces):
        words = piece.split(" ")
        if i > 0:  # the start of this piece touched a removed phrase
            words = _strip(words, 0)
        if i < len(pieces) - 1:
            words = _strip(words, -1)
        cleaned.append(" ".join(words))
    joined = " ".join(p.strip() for p in cleaned if p.strip())
    joined = re.sub(r"\s+([,.;:!?])", r"\1", joined)
    joined = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", joined)
    joined = re.sub(r"[,;:]\s*([.!?])", r"\1", joined)
    joined = re.sub(r"\s{2,}", " ", joined).strip(" ,;:.-")
    joined = re.sub(r"^(?:and|then|but|while)\s+", "", joined, flags=re.IGNORECASE)
    return joined


def _strip(words: list[str], side: int) -> list[str]:
    """Drop connector words at one end of a piece (``side`` 0 = start, -1 = end)."""
    words = list(words)
    while words:
        word = words[side]
        bare = word.strip(",;:.").lower()
        if word.strip() == "" or (bare in CONNECTORS and not (side == 0 and bare in ("in", "of", "with", "as"))) \
                or (bare in ("a", "an") and side == -1) or \
                (bare == "" and side == 0):
            words.pop(side)
            continue
        break
    return words
