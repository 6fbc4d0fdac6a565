"""Spatial captions from Table 1's words: a deterministic template captioner.

The template captioner always works and never needs a model: it appends where the
sound is (and how it moves) to the original caption, picking one of several phrasings
with the sample's seed. :func:`required_phrases` lists the Table 1 words a spatial
caption must keep; the LLM rephraser (:mod:`sonicmotion.data.rephrase`) rejects answers
that drop any of them.
"""

from __future__ import annotations

import re

import numpy as np

from sonicmotion.data.sampling import DistanceParameters, SpatialParameters
from sonicmotion.spatial.regions import azimuth_region, elevation_word
from sonicmotion.spatial.trajectory import wrap_azimuth

SPEED_PHRASES = {"fast": "fast", "moderate": "at a moderate speed", "slow": "slowly"}
DIRECTION_WORDS = {"cw": "clockwise", "ccw": "counter-clockwise"}


def _sentence(caption: str) -> str:
    """The caption as a sentence body: stripped, first letter upper-case, no final stop."""
    text = " ".join(caption.split()).rstrip(" .!")
    return text[:1].upper() + text[1:]


def _lower_first(text: str) -> str:
    # Keep acronyms ("TV is on") as written; a one-letter word ("A dog") is not one.
    first = text.split(maxsplit=1)[0] if text.strip() else ""
    return text if len(first) >= 2 and first.isupper() else text[:1].lower() + text[1:]


def _place(azimuth: float, elevation: float) -> str:
    """E.g. ``"the front-left"``, ``"the back, up high"``."""
    word = elevation_word(elevation)
    height = {"up": ", up high", "down": ", down low"}.get(word or "", "")
    return f"the {azimuth_region(azimuth)}{height}"


def template_caption(caption: str, params: SpatialParameters, seed: int) -> str:
    """The original ``caption`` plus the sample's position and motion in Table 1's words."""
    # Its own stream of the sample's seed, so the phrasing is independent of the position.
    rng = np.random.default_rng((seed, 2))
    body = _sentence(caption)
    if isinstance(params, DistanceParameters):
        return _distance_caption(body, params, rng)
    start = _place(params.start_azimuth, params.start_elevation)
    if params.motion == "static":
        phrasings = (
            f"{body}, coming from {start}.",
            f"{body}. The sound is located at {start}.",
            f"From {start}: {_lower_first(body)}.",
            f"{body}, heard at {start}.",
        )
        return phrasings[int(rng.integers(len(phrasings)))]
    end = _place(params.end_azimuth, params.end_elevation)
    speed = SPEED_PHRASES[params.speed]
    if params.moving_parts == "elevation":
        verb = "rising" if params.end_elevation > params.start_elevation else "descending"
        region = azimuth_region(params.start_azimuth)
        heights = ""
        if start != end:  # name the heights only when Table 1 has words for them
            heights = f" from {start.split(', ', 1)[-1] if ', ' in start else 'the horizon'}" \
                      f" to {end.split(', ', 1)[-1] if ', ' in end else 'the horizon'}"
        phrasings = (
            f"{body}, {verb} {speed} at the {region}{heights}.",
            f"{body}. The sound is at the {region}, {verb} {speed}{heights}.",
            f"At the {region}, {_lower_first(body)}, {verb} {speed}{heights}.",
        )
        return phrasings[int(rng.integers(len(phrasings)))]
    turn = DIRECTION_WORDS[params.direction]
    phrasings = (
        f"{body}, moving {speed} {turn} from {start} to {end}.",
        f"{body}. The sound travels {speed} {turn} from {start} to {end}.",
        f"{body}, circling {turn} {speed} from {start} to {end}.",
        f"From {start} to {end}, {turn} and {speed}: {_lower_first(body)}.",
    )
    return phrasings[int(rng.integers(len(phrasings)))]


def _metres(value: float, rng: np.random.Generator) -> str:
    return f"{value:g} {'m' if rng.integers(2) else 'metre' if value == 1 else 'metres'}"


