"""Frequency-dependent walls of a shoebox room: named materials with octave-band absorption
coefficients, the six surfaces, a reflection's wall filter and the octave bands of the late tail.

Bands are the octaves centred on 125 Hz ... 4 kHz; between centres a response is linear in
dB over log frequency, and held beyond the outer two. Surfaces are named in the listener's
frame (room x front, y left, z up): ``back`` (x = 0), ``front`` (x = X), ``right`` (y = 0),
``left`` (y = Y), ``floor`` (z = 0), ``ceiling`` (z = Z); ``walls`` names the four walls at once.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from sonicmotion.errors import SonicMotionError

BANDS_HZ = (125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0)  # octave-band centres
SURFACES = ("back", "front", "right", "left", "floor", "ceiling")  # x = 0, x = X, y = 0, y = Y, z = 0, z = Z
WALLS = ("back", "front", "right", "left")  # what ``walls`` stands for
_FLOOR_DB = -120.0  # a band that reflects nothing is held here (keeps the FIR finite)
_CROSSOVER_OCTAVES = 0.5  # width of the tail's band crossovers, centred between two band centres

# Absorption coefficients at 125, 250, 500, 1000, 2000, 4000 Hz: typical published values
# (docs/spatial.md names the tables). A real product can differ; give explicit coefficients then.
MATERIALS: dict[str, tuple[float, ...]] = {
    "concrete": (0.01, 0.01, 0.015, 0.02, 0.02, 0.02),  # poured, sealed or painted; terrazzo
    "brick": (0.03, 0.03, 0.03, 0.04, 0.05, 0.07),  # unglazed
    "brick_painted": (0.01, 0.01, 0.02, 0.02, 0.02, 0.03),
    "concrete_block_painted": (0.10, 0.05, 0.06, 0.07, 0.09, 0.08),
    "plaster": (0.013, 0.015, 0.02, 0.03, 0.04, 0.05),  # gypsum or lime, smooth, on brick or tile
    "plasterboard": (0.29, 0.10, 0.05, 0.04, 0.07, 0.09),  # 12.5 mm gypsum board on studs
    "plywood_panel": (0.28, 0.22, 0.17, 0.09, 0.10, 0.11),  # 10 mm panelling
    "glass_window": (0.35, 0.25, 0.18, 0.12, 0.07, 0.04),  # ordinary window glass
    "glass_plate": (0.18, 0.06, 0.04, 0.03, 0.02, 0.02),  # large panes of heavy plate glass
    "wood_floor": (0.15, 0.11, 0.10, 0.07, 0.06, 0.07),  # boards on joists
    "linoleum": (0.02, 0.03, 0.03, 0.03, 0.03, 0.02),  # or vinyl tile, on concrete
    "carpet_on_concrete": (0.02, 0.06, 0.14, 0.37, 0.60, 0.65),  # heavy carpet
    "carpet_on_underlay": (0.08, 0.24, 0.57, 0.69, 0.71, 0.73),  # heavy carpet on felt or foam
    "curtain_heavy": (0.14, 0.35, 0.55, 0.72, 0.70, 0.65),  # heavy velour draped to half its area
    "acoustic_tile": (0.15, 0.40, 0.70, 0.80, 0.80, 0.80),  # wood-fibre ceiling tile
    "glass_fibre_50mm": (0.20, 0.45, 0.70, 0.80, 0.80, 0.80),  # 80 kg/m3 mat, 50 mm
}

Material = str | tuple[float, ...]  # a name in MATERIALS or six band coefficients


def _coefficients(value: Any, surface: str) -> Material:
    """One surface's material, checked: a known name, or six numbers in [0, 1]."""
    if isinstance(value, str):
        if value not in MATERIALS:
            raise SonicMotionError(f"room materials: unknown material {value!r} for {surface} (known: "
                                   f"{', '.join(sorted(MATERIALS))}; or six absorption coefficients "
                                   f"at {', '.join(f'{b:g}' for b in BANDS_HZ)} Hz)")
        return value
    numbers = tuple(value) if isinstance(value, (list, tuple)) else ()
    if len(numbers) != len(BANDS_HZ) or not all(
            not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and 0.0 <= v <= 1.0
            for v in numbers):
        raise SonicMotionError(f"room materials: {surface} must be a material name or six absorption "
                               f"coefficients in [0, 1] at {', '.join(f'{b:g}' for b in BANDS_HZ)} Hz, "
                               f"got {value!r}")
    return tuple(float(v) for v in numbers)


def check_materials(materials: Any) -> tuple[tuple[str, Material], ...]:
    """A ``{surface: material}`` mapping (``walls`` for the four walls; a surface named on its
    own wins over ``walls``) as ((surface, material), ...) in SURFACES order, checked."""
    if not isinstance(materials, dict) or not materials:
        raise SonicMotionError(f"room materials must map surfaces ({', '.join(SURFACES)} or walls) to a "
                               f"material name or six absorption coefficients, got {materials!r}")
    unknown = sorted(str(k) for k in set(materials) - set(SURFACES) - {"walls"})
    if unknown:
        raise SonicMotionError(f"room materials: unknown surface{'s' if len(unknown) > 1 else ''} "
                               f"{', '.join(unknown)} (surfaces: {', '.join(SURFACES)}, or walls for the four walls)")
    chosen: dict[str, Material] = {}
    if "walls" in materials:
        chosen.update({wall: _coefficients(materials["walls"], "walls") for wall in WALLS})
    chosen.update({s: _coefficients(materials[s], s) for s in SURFACES if s in materials})
    return tuple((s, chosen[s]) for s in SURFACES if s in chosen)


