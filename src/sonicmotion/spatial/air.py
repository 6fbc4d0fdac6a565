"""Air absorption (ISO 9613-1) and its time-varying filter for a source whose distance changes.

The attenuation coefficient is the standard's pure-tone formula (ISO 9613-1:1993, §6:
equations 3 to 5 with the saturation vapour pressure of Annex B), evaluated for any
temperature, humidity and pressure. The filter that applies it to a moving source is a
bank of zero-phase FIRs at evenly spaced distances (each the attenuation over that many
metres, designed by frequency sampling); every output sample is a crossfade of the two
bank filters around its distance, so the response changes smoothly with distance, with no
steps and no delay between neighbouring filters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from sonicmotion.errors import SonicMotionError

_REFERENCE_PRESSURE_KPA = 101.325
_REFERENCE_TEMPERATURE_K = 293.15  # T0 of the standard
_TRIPLE_POINT_K = 273.16  # T01 of the standard
HALF_TAPS = 64  # bank FIRs have 2 * HALF_TAPS + 1 taps (linear phase, delay compensated)
_FFT_SIZE = 8192  # block FFT of the bank; blocks of _FFT_SIZE - 2 * HALF_TAPS samples
_STEP_DB = 2.0  # neighbouring bank filters differ by this much at the top frequency
_FLOOR_DB = -120.0  # deeper attenuation is held here (inaudible, and keeps the FIRs short)


@dataclass(frozen=True)
class Air:
    """The air a sound travels through: ``temperature_c`` (°C), ``relative_humidity`` (%),
    ``pressure_kpa``. Defaults: 20 °C, 50 % RH, one atmosphere."""

    temperature_c: float = 20.0
    relative_humidity: float = 50.0
    pressure_kpa: float = _REFERENCE_PRESSURE_KPA

    def __post_init__(self) -> None:
        checks = (("temperature_c", -40.0, 60.0, "°C"), ("relative_humidity", 0.0, 100.0, "%"),
                  ("pressure_kpa", 10.0, 200.0, "kPa"))
        for name, low, high, unit in checks:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not low <= value <= high:
                raise SonicMotionError(f"air {name} must lie in [{low:g}, {high:g}] {unit}, got {value!r}")

    def to_dict(self) -> dict[str, float]:
        return {"temperature_c": self.temperature_c, "relative_humidity": self.relative_humidity,
                "pressure_kpa": self.pressure_kpa}


def absorption_db_per_m(frequencies: np.ndarray | float, air: Air = Air()) -> np.ndarray:
    """ISO 9613-1 pure-tone attenuation coefficient in dB per metre at ``frequencies`` Hz."""
    f = np.asarray(frequencies, dtype=np.float64)
    temperature = air.temperature_c + 273.15
    pressure = air.pressure_kpa / _REFERENCE_PRESSURE_KPA  # pa / pr
    ratio = temperature / _REFERENCE_TEMPERATURE_K  # T / T0
    # Molar concentration of water vapour (%), from the saturation vapour pressure (Annex B).
    exponent = -6.8346 * (_TRIPLE_POINT_K / temperature) ** 1.261 + 4.6151
    vapour = air.relative_humidity * 10.0 ** exponent / pressure
    # Relaxation frequencies of oxygen and nitrogen (Hz).
    f_oxygen = pressure * (24.0 + 4.04e4 * vapour * (0.02 + vapour) / (0.391 + vapour))
    f_nitrogen = pressure * ratio ** -0.5 * (9.0 + 280.0 * vapour * math.exp(-4.170 * (ratio ** (-1.0 / 3.0) - 1.0)))
    f2 = f * f
    classical = 1.84e-11 / pressure * ratio ** 0.5
    oxygen = 0.01275 * math.exp(-2239.1 / temperature) / (f_oxygen + f2 / f_oxygen)
    nitrogen = 0.1068 * math.exp(-3352.0 / temperature) / (f_nitrogen + f2 / f_nitrogen)
    return 8.686 * f2 * (classical + ratio ** -2.5 * (oxygen + nitrogen))


def bank_step(sample_rate: int, air: Air) -> float:
    """Metres between neighbouring bank filters: the distance over which the attenuation at
    the top of the band (0.45 x the rate, at most 20 kHz) grows by 2 dB, so a crossfade of
    two neighbours is within 0.05 dB of the exact response."""
    top = min(0.45 * sample_rate, 20_000.0)
    return _STEP_DB / max(float(absorption_db_per_m(top, air)), 1e-9)


@lru_cache(maxsize=256)
def _bank_spectrum(sample_rate: int, air: Air, index: int) -> np.ndarray:
    """rfft (size _FFT_SIZE) of bank filter ``index`` (attenuation over index x step metres),
    its taps at 0 .. 2 * HALF_TAPS (centre HALF_TAPS)."""
    step = bank_step(sample_rate, air)
    frequencies = np.fft.rfftfreq(_FFT_SIZE, 1.0 / sample_rate)
    attenuation_db = np.maximum(-absorption_db_per_m(frequencies, air) * step * index, _FLOOR_DB)
    impulse = np.fft.irfft(10.0 ** (attenuation_db / 20.0), _FFT_SIZE)  # zero phase, centred at 0
    taps = np.concatenate([impulse[-HALF_TAPS:], impulse[: HALF_TAPS + 1]])
    taps *= np.kaiser(taps.shape[0], 4.0)  # the truncation's ripple, kept far below 0.1 dB
    taps /= taps.sum() / 10.0 ** (attenuation_db[0] / 20.0)  # exact level at 0 Hz
    spectrum = np.fft.rfft(taps, _FFT_SIZE)
    spectrum.flags.writeable = False
    return spectrum


def apply_air(signal: np.ndarray, distances: np.ndarray, sample_rate: int, air: Air = Air()) -> np.ndarray:
    """``signal`` (n,) as heard through ``distances`` (n,) metres of ``air``, sample by sample.

    Returns float32 (n,). The filter of each sample is the crossfade of the two bank filters
    next to its distance; the bank's FIRs are zero-phase, so nothing is delayed. Blocks of
    the signal are filtered by FFT, all blocks at once for each neighbour in turn."""
    signal = np.asarray(signal, dtype=np.float32)
    n = signal.shape[0]
    if n == 0:
        return signal.copy()
    position = np.asarray(distances, dtype=np.float32) / np.float32(bank_step(sample_rate, air))  # in bank steps
    block = _FFT_SIZE - 2 * HALF_TAPS
    count = -(-n // block)
    padded = np.zeros(count * block + 2 * HALF_TAPS, dtype=np.float32)
    padded[HALF_TAPS : HALF_TAPS + n] = signal
    segments = np.lib.stride_tricks.sliding_window_view(padded, 2 * HALF_TAPS + block)[::block]
    spectra = np.fft.rfft(segments, _FFT_SIZE, axis=1)
    padded_position = np.full(count * block, position[-1], dtype=np.float32)
    padded_position[:n] = position
    by_block = padded_position.reshape(count, block)
    first = np.floor(by_block.min(axis=1)).astype(np.int64)
    span = int(np.max(np.floor(by_block.max(axis=1)).astype(np.int64) + 1 - first)) + 1
    out = np.zeros((count, block), dtype=np.float32)
    for j in range(span):
        index = first + j
        weight = np.maximum(np.float32(0.0), np.float32(1.0) - np.abs(by_block - index[:, None].astype(np.float32)))
        used = weight.any(axis=1)
        if not used.any():
            continue
        bank = np.stack([_bank_spectrum(sample_rate, air, int(k)) for k in index[used]])
        filtered = np.fft.irfft(spectra[used] * bank, _FFT_SIZE, axis=1)[:, 2 * HALF_TAPS : 2 * HALF_TAPS + block]
        out[used] += weight[used] * filtered.astype(np.float32)
    return out.reshape(-1)[:n]
