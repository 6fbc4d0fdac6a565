"""The vocabulary of positions, routes and timing, and the recogniser that finds it in text.

Every phrase the parser knows is one regular expression here with what it means. The
recogniser runs them in order (longer, more specific phrases first) over the lower-cased
text; a phrase that overlaps one already found is skipped. Each find is a :class:`Mention`
with its character span, so the caller can take the motion words out of the text.

Conventions (SPEC §2, §6): degrees, azimuth 0 = front, +90 = left, -90 = right, 180 = back;
clock positions count clockwise from 12 = front (3 = right, 9 = left); "N degrees to the
right" is azimuth -N. Table 1's sectors are 45° wide, so a sector word allows ±22.5°.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from sonicmotion.data.sampling import ELEVATION_RANGE
from sonicmotion.spatial.regions import DOWN_THRESHOLD, UP_THRESHOLD

SECTOR_HALF_WIDTH = 22.5  # degrees: Table 1's 45° sectors
CLOCK_HALF_WIDTH = 15.0  # degrees: a clock hour is 30°
# Table 1's "up"/"down" within the builder's elevation range: (30, 35] and [-35, -30).
UP_RANGE = (UP_THRESHOLD, ELEVATION_RANGE[1])
DOWN_RANGE = (ELEVATION_RANGE[0], DOWN_THRESHOLD)
HORIZON_RANGE = (DOWN_THRESHOLD, UP_THRESHOLD)  # no height word: the horizon band of Table 1
RAISED_RANGE = (30.0, 60.0)  # free "above"/"high above" with a horizontal place: raised, not overhead
SLIGHT_RANGE = (5.0, 25.0)  # "slightly above"

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_WORD_NUMBER = (r"(?:(?:a|one) hundred(?: and)?(?: (?:%(tens)s)(?:[- ](?:%(units)s))?| (?:%(units)s))?"
                r"|(?:%(tens)s)(?:[- ](?:%(units)s))?|%(units)s|half a|a half)") % {
    "tens": "|".join(_TENS), "units": "|".join(_UNITS)}
NUMBER = rf"(?:(?:minus |negative |-|\+|−)?\d+(?:\.\d+)?|{_WORD_NUMBER})"
APPROX = r"(?:(?:about|around|roughly|approximately|some|just|nearly|almost|~) )?"
SECONDS = r"(?:s|secs?|seconds?)\b"
DEGREES = r"(?: ?(?:°|degrees?|deg)\b|°)"
YOU = r"(?: (?:of )?(?:you|me|us|the listener|your head|my head|the head)\b)"


def parse_number(text: str) -> float:
    """A number written in digits or English words ("forty-five", "minus 30", "half a")."""
    text = text.strip().replace("−", "-")
    sign = 1.0
    for prefix in ("minus ", "negative "):
        if text.startswith(prefix):
            sign, text = -1.0, text[len(prefix):]
    try:
        return sign * float(text)
    except ValueError:
        pass
    if text in ("half a", "a half"):
        return 0.5
    total = 0.0
    for word in re.split(r"[- ]", text):
        if word in ("a", "and"):
            continue
        if word == "hundred":
            total = (total or 1.0) * 100.0
        elif word in _TENS:
            total += _TENS[word]
        else:
            total += _UNITS.index(word)
    return sign * total


@dataclass(frozen=True)
class Mention:
    """One phrase found in the text: ``kind`` and ``value`` say what it sets."""

    kind: str  # azimuth, elevation, speed, time, direction, turns, circle, rise, verb, frame, diffuse, ignore,
    #            distance, pace, approach, pass
    start: int  # character span in the text
    end: int
    value: Any
    meaning: str  # what it sets, in words (for MotionReading.understood)


@dataclass(frozen=True)
class Azimuth:
    degrees: float
    half_width: float  # degrees either side the words allow
    family: str  # "fb" (front/back), "lr" (left/right), "exact" (numbers, diagonals, clock)


@dataclass(frozen=True)
class Elevation:
    degrees: float
    low: float
    high: float
    soft: bool = False  # "above"/"below" without "you": overhead alone, raised beside a horizontal place


def _az(degrees: float, family: str, half: float = SECTOR_HALF_WIDTH) -> Callable[[re.Match], tuple]:
    return lambda m: (Azimuth(degrees, half, family), _az_meaning(degrees, half))


def _az_meaning(degrees: float, half: float) -> str:
    return f"azimuth {degrees:g}" + (f" (±{half:g})" if half else "")


def _el(degrees: float, low: float, high: float, soft: bool = False) -> Callable[[re.Match], tuple]:
    return lambda m: (Elevation(degrees, low, high, soft), f"elevation {degrees:g}" +
                      (f" ({low:g} to {high:g})" if high > low else ""))


def _number_azimuth(sign: float) -> Callable[[re.Match], tuple]:
    def read(m: re.Match) -> tuple:
        value = sign * parse_number(m.group("n"))
        return Azimuth(value, 0.0, "exact"), f"azimuth {value:g}"
    return read


def _clock(m: re.Match) -> tuple:
    hour = parse_number(m.group("h"))
    if not 1 <= hour <= 12:
        return None
    degrees = ((-30.0 * hour) + 180.0) % 360.0 - 180.0
    meaning = f"azimuth {degrees:g} ({hour:g} o'clock, ±{CLOCK_HALF_WIDTH:g})"
    return Azimuth(degrees, CLOCK_HALF_WIDTH, "exact"), meaning


def _number_elevation(sign: float) -> Callable[[re.Match], tuple]:
    def read(m: re.Match) -> tuple:
        value = sign * parse_number(m.group("n"))
        return Elevation(value, value, value), f"elevation {value:g}"
    return read


def _times(kind: str) -> Callable[[re.Match], tuple]:
    """A timing phrase: ``value`` is a dict of start/end/duration seconds (and flags)."""
    def read(m: re.Match) -> tuple:
        groups = {k: parse_number(v) for k, v in m.groupdict().items() if v is not None and k in ("a", "b", "n")}
        if kind == "span":
            value = {"start": groups["a"], "end": groups["b"]}
        elif kind == "start":
            value = {"start": groups["n"]}
        elif kind == "end":
            value = {"end": groups["n"]}
        elif kind == "duration":
            value = {"duration": groups["n"]}
        elif kind == "last":
            value = {"last": groups["n"]}
        elif kind == "first":
            value = {"first": groups["n"]}
        elif kind == "whole":
            value = {"whole": True}
        elif kind == "first half":
            value = {"first": "half"}
        elif kind == "second half":
            value = {"last": "half"}
        else:  # halfway
            value = {"start": "half"}
        return value, "timing " + ", ".join(f"{k} {v if isinstance(v, str) else format(v, 'g')}"
                                            for k, v in value.items())
    return read


def _const(kind_value: Any, meaning: str) -> Callable[[re.Match], tuple]:
    return lambda m: (kind_value, meaning)


def _turns(m: re.Match) -> tuple:
    word = m.group("t")
    counts = {"once": 1.0, "twice": 2.0, "thrice": 3.0, "a full": 1.0, "one full": 1.0, "full": 1.0,
              "a complete": 1.0, "complete": 1.0, "half a": 0.5, "a half": 0.5, "half": 0.5, "a quarter": 0.25,
              "quarter": 0.25, "a quarter of a": 0.25, "three quarters of a": 0.75, "three-quarters of a": 0.75}
    value = counts[word] if word in counts else parse_number(re.sub(r"(?: full| complete)? times$", "", word))
    return value, f"{value:g} turn{'s' if value != 1 else ''}"


# (kind, pattern, reader) in priority order. Patterns run on lower-cased text; a reader
# returns (value, meaning) or None to drop the match.
_S = r"(?:the |your |my |his |her |their )?"
_SIDE = r"(?:[- ]hand)?(?: side| ear| shoulder| flank| channel)?"
PATTERNS: list[tuple[str, str, Callable[[re.Match], tuple]]] = [
    # words that look like places but are not
    ("ignore", r"\b(?:back and forth|to and fro|left and right|up and down|right now|right away|all right|"
               r"background|backing|backwards?|turns? (?:left|right)|left behind|left over|leftover|"
               r"high[- ]pitch(?:ed)?|high[- ]frequency|low[- ]pitch(?:ed)?|low[- ]frequency|"
               r"fast-\w+|slow-motion|back door|front door|upstairs|downstairs)\b",
     _const(None, "not a position")),
    # timing (before numbers can be read as angles)
    ("time", rf"\bbetween {APPROX}(?P<a>{NUMBER})(?: ?{SECONDS})? and (?P<b>{NUMBER}) ?{SECONDS}(?: (?:in|into) "
             rf"the clip)?", _times("span")),
    ("time", rf"\b(?:from|during) (?:second )?(?P<a>{NUMBER})(?: ?{SECONDS})? (?:to|until|till|through|-|–) "
             rf"(?:second )?(?P<b>{NUMBER}) ?{SECONDS}", _times("span")),
    ("time", rf"\b(?P<a>\d+(?:\.\d+)?) ?(?:-|–|to) ?(?P<b>\d+(?:\.\d+)?) ?{SECONDS}", _times("span")),
    ("time", rf"\b(?:during|in|over|for|within|across|at) the (?:last|final|closing) (?P<n>{NUMBER}) ?{SECONDS}",
     _times("last")),
    ("time", rf"\b(?:during|in|over|for|within|across) the (?:first|opening) (?P<n>{NUMBER}) ?{SECONDS}",
     _times("first")),
    ("time", r"\b(?:over|for|throughout|across|during|in|taking) (?:the )?(?:whole|entire|full|complete) "
             r"(?:clip|time|duration|sound|recording|ten seconds|10 seconds)\b|\bthroughout\b|\bthe whole time\b",
     _times("whole")),
    ("time", r"\b(?:for|during|in|over) the first half(?: of the clip)?\b", _times("first half")),
    ("time", r"\b(?:for|during|in|over) the (?:second|last|final) half(?: of the clip)?\b", _times("second half")),
    ("time", r"\bhalfway through(?: the clip)?\b|\bat the halfway (?:point|mark)\b", _times("halfway")),
    ("time", rf"\b(?:starting|beginning|starts|begins|start|begin|kicking off)(?: to move)?(?: at| after| from)?"
             rf"(?: the)? {APPROX}(?P<n>{NUMBER}) ?{SECONDS}(?:[- ]mark)?(?: in(?:to (?:the clip|it))?\b)?",
     _times("start")),
    ("time", rf"\b(?:after|at(?: the)?) {APPROX}(?P<n>{NUMBER}) ?{SECONDS}(?:[- ]mark)?"
             rf"(?: in(?:to (?:the clip|it))?\b)?", _times("start")),
    ("time", rf"\b{APPROX}(?P<n>{NUMBER}) ?{SECONDS} in(?:to (?:the clip|it))?\b", _times("start")),
    ("time", rf"\b(?:ending|ends|end|stopping|stops|finishing|finishes|arriving|arrives|arrive|until|till|by)"
             rf"(?: at| by| on)?(?: the)? {APPROX}(?P<n>{NUMBER}) ?{SECONDS}(?:[- ]mark)?",
     _times("end")),
    ("time", rf"\b(?:for|over|lasting|taking|in|within|during|across) {APPROX}(?:a period of )?(?P<n>{NUMBER}) ?"
             rf"{SECONDS}", _times("duration")),
    ("time", rf"\b(?:a |an )?(?P<n>{NUMBER})[- ]{SECONDS}(?:long )?(?= (?:move|movement|sweep|pass|glide|trip|"
             rf"journey|turn|pan)\b)", _times("duration")),
    # numbers for positions
    ("azimuth", rf"\b(?P<h>\d{{1,2}}|{'|'.join(_UNITS[1:13])})(?::00)? ?"
                rf"o'? ?clock(?: position| direction)?\b", _clock),
    ("azimuth", rf"(?<![\w.-]){APPROX}(?P<n>\d+(?:\.\d+)?|{_WORD_NUMBER}){DEGREES}(?: (?:off )?(?:to|toward|"
                rf"towards|on|at) {_S}| (?:off )?)left(?: of (?:centre|center|front|straight ahead|the front))?",
     _number_azimuth(1.0)),
    ("azimuth", rf"(?<![\w.-]){APPROX}(?P<n>\d+(?:\.\d+)?|{_WORD_NUMBER}){DEGREES}(?: (?:off )?(?:to|toward|"
                rf"towards|on|at) {_S}| (?:off )?)right(?: of (?:centre|center|front|straight ahead|the front))?",
     _number_azimuth(-1.0)),
    ("azimuth", rf"\b(?:an )?azimuth(?: angle)?(?: of| at| =|:| is)? ?{APPROX}(?P<n>{NUMBER}){DEGREES}?",
     _number_azimuth(1.0)),
    ("azimuth", rf"(?<![\w.]){APPROX}(?P<n>{NUMBER}){DEGREES}? (?:of )?azimuth\b", _number_azimuth(1.0)),
    ("elevation", rf"\b(?:an )?elevation(?: angle)?(?: of| at| =|:| is)? ?{APPROX}(?P<n>{NUMBER}){DEGREES}?",
     _number_elevation(1.0)),
    ("elevation", rf"(?<![\w.]){APPROX}(?P<n>{NUMBER}){DEGREES}? (?:of )?elevation\b", _number_elevation(1.0)),
    ("elevation", rf"(?<![\w.-]){APPROX}(?P<n>\d+(?:\.\d+)?|{_WORD_NUMBER}){DEGREES} (?:up(?:ward)?|above(?: the "
                  rf"horizon(?:tal)?| ear level| you)?|high|higher|upwards|elevated|raised)\b", _number_elevation(1.0)),
    ("elevation", rf"(?<![\w.-]){APPROX}(?P<n>\d+(?:\.\d+)?|{_WORD_NUMBER}){DEGREES} (?:down(?:ward)?|below(?: the "
                  rf"horizon(?:tal)?| ear level| you)?|low|lower|downwards|beneath(?: you)?)\b",
     _number_elevation(-1.0)),
    ("azimuth", rf"(?<![\w.]){APPROX}(?:at |to |from )?(?P<n>(?:minus |-|−|\+)?\d+(?:\.\d+)?){DEGREES}",
     _number_azimuth(1.0)),  # a bare angle is an azimuth in the project's convention (+ = left)
    # elevation words
    ("elevation", rf"\b(?:directly|straight|right|just|immediately) (?:above|overhead|over(?:head)?){YOU}?"
                  rf"|\bstraight up\b|\boverhead\b|\bthe zenith\b|\bover the top of (?:your|my|the) head\b"
                  rf"|\bover (?:your|my|the listener's|the) head\b|\bover the top\b|\babove{YOU}\b"
                  rf"|\bup above{YOU}\b", _el(90.0, 90.0, 90.0)),
    ("elevation", rf"\b(?:directly|straight|right|just|immediately) (?:below|beneath|under(?:neath)?){YOU}?"
                  rf"|\bstraight down\b|\bunder ?foot\b|\bunder (?:your|my) feet\b|\bthe nadir\b"
                  rf"|\b(?:below|beneath|under(?:neath)?){YOU}\b|\bbeneath\b|\bunderneath\b",
     _el(-90.0, -90.0, -90.0)),
    ("elevation", r"\b(?:slightly|a little|a bit|just|somewhat) (?:above|up|higher|raised|elevated|over)(?: (?:the "
                  r"horizon|ear level|head height|eye level))?\b", _el(15.0, *SLIGHT_RANGE)),
    ("elevation", r"\b(?:slightly|a little|a bit|just|somewhat) (?:below|down|lower|under)(?: (?:the horizon|ear "
                  r"level|head height|eye level))?\b", _el(-15.0, -SLIGHT_RANGE[1], -SLIGHT_RANGE[0])),
    ("elevation", r"\bup high\b|\bhigh up\b|(?<=, )up\b(?= ?[,.;:]| to\b|$)", _el(32.5, *UP_RANGE)),
    ("elevation", r"\bdown low\b|\blow down\b|(?<=, )down\b(?= ?[,.;:]| to\b|$)", _el(-32.5, *DOWN_RANGE)),
    ("elevation", r"\b(?:high above|up above|above|up in the air|in the air|elevated|raised|high overhead"
                  r"|above (?:the horizon|ear level|head height|eye level))\b", _el(45.0, *RAISED_RANGE, soft=True)),
    ("elevation", r"\b(?:low below|below|lowered|below (?:the horizon|ear level|head height|eye level))\b",
     _el(-45.0, -RAISED_RANGE[1], -RAISED_RANGE[0], soft=True)),
    ("elevation", r"\b(?:at|on|near) (?:the )?(?:ear|head|eye) (?:level|height)\b|\b(?:ear|head|eye) level\b"
                  r"|\b(?:at|on|near) the horizon\b|\bthe horizon\b|\blevel with (?:you|me|your (?:ears|head))\b",
     _el(0.0, 0.0, 0.0)),
    # azimuth words: diagonals first (so "front-left" is not read as "front")
    ("azimuth", rf"\b(?:the )?(?:front|forward)[- ]?left\b|\bleft[- ](?:front|forward)\b|\bahead (?:and |to |on )*"
                rf"{_S}left\b", _az(45.0, "exact")),
    ("azimuth", rf"\b(?:the )?(?:front|forward)[- ]?right\b|\bright[- ](?:front|forward)\b|\bahead (?:and |to |on )*"
                rf"{_S}right\b", _az(-45.0, "exact")),
    ("azimuth", r"\b(?:the )?(?:back|rear)[- ]?left\b|\bleft[- ](?:back|rear)\b", _az(135.0, "exact")),
    ("azimuth", r"\b(?:the )?(?:back|rear)[- ]?right\b|\bright[- ](?:back|rear)\b", _az(-135.0, "exact")),
    ("azimuth", rf"\b(?:straight|dead|directly|right|just) ahead(?: of (?:you|me|the listener))?\b|\b(?:directly|"
                rf"right|just|straight) in front(?: of (?:you|me|us|the listener|your face))?\b|\bin front(?: of "
                rf"(?:you|me|us|the listener|your face))?\b|\bahead(?: of (?:you|me|the listener))?\b"
                rf"|\b(?:the |your |my )?front\b(?![- ](?:left|right))|\bforward\b|\bfacing (?:you|me)\b"
                rf"|\bcent(?:re|er) front\b|\bstraight on\b", _az(0.0, "fb")),
    # "from left to right behind me" is a route past the back, not "right behind"
    ("azimuth", rf"(?<!to )(?<!from )(?<!and )\b(?:directly|right|just|straight) behind{YOU}?"
                rf"|\bbehind(?: (?:you|me|us|the listener|your head|your back|my back))?\b"
                rf"|\b(?:the |your |my )?(?:back|rear)\b(?![- ](?:left|right)|"
                rf" (?:and|of)\b)", _az(180.0, "fb")),
    ("azimuth", rf"\b(?:the |your |my )?left{_SIDE}\b(?![- ](?:front|back|rear|forward))", _az(90.0, "lr")),
    ("azimuth", rf"\b(?:the |your |my )?right{_SIDE}\b(?![- ](?:front|back|rear|forward))", _az(-90.0, "lr")),
    # direction of travel
    ("direction", r"\b(?:counter|anti)[- ]?clockwise\b|\bccw\b", _const("ccw", "direction ccw (azimuth increasing)")),
    ("direction", r"(?<![\w-])clockwise\b|\bcw\b", _const("cw", "direction cw (azimuth decreasing)")),
    # speed (SPEC §3 bands)
    ("speed", r"\b(?:at (?:a )?(?:high|great|full) speed|very (?:fast|quickly)|fast|quickly|quick|rapidly|rapid|"
              r"swiftly|swift|speedily|briskly|hurriedly)\b", _const("fast", "speed fast (1-3 s)")),
    ("speed", r"\bat (?:a )?(?:moderate|medium|steady|normal|walking) (?:speed|pace|rate)\b|\bmoderately\b"
              r"|\bmoderate\b", _const("moderate", "speed moderate (3.5-6.5 s)")),
    ("speed", r"\bat (?:a )?(?:slow|leisurely|gentle|low) (?:speed|pace|rate)\b|\bvery slowly\b|\bslowly\b|\bslow\b"
              r"|\bgradually\b|\bleisurely\b|\bunhurriedly\b", _const("slow", "speed slow (7-10 s)")),
    # circles and their turns
    ("turns", rf"\b(?P<t>once|twice|thrice|{NUMBER} (?:full |complete )?times|(?:a |one )?(?:full|complete)"
              rf"(?= (?:circle|turn|revolution|rotation|loop|lap|orbit))|half a|a half|a quarter(?: of a)?|"
              rf"three[- ]quarters of a)(?: (?:full |complete )?(?:circles?|turns?|revolutions?|rotations?|loops?"
              rf"|laps?|orbits?))?\b", _turns),
    ("circle", rf"\b(?:circl(?:e|es|ed|ing)|orbit(?:s|ed|ing)?|revolv(?:e|es|ed|ing)|spin(?:s|ning)?|swirl(?:s|ed"
               rf"|ing)?|go(?:es)?|going|mov(?:e|es|ing)|fl(?:y|ies|ying)|buzz(?:es|ing)?|travel(?:s|l?ing)?|walk"
               rf"(?:s|ing)?|run(?:s|ning)?|rotat(?:e|es|ing)|loop(?:s|ing)?|wheel(?:s|ing)?)(?: (?:all|right|once|"
               rf"twice))?(?P<span> a?round(?:{YOU}| in (?:a )?circles?))\b|\bcircl(?:e|es|ed|ing){YOU}\b"
               rf"|\bcircl(?:e|es|ed|ing)\b|\borbit(?:s|ed|ing)?\b|\brevolv(?:e|es|ed|ing)\b|\bfull (?:circle|turn|"
               rf"revolution|rotation|loop)\b|\bin (?:a )?circles?\b", _const(True, "a circle around the listener")),
    ("diffuse", rf"\ball a?round(?:{YOU})?\b|\beverywhere\b|\bsurround(?:s|ing)? (?:you|me)\b|\bfrom all "
                rf"(?:sides|directions)\b", _const(None, "all around (not one direction)")),
    ("rise", r"\b(?:ris(?:e|es|ing)|ascend(?:s|ing)?|climb(?:s|ing)?|go(?:es)? up|going up|lift(?:s|ing)? (?:off|up)|"
             r"soar(?:s|ing)?|upwards?|rising up)\b", _const("rise", "elevation rises")),
    ("rise", r"\b(?:descend(?:s|ing)?|sink(?:s|ing)?|go(?:es)? down|going down|"
             r"downwards?|lower(?:s|ing)|dives?|diving|comes? down|coming down)\b", _const("fall", "elevation falls")),
    # motion verbs and the builder's framing words (only taken out of the content)
    ("frame", r"\bthe sound (?:is located|is positioned|is placed|travels|moves|is)\b|\b(?:coming|heard|located|"
              r"positioned|placed|sitting|situated)(?= (?:from|at|on|in|to|behind|ahead|directly|straight|right|"
              r"just|above|below|beneath|overhead|\d))", _const(None, "framing words")),
    ("verb", r"\b(?:moving|moves|move|travell?ing|travels|sweeps|sweeping|sweep|pans|panning|pan|shifts|shifting|"
             r"slides|sliding|drifts|drifting|glides|gliding|swings|swinging|rotates|rotating|static|"
             r"stationary|stays there|stays|staying|remains|remaining|holds still)\b",
     _const(None, "motion verb")),
]

# Distance (SPEC §6, beyond Table 1): run last, so they only read words the patterns above left.
NEAR = 2.0  # metres: "close", "close by", "nearby", "next to you"
VERY_NEAR = 0.5  # metres: "very close", "at your ear"
FAR = 50.0  # metres: "far away", "in the distance", "from afar" ("far off" stays content: held-out rows say so)
_LENGTHS = {"m": 1.0, "metre": 1.0, "metres": 1.0, "meter": 1.0, "meters": 1.0, "foot": 0.3048, "feet": 0.3048,
            "ft": 0.3048}
_PACES = {"km/h": 1 / 3.6, "kmh": 1 / 3.6, "kph": 1 / 3.6, "km per hour": 1 / 3.6, "kilometres per hour": 1 / 3.6,
          "kilometers per hour": 1 / 3.6, "mph": 0.44704, "miles per hour": 0.44704, "m/s": 1.0,
          "metres per second": 1.0, "meters per second": 1.0}
_DISTANCE_ROLE = r"(?:(?P<role>from|to within|to|into|until|till|within|in) )?"


def _metres(m: re.Match) -> tuple:
    value = parse_number(m.group("n")) * _LENGTHS[m.group("unit")]
    return (value, _distance_role(m)), f"distance {value:g} m"


def _distance_role(m: re.Match) -> str | None:
    """"from" far away = where a move in distance starts; "to", "into" = where it ends."""
    role = m.group("role")
    return {"from": "start", "to": "end", "to within": "end", "into": "end", "until": "end", "till": "end",
            "within": "end"}.get(role or "")


def _named_distance(metres: float, what: str) -> Callable[[re.Match], tuple]:
    return lambda m: ((metres, _distance_role(m)), f"distance {metres:g} m ({what})")


def _pace(m: re.Match) -> tuple:
    value = parse_number(m.group("n")) * _PACES[m.group("unit")]
    return value, f"speed {value:.3g} m/s"


def _away(m: re.Match) -> tuple | None:
    # "away" after a verb of motion ("drives away", "moves away") recedes; elsewhere it is content
    before = m.string[:m.start()]
    if not re.search(r"\b(?:mov|driv|walk|fl[iy]|head|run|wander|drift|roll|rid|travel|go|went|get|speed|zoom|"
                     r"stroll|sail|swim|crawl|hurr)\w*\s+$", before):
        return None
    return ("recede", False), "distance grows (recedes)"


PATTERNS += [
    ("pace", rf"\b(?:at |doing |going )?{APPROX}(?P<n>{NUMBER}) ?(?P<unit>km/h|kmh|kph|km per hour|kilometres per hour|"
             rf"kilometers per hour|mph|miles per hour|m/s|metres per second|meters per second)(?![\w/])", _pace),
    ("distance", rf"\b{_DISTANCE_ROLE}(?:(?:a |an )?(?:height|altitude|distance) of )?{APPROX}(?P<n>{NUMBER}) ?"
                 rf"(?P<unit>m|metres|metre|meters|meter|feet|foot|ft)\b(?: (?:away|off|out|up|high|above|overhead|"
                 rf"distant)(?: from (?:you|me|the listener))?)?", _metres),
    ("distance", rf"\b{_DISTANCE_ROLE}(?:the distance\b|afar\b|(?:very |really )?far away"
                 rf"(?: from (?:you|me|the listener))?\b|a long way (?:away|off)\b)", _named_distance(FAR, "far")),
    ("distance", rf"\b{_DISTANCE_ROLE}(?:very close(?: to (?:you|me|your (?:ear|head)|the listener))?|right next to "
                 rf"(?:you|me|your ear)|(?:at|in|by) your ear)\b", _named_distance(VERY_NEAR, "very close")),
    ("distance", rf"\b{_DISTANCE_ROLE}(?:(?:quite |really )?close(?: by| to (?:you|me|the listener))?|nearby|near "
                 rf"(?:you|me|the listener)|up close|next to (?:you|me)|beside (?:you|me))\b(?!-)",
     _named_distance(NEAR, "near")),
    ("approach", r"\bapproach(?:es|ing|ed)?\b", _const(("approach", True), "distance shrinks (approaches)")),
    ("approach", r"\b(?:closer|nearer)\b|\btowards? (?:you|me|the listener)\b|\bclos(?:es|ing) in\b",
     _const(("approach", False), "distance shrinks (approaches)")),
    ("approach", r"\breced(?:e|es|ed|ing)\b|\bretreat(?:s|ed|ing)?\b", _const(("recede", True),
                                                                           "distance grows (recedes)")),
    ("approach", r"\b(?:farther|further) away\b|\baway from (?:you|me|the listener)\b",
     _const(("recede", False), "distance grows (recedes)")),
    ("approach", r"\baway\b", _away),
    # a pass on a straight line ("passes", "flies over", "drives past") once a distance or a speed is given
    ("pass", r"\boverfl(?:y|ies|ying|ew)\b|\b(?:fl(?:y|ies|ying|ew)|pass(?:es|ing|ed)?|go(?:es)?|going|went|"
             r"zoom(?:s|ing)?|whizz?(?:es|ing)?|rush(?:es|ing)?|speed(?:s|ing)?|rac(?:e|es|ing)|roar(?:s|ing)?) over\b",
     _const("over", "a pass over the head")),
    ("pass", r"\bpass(?:es|ing|ed)?\b|\b(?:fl(?:y|ies|ying|ew)|driv(?:e|es|ing)|drove|zoom(?:s|ing)?|whizz?(?:es|ing)?|"
             r"rush(?:es|ing)?|speed(?:s|ing)?|rac(?:e|es|ing)|roar(?:s|ing)?|go(?:es)?|going|went|walk(?:s|ing)?|"
             r"run(?:s|ning)?|rid(?:e|es|ing)|cycl(?:e|es|ing)) (?:past|by)\b", _const("by", "a pass by")),
]

COMPILED = [(kind, re.compile(pattern), reader) for kind, pattern, reader in PATTERNS]


def normalise(text: str) -> str:
    """Lower-case with typographic quotes and dashes made plain, the same length as ``text``."""
    out = []
    for ch in text:
        low = ch.lower()
        if len(low) != 1:
            low = ch
        out.append({"’": "'", "‘": "'", "–": "-", "—": "-", "‐": "-", "−": "-"}.get(low, low))
    return "".join(out)


def find_mentions(text: str) -> list[Mention]:
    """Every vocabulary phrase in ``text`` (already :func:`normalise`\\ d), in text order."""
    taken = bytearray(len(text))
    found = []
    for kind, pattern, reader in COMPILED:
        for match in pattern.finditer(text):
            # a pattern may need words around it that are not its phrase ("buzzes around you")
            start, end = match.span("span") if "span" in match.groupdict() and match.group("span") else match.span()
            if end == start or any(taken[start:end]):
                continue
            read = reader(match)
            if read is None:
                continue
            value, meaning = read
            taken[start:end] = b"\x01" * (end - start)
            found.append(Mention(kind, start, end, value, meaning))
    found.sort(key=lambda m: m.start)
    return found