def coefficients(material: Material) -> np.ndarray:
    """Band absorption coefficients (6,) float64 of a checked material."""
    return np.array(MATERIALS[material] if isinstance(material, str) else material, dtype=np.float64)


def parse_materials(text: str) -> dict[str, Any]:
    """``"floor=carpet_on_concrete, walls=plaster, ceiling=0.15 0.4 0.7 0.8 0.8 0.8"`` -> a
    ``{surface: material}`` mapping (names, or six coefficients separated by spaces)."""
    result: dict[str, Any] = {}
    for part in text.split(","):
        surface, equals, value = part.partition("=")
        surface, value = surface.strip(), value.strip()
        if not equals or not surface or not value:
            raise SonicMotionError(f"--materials must read surface=material, ... e.g. 'floor=carpet_on_concrete, "
                                   f"walls=plaster', got {text!r}")
        words = value.split()
        try:
            result[surface] = [float(w) for w in words] if len(words) > 1 else value
        except ValueError:
            result[surface] = value
    return result


def band_response(band_gains: np.ndarray, frequencies: np.ndarray) -> np.ndarray:
    """Magnitudes at ``frequencies`` Hz of a response that is ``band_gains`` (6,) at the band
    centres, linear in dB over log frequency between them and held beyond them."""
    gains_db = 20.0 * np.log10(np.maximum(np.asarray(band_gains, dtype=np.float64), 10.0 ** (_FLOOR_DB / 20.0)))
    octave = np.log2(np.maximum(np.asarray(frequencies, dtype=np.float64), 1e-9) / BANDS_HZ[0])
    return 10.0 ** (np.interp(octave, np.arange(len(BANDS_HZ), dtype=np.float64), gains_db) / 20.0)


def wall_filter_half(sample_rate: int) -> int:
    """Half length (samples) of a wall filter: two periods of the lowest band centre (16 ms),
    so the response meets every band centre of the table within 0.15 dB."""
    return max(8, int(round(2.0 * sample_rate / BANDS_HZ[0])))


@lru_cache(maxsize=512)
def wall_filter(band_gains: tuple[float, ...], sample_rate: int) -> np.ndarray:
    """Zero-phase FIR (2 H + 1 taps, float64, centre tap H = :func:`wall_filter_half`) whose
    magnitude is :func:`band_response` of ``band_gains`` (pressure factors per band): designed
    by frequency sampling and a Kaiser window. Linear phase with its delay removed, like the
    air filter, so a reflection still arrives at its geometric delay at every frequency."""
    half = wall_filter_half(sample_rate)
    size = 1 << int(math.ceil(math.log2(16 * half)))
    target = band_response(np.array(band_gains), np.fft.rfftfreq(size, 1.0 / sample_rate))
    impulse = np.fft.irfft(target, size)  # zero phase, centred on sample 0
    taps = np.concatenate([impulse[-half:], impulse[: half + 1]]) * np.kaiser(2 * half + 1, 4.0)
    taps *= target[0] / taps.sum()  # exact level at 0 Hz (the 125 Hz band's, held)
    taps.flags.writeable = False
    return taps


def apply_wall_filter(signal: np.ndarray, band_gains: tuple[float, ...], sample_rate: int) -> np.ndarray:
    """``signal`` (n,) through :func:`wall_filter` (no delay; FFT convolution). float32 (n,)."""
    from scipy.signal import oaconvolve

    taps = wall_filter(band_gains, sample_rate)
    half = (taps.shape[0] - 1) // 2
    return oaconvolve(np.asarray(signal, dtype=np.float64), taps)[half : half + signal.shape[0]].astype(np.float32)


def band_masks(frequencies: np.ndarray) -> np.ndarray:
    """(6, len(frequencies)) weights that split a spectrum at ``frequencies`` Hz into the octave
    bands: raised-cosine crossovers half an octave wide, centred on the geometric mean of two
    band centres, so each band's weight is 1 within a quarter octave of its centre (and beyond
    the outer centres); the weights sum to 1 at every frequency."""
    octave = np.log2(np.maximum(np.asarray(frequencies, dtype=np.float64), 1e-9) / BANDS_HZ[0])
    half = _CROSSOVER_OCTAVES / 2.0
    # above[k]: 0 below crossover k (between bands k and k + 1), 1 above it.
    above = [0.5 - 0.5 * np.cos(np.pi * np.clip((octave - (k + 0.5) + half) / (2.0 * half), 0.0, 1.0))
             for k in range(len(BANDS_HZ) - 1)]
    masks = [1.0 - above[0]] + [above[k - 1] - above[k] for k in range(1, len(BANDS_HZ) - 1)] + [above[-1]]
    return np.stack(masks)
