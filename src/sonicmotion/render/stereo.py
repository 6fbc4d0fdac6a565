"""Two-channel renderings of FOA: a pair of virtual cardioids, and UHJ."""

from __future__ import annotations

import numpy as np
from scipy.signal import hilbert

from sonicmotion.spatial.layout import ChannelLayout, check_foa, get_layout


def _channels(foa: np.ndarray, layout: ChannelLayout) -> tuple[np.ndarray, ...]:
    """(pressure p, X, Y, Z) in float64 from any layout."""
    foa = check_foa(foa)
    p = foa[layout.index("W")].astype(np.float64) / layout.w_gain
    return (p,) + tuple(foa[layout.index(c)].astype(np.float64) for c in "XYZ")


def render_cardioids(
    foa: np.ndarray, layout: str | ChannelLayout = "fuma", angle: float = 90.0
) -> np.ndarray:
    """(2, n) float32 from virtual cardioid microphones aimed at ±``angle`` degrees azimuth
    (left, right) on the horizon. A source on a microphone's axis reaches it at unit gain."""
    p, x, y, _ = _channels(foa, get_layout(layout))
    a = np.radians(angle)
    left = 0.5 * (p + np.cos(a) * x + np.sin(a) * y)
    right = 0.5 * (p + np.cos(a) * x - np.sin(a) * y)
    return np.stack([left, right]).astype(np.float32)


def _quadrature(signal: np.ndarray) -> np.ndarray:
    """``j·signal``: every frequency component advanced by 90° (-Hilbert transform)."""
    return -np.imag(hilbert(signal))


def render_uhj(foa: np.ndarray, layout: str | ChannelLayout = "fuma") -> np.ndarray:
    """(2, n) float32 two-channel UHJ (Gerzon's encoding equations, on FuMa W, X, Y).

    ``S = 0.9397 W + 0.1856 X``, ``D = j(-0.3420 W + 0.5099 X) + 0.6555 Y``,
    ``L = (S + D) / 2``, ``R = (S - D) / 2``. Height (Z) has no place in two channels.
    The 90° phase shift is applied to the whole clip at once (offline, exact).
    """
    p, x, y, _ = _channels(foa, get_layout(layout))
    w = p / np.sqrt(2.0)  # UHJ is defined on FuMa's W
    s = 0.9396926 * w + 0.1855740 * x
    d = _quadrature(-0.3420201 * w + 0.5098604 * x) + 0.6554516 * y
    return np.stack([0.5 * (s + d), 0.5 * (s - d)]).astype(np.float32)