def _pass_route(params: DistanceParameters) -> tuple[str, str, str]:
    """(closest region, region it comes from, region it goes to) of a pass: it comes from 90°
    before its closest direction and goes to 90° after, in its direction of travel."""
    closest_azimuth = float(params.trajectory().positions(params.closest_time)[0])
    turn = 90.0 if params.direction == "ccw" else -90.0
    return (azimuth_region(closest_azimuth), azimuth_region(wrap_azimuth(closest_azimuth - turn)),
            azimuth_region(wrap_azimuth(closest_azimuth + turn)))


def _distance_caption(body: str, params: DistanceParameters, rng: np.random.Generator) -> str:
    """A distance sample's caption in the words ``describe_to_motion`` reads back (docs/dataset.md)."""
    if params.motion == "pass":
        closest, came, went = _pass_route(params)
        metres = _metres(params.closest_distance, rng)
        speed = (f"{params.source_speed * 3.6:.0f} km/h" if rng.integers(2) else f"{params.source_speed:.1f} m/s")
        phrasings = (
            f"{body}, passing {metres} away at the {closest}, from the {came} to the {went}, at {speed}.",
            f"{body}. The sound passes from the {came} to the {went} via the {closest}, {metres} away at its "
            f"closest, at {speed}.",
            f"{body}, passing by the {closest} at {metres}, from the {came} to the {went}, at {speed}.",
        )
        return phrasings[int(rng.integers(len(phrasings)))]
    place = _place(params.start_azimuth, params.start_elevation)
    near, far = _metres(params.start_distance, rng), _metres(params.end_distance, rng)
    window = f"between {params.move_start:.1f} and {params.move_end:.1f} seconds"
    verb = "approaching" if params.motion == "approach" else "receding"
    moves = "comes closer" if params.motion == "approach" else "moves away"
    phrasings = (
        f"{body}, {verb} from {near} to {far} at {place}.",
        f"{body}. The sound {moves} at {place}, from {near} to {far}, {window}.",
        f"At {place}, {_lower_first(body)}, {verb} from {near} to {far}.",
        f"{body}, {verb} from {near} to {far} at {place}, {window}.",
    )
    return phrasings[int(rng.integers(len(phrasings)))]


def _pattern(word: str) -> str:
    """A regex for a Table 1 word that does not match inside a longer one (``front`` in ``front-left``)."""
    if word == "clockwise":
        return r"(?<![\w-])clockwise"
    if word == "counter-clockwise":
        return r"(?:counter|anti)[- ]?clockwise"
    if word == "slow":
        return r"\bslow(?:ly)?\b"
    if word in ("up", "down", "fast", "moderate"):
        return rf"\b{word}"
    if "-" in word:  # front-left, back-right, ...
        first, second = word.split("-")
        return rf"(?<![\w-]){first}[- ]{second}(?![\w-])"
    if word in ("left", "right"):
        return rf"(?<![\w-])(?<!front )(?<!back ){word}(?![\w-])"
    return rf"(?<![\w-]){word}(?![\w-])(?! left)(?! right)"  # front, back


def required_phrases(params: SpatialParameters) -> list[str]:
    """Table 1 words a spatial caption of ``params`` must contain."""
    if isinstance(params, DistanceParameters):
        if params.motion == "pass":
            return list(dict.fromkeys(_pass_route(params)))
        return [azimuth_region(params.start_azimuth)] + [w for w in [elevation_word(params.start_elevation)] if w]
    words = [azimuth_region(params.start_azimuth)]
    heights = [elevation_word(params.start_elevation)]
    if params.motion == "moving":
        words.append(azimuth_region(params.end_azimuth))
        heights.append(elevation_word(params.end_elevation))
        words.append(params.speed)
        if params.direction is not None:
            words.append(DIRECTION_WORDS[params.direction])
    words += [h for h in heights if h]
    return list(dict.fromkeys(words))


def missing_phrases(text: str, params: SpatialParameters) -> list[str]:
    """The required Table 1 words that ``text`` lacks (case-insensitive)."""
    lowered = text.lower()
    return [w for w in required_phrases(params) if not re.search(_pattern(w), lowered)]
