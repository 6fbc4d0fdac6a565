"""AmbiX for DAWs and 360° video: the conversion behind ``sonicmotion export``."""

from __future__ import annotations

import numpy as np

from sonicmotion.audio import resample
from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial.layout import AMBIX, ChannelLayout, convert_layout

EXPORT_RATE = 48000  # Hz: what video and most DAW sessions run at


def to_ambix(
    foa: np.ndarray, sample_rate: int, layout: str | ChannelLayout, gain_db: float = 0.0,
    rate: int = EXPORT_RATE,
) -> np.ndarray:
    """(4, n) FOA in ``layout`` -> (4, m) float32 AmbiX (ACN/SN3D) at ``rate`` Hz, ``gain_db`` applied."""
    if not -60.0 <= gain_db <= 60.0:
        raise SonicMotionError(f"gain must lie in [-60, 60] dB, got {gain_db}")
    ambix = convert_layout(foa, layout, AMBIX) * 10.0 ** (gain_db / 20.0)
    return resample(ambix.astype(np.float32), sample_rate, rate)
