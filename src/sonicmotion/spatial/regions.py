"""Words for directions and speeds (paper Table 1, SPEC §3)."""

from __future__ import annotations

AZIMUTH_REGIONS = ("front", "front-left", "left", "back-left", "back", "back-right", "right", "front-right")
UP_THRESHOLD = 30.0  # degrees; above is "up"
DOWN_THRESHOLD = -30.0  # degrees; below is "down"
SPEEDS = {"fast": (1.0, 3.0), "moderate": (3.5, 6.5), "slow": (7.0, 10.0)}  # movement seconds


def speed_word(move_seconds: float) -> str:
    """Table 1's speed word for a movement lasting ``move_seconds``: the band holding it, or
    the nearest band for durations between or beyond the bands."""
    def distance(band: tuple[float, float]) -> float:
        return max(band[0] - move_seconds, move_seconds - band[1], 0.0)

    return min(SPEEDS, key=lambda word: distance(SPEEDS[word]))


def speed_seconds(word: str) -> float:
    """The middle of a speed word's band (seconds): the duration a movement told only its speed lasts."""
    low, high = SPEEDS[word]
    return (low + high) / 2


def azimuth_region(azimuth: float) -> str:
    """Table 1's word for an azimuth in degrees: 45° sectors centred on 0, ±45, ±90, ±135, 180."""
    sector = int(((azimuth + 22.5) % 360.0) // 45.0)
    return AZIMUTH_REGIONS[sector]


def elevation_word(elevation: float) -> str | None:
    """``"up"`` above 30°, ``"down"`` below -30°, otherwise None (the horizon)."""
    if elevation > UP_THRESHOLD:
        return "up"
    if elevation < DOWN_THRESHOLD:
        return "down"
    return None


def describe_direction(azimuth: float, elevation: float) -> str:
    """E.g. ``"front-left"``, ``"back, up"``."""
    word = elevation_word(elevation)
    return azimuth_region(azimuth) + (f", {word}" if word else "")
