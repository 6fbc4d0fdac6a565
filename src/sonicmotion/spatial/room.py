"""A shoebox room: its geometry, image sources and the statistics of its late reverberation.

Axes are the listener's (SPEC §6): the room's x runs front, y left, z up, and positions in
the room are metres from its corner (0, 0, 0). A path's positions stay relative to the
listener; the room places the listener (by default in the middle of the floor plan, 1.5 m
up). The image-source geometry (Allen & Berkley's mirror images of a box) is written here;
rendering the images, each moving with its source, is :mod:`sonicmotion.spatial.propagation`.
Walls are one broadband absorption, or per-surface materials with octave-band absorption
(:mod:`sonicmotion.spatial.walls`): then each image has the filter of the walls it hit and
the late tail decays with Eyring's RT60 per band.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial.walls import BANDS_HZ, SURFACES, band_masks, check_materials, coefficients

SABINE = 0.161  # s/m: 24 ln(10) / c at c = 343 m/s
DEFAULT_ABSORPTION = 0.3  # mean absorption coefficient when neither rt60 nor absorption is given
MAX_ORDER = 6  # image sources up to this reflection order (order 6 is 377 images)
_TAIL_SEED = 20_260_606  # the late tail's noise: fixed, so renders are deterministic
_DB60 = 3.0 * math.log(10.0)  # an amplitude envelope exp(-_DB60 t / RT60) falls 60 dB in RT60


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SonicMotionError(f"room {what} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Room:
    """A shoebox of ``dimensions`` (x, y, z) metres with the listener at ``listener`` (metres
    from the corner; None = middle of the floor plan, 1.5 m up or half the height if lower).
    Give ``rt60`` (seconds; the mean absorption follows by Eyring's formula) or the mean
    ``absorption`` coefficient (0-1; the RT60 follows), or neither (absorption 0.3).
    ``order``: highest reflection order rendered as image sources; ``tail``: add the diffuse
    late reverberation. ``materials``: ``{surface: material}`` (:mod:`sonicmotion.spatial.walls`;
    a material name or six octave-band absorption coefficients), frequency-dependent walls;
    surfaces it leaves out have the flat ``absorption`` (default 0.3); not with ``rt60``, which
    then follows from the materials per band."""

    dimensions: tuple[float, float, float]
    listener: tuple[float, float, float] | None = None
    rt60: float | None = None
    absorption: float | None = None
    order: int = 1
    tail: bool = True
    materials: Any = None  # checked into ((surface, material), ...) in SURFACES order

    def __post_init__(self) -> None:
        dims = tuple(_number(v, "dimension") for v in self.dimensions) if isinstance(
            self.dimensions, (list, tuple)) else ()
        if len(dims) != 3 or not all(0.5 <= d <= 1000.0 for d in dims):
            raise SonicMotionError(f"room dimensions must be three lengths in [0.5, 1000] m (x front, y left, "
                                   f"z up), got {self.dimensions!r}")
        object.__setattr__(self, "dimensions", dims)
        if self.listener is None:
            listener = (dims[0] / 2, dims[1] / 2, min(1.5, dims[2] / 2))
        else:
            listener = tuple(_number(v, "listener position") for v in self.listener) if isinstance(
                self.listener, (list, tuple)) else ()
            if len(listener) != 3 or not all(0.0 < p < d for p, d in zip(listener, dims)):
                raise SonicMotionError(f"room listener must be a position (x, y, z) in metres inside the "
                                       f"{'x'.join(f'{d:g}' for d in dims)} m room, got {self.listener!r}")
        object.__setattr__(self, "listener", listener)
        if self.rt60 is not None and self.absorption is not None:
            raise SonicMotionError("give a room's rt60 or its absorption, not both")
        if self.materials is not None:
            if self.rt60 is not None:
                raise SonicMotionError("give a room's rt60 or its materials, not both (the RT60 per band follows "
                                       "from the materials; absorption sets the surfaces they leave out)")
            given = dict(self.materials) if isinstance(self.materials, tuple) else self.materials
            object.__setattr__(self, "materials", check_materials(given))
        if self.rt60 is not None and not 0.05 <= _number(self.rt60, "rt60") <= 20.0:
            raise SonicMotionError(f"room rt60 must lie in [0.05, 20] seconds, got {self.rt60!r}")
        if self.absorption is not None and not 0.0 < _number(self.absorption, "absorption") <= 1.0:
            raise SonicMotionError(f"room absorption must lie in (0, 1], got {self.absorption!r}")
        if isinstance(self.order, bool) or not isinstance(self.order, int) or not 0 <= self.order <= MAX_ORDER:
            raise SonicMotionError(f"room order must be a whole number in [0, {MAX_ORDER}], got {self.order!r}")
        if not isinstance(self.tail, bool):
            raise SonicMotionError(f"room tail must be true or false, got {self.tail!r}")
        if self.materials is not None:
            slowest = int(np.argmax(self.band_reverberation_times))
            if self.band_reverberation_times[slowest] > 20.0:
                raise SonicMotionError(f"room materials give an RT60 of {self.band_reverberation_times[slowest]:.3g} s "
                                       f"at {BANDS_HZ[slowest]:g} Hz; at most 20 s (use more absorbing materials)")

    # -- statistics ----------------------------------------------------------------
    @property
    def volume(self) -> float:
        x, y, z = self.dimensions
        return x * y * z

    @property
    def surface(self) -> float:
        x, y, z = self.dimensions
        return 2.0 * (x * y + x * z + y * z)

    @property
    def surface_areas(self) -> np.ndarray:
        """Areas (6,) m² of the surfaces in SURFACES order."""
        x, y, z = self.dimensions
        return np.array([y * z, y * z, x * z, x * z, x * y, x * y])

    @property
    def surface_absorption(self) -> np.ndarray:
        """Absorption coefficients (6 surfaces in SURFACES order, 6 bands) float64; surfaces
        without a material (or every surface, without materials) have the mean absorption."""
        if self.materials is None:
            return np.full((len(SURFACES), len(BANDS_HZ)), self.mean_absorption)
        named = dict(self.materials)
        flat = DEFAULT_ABSORPTION if self.absorption is None else float(self.absorption)
        return np.stack([coefficients(named[s]) if s in named else np.full(len(BANDS_HZ), flat) for s in SURFACES])

    @property
    def band_absorption(self) -> np.ndarray:
        """Area-weighted mean absorption per octave band (6,)."""
        areas = self.surface_areas
        return areas @ self.surface_absorption / areas.sum()

    @property
    def band_reverberation_times(self) -> np.ndarray:
        """Eyring's RT60 per octave band (6,) seconds (0 where a band is absorbed whole)."""
        alpha = self.band_absorption
        with np.errstate(divide="ignore"):
            times = SABINE * self.volume / (-self.surface * np.log1p(-np.minimum(alpha, 1.0)))
        return np.where(alpha >= 1.0, 0.0, times)

    @property
    def mean_absorption(self) -> float:
        """The walls' mean absorption coefficient (from ``rt60`` by Eyring's formula; with
        materials, the mean of their 500 Hz and 1 kHz bands)."""
        if self.materials is not None:
            return float(np.mean(self.band_absorption[2:4]))
        if self.absorption is not None:
            return float(self.absorption)
        if self.rt60 is None:
            return DEFAULT_ABSORPTION
        return 1.0 - math.exp(-SABINE * self.volume / (self.surface * self.rt60))

    @property
    def reverberation_time(self) -> float:
        """RT60 in seconds (the given one, or Eyring's from the absorption; 0 if anechoic)."""
        if self.rt60 is not None:
            return float(self.rt60)
        alpha = self.mean_absorption
        return 0.0 if alpha >= 1.0 else SABINE * self.volume / (-self.surface * math.log(1.0 - alpha))

    @property
    def reflection(self) -> float:
        """Pressure factor of one wall bounce, sqrt(1 - absorption)."""
        return math.sqrt(1.0 - self.mean_absorption)

    def wall_hits(self, signs: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Bounces (6,) int off each surface (SURFACES order) of the image ``signs * source + offsets``."""
        hits = []
        for sign, offset, length in zip(signs, offsets, self.dimensions):
            q = int(round(offset / (2.0 * length)))
            # 2qL + s bounces |q| times off each wall of the axis; 2qL - s |q| times off the
            # far wall (x = L) and |2q - 1| - |q| times off the near one (x = 0).
            low = abs(q) if sign > 0 else abs(2 * q - 1) - abs(q)
            hits += [low, abs(q)]
        return np.array(hits)

    def reflection_bands(self, signs: np.ndarray, offsets: np.ndarray) -> tuple[float, ...]:
        """Pressure factor per octave band (6,) of the image ``signs * source + offsets``: the
        product over the walls it hit of sqrt(1 - absorption), once per bounce."""
        factors = np.sqrt(1.0 - self.surface_absorption) ** self.wall_hits(signs, offsets)[:, None]
        return tuple(float(v) for v in np.prod(factors, axis=0))

    # -- image sources -------------------------------------------------------------
    def image_sources(self) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """Mirror images up to ``order`` bounces, the direct sound first: ``(signs, offsets,
        bounces)`` with image position = signs * source + offsets (room coordinates, metres)."""
        images = []
        axes = []
        for length in self.dimensions:
            # Along one axis the images sit at 2 q L + s (|2q| bounces) and 2 q L - s (|2q - 1|).
            axis = []
            for q in range(-self.order, self.order + 1):
                axis.append((1.0, 2.0 * q * length, abs(2 * q)))
                axis.append((-1.0, 2.0 * q * length, abs(2 * q - 1)))
            axes.append([a for a in axis if a[2] <= self.order])
        for (sx, ox, bx), (sy, oy, by), (sz, oz, bz) in itertools.product(*axes):
            bounces = bx + by + bz
            if bounces <= self.order:
                images.append((np.array([sx, sy, sz]), np.array([ox, oy, oz]), bounces))
        images.sort(key=lambda image: image[2])
        return images

    def late_tail(self, sample_rate: int) -> np.ndarray:
        """The diffuse late reverberation's impulse response (4, m) float32, FuMa WXYZ, time 0
        = the direct sound's arrival: independent noise per channel with the diffuse-field
        balance (W = p/sqrt 2, each of X, Y, Z a third of the pressure energy), an envelope
        that falls 60 dB in RT60, and the statistical reverberant energy 16 pi (1 - a) / (S a)
        relative to the direct sound at 1 m, faded in over the first reflections. With
        materials, the noise is split into octave bands (:func:`walls.band_masks`), each with
        its own Eyring RT60 and reverberant energy. Kept for the last few rooms (read-only):
        every source of a scene shares it."""
        return _cached_tail(self, sample_rate)

    def _broadband_tail(self, sample_rate: int) -> np.ndarray:
        """:meth:`late_tail` of a room without materials."""
        rt60 = self.reverberation_time
        alpha = self.mean_absorption
        if rt60 <= 0.0 or alpha >= 1.0:
            return np.zeros((4, 0), dtype=np.float32)
        energy = 16.0 * math.pi * (1.0 - alpha) / (self.surface * alpha)
        length = int(math.ceil(rt60 * 80.0 / 60.0 * sample_rate))  # down to -80 dB
        t = np.arange(length) / sample_rate
        amplitude = math.sqrt(energy * 2.0 * _DB60 / (rt60 * sample_rate))
        envelope = amplitude * np.exp(-_DB60 * t / rt60)
        # Faded in over the mean free path times of the orders the image sources render.
        fade = (self.order + 1) * 4.0 * self.volume / (self.surface * 343.0)
        envelope *= np.where(t < fade, 0.5 - 0.5 * np.cos(np.pi * np.minimum(t / fade, 1.0)), 1.0)
        noise = np.random.default_rng(_TAIL_SEED).standard_normal((4, length))
        balance = np.array([1.0 / math.sqrt(2.0), 1.0 / math.sqrt(3.0), 1.0 / math.sqrt(3.0), 1.0 / math.sqrt(3.0)])
        return (noise * balance[:, None] * envelope).astype(np.float32)

    def _banded_tail(self, sample_rate: int) -> np.ndarray:
        """:meth:`late_tail` of a room with materials: the same noise and channel balance, its
        octave bands each decaying with the band's RT60 from the band's reverberant energy."""
        times = self.band_reverberation_times
        alphas = self.band_absorption
        if not np.any(times > 0.0):
            return np.zeros((4, 0), dtype=np.float32)
        length = int(math.ceil(float(times.max()) * 80.0 / 60.0 * sample_rate))  # down to -80 dB
        t = np.arange(length) / sample_rate
        fade = (self.order + 1) * 4.0 * self.volume / (self.surface * 343.0)
        fade_in = np.where(t < fade, 0.5 - 0.5 * np.cos(np.pi * np.minimum(t / fade, 1.0)), 1.0)
        noise = np.random.default_rng(_TAIL_SEED).standard_normal((4, length))
        balance = np.array([1.0 / math.sqrt(2.0), 1.0 / math.sqrt(3.0), 1.0 / math.sqrt(3.0), 1.0 / math.sqrt(3.0)])
        from scipy.fft import next_fast_len

        size = next_fast_len(length, real=True)  # the noise's length can be a large prime's multiple
        spectrum = np.fft.rfft(noise * balance[:, None], size, axis=1)
        masks = band_masks(np.fft.rfftfreq(size, 1.0 / sample_rate))
        tail = np.zeros((4, length))
        for rt60, alpha, mask in zip(times, alphas, masks):
            if rt60 <= 0.0:
                continue
            energy = 16.0 * math.pi * (1.0 - alpha) / (self.surface * alpha)
            amplitude = math.sqrt(energy * 2.0 * _DB60 / (rt60 * sample_rate))
            band = np.fft.irfft(spectrum * mask, size, axis=1)[:, :length]
            tail += band * (amplitude * np.exp(-_DB60 * t / rt60) * fade_in)
        return tail.astype(np.float32)

    # -- (de)serialisation ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"dimensions": list(self.dimensions), "listener": list(self.listener)}
        if self.rt60 is not None:
            data["rt60"] = self.rt60
        if self.absorption is not None:
            data["absorption"] = self.absorption
        data.update(order=self.order, tail=self.tail)
        if self.materials is not None:
            data["materials"] = {s: m if isinstance(m, str) else list(m) for s, m in self.materials}
        return data

    @classmethod
    def from_dict(cls, data: Any) -> "Room":
        if not isinstance(data, dict):
            raise SonicMotionError(f"a room must be a mapping with dimensions, got {data!r}")
        unknown = sorted(set(data) - {"dimensions", "listener", "rt60", "absorption", "order", "tail", "materials"})
        if unknown:
            raise SonicMotionError(f"room: unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                                   "(allowed: absorption, dimensions, listener, materials, order, rt60, tail)")
        if "dimensions" not in data:
            raise SonicMotionError("room: missing dimensions, e.g. [8, 6, 3] (metres, x front, y left, z up)")
        dims = data["dimensions"]
        if isinstance(dims, str):
            dims = parse_dimensions(dims)
        return cls(tuple(dims) if isinstance(dims, list) else dims,
                   tuple(data["listener"]) if isinstance(data.get("listener"), list) else data.get("listener"),
                   data.get("rt60"), data.get("absorption"), data.get("order", 1), data.get("tail", True),
                   data.get("materials"))


@lru_cache(maxsize=4)
def _cached_tail(room: Room, sample_rate: int) -> np.ndarray:
    tail = room._banded_tail(sample_rate) if room.materials is not None else room._broadband_tail(sample_rate)
    tail.flags.writeable = False
    return tail


def parse_dimensions(text: str) -> tuple[float, float, float]:
    """``"8x6x3"`` -> (8.0, 6.0, 3.0) metres."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise SonicMotionError(f"room dimensions must read XxYxZ in metres, e.g. 8x6x3, got {text!r}")
    return values  # type: ignore[return-value]


def parse_position(text: str, what: str) -> tuple[float, float, float]:
    """``"4,3,1.5"`` -> (4.0, 3.0, 1.5) metres."""
    try:
        values = tuple(float(p) for p in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise SonicMotionError(f"{what} must read x,y,z in metres, e.g. 4,3,1.5, got {text!r}")
    return values  # type: ignore[return-value]
