"""Synthetic everyday-like sounds, so demos and tests need no downloads."""

from __future__ import annotations

import numpy as np


def _normalise(x: np.ndarray, peak: float) -> np.ndarray:
    return (x * (peak / max(float(np.max(np.abs(x))), 1e-12))).astype(np.float32)


def siren(seconds: float, sample_rate: int, seed: int = 0, peak: float = 0.5) -> np.ndarray:
    """A two-tone wailing siren with some road noise, (n,) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 700.0 + 250.0 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    tone = np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.15 * np.sin(3 * phase)
    return _normalise(tone + 0.05 * rng.standard_normal(t.size), peak)


def noise_bursts(seconds: float, sample_rate: int, seed: int = 0, peak: float = 0.5) -> np.ndarray:
    """Band-limited noise bursts (like footsteps or knocks), (n,) float32."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    x = rng.standard_normal(n)
    envelope = np.zeros(n)
    period = int(0.25 * sample_rate)
    decay = np.exp(-np.arange(period) / (0.03 * sample_rate))
    for start in range(0, n, period):
        stop = min(start + period, n)
        envelope[start:stop] = decay[: stop - start]
    return _normalise(x * envelope, peak)


SOUNDS = {"siren": siren, "noise_bursts": noise_bursts}
