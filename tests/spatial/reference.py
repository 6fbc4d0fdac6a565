"""Straightforward re-implementations used as independent references in tests."""

import numpy as np


def reference_frame_doa(foa_fuma: np.ndarray, sample_rate: int, frame=0.1, hop=0.05):
    """Per-frame Python loop over the paper's intensity formula (FuMa WXYZ)."""
    length, step = int(frame * sample_rate), int(hop * sample_rate)
    times, az, el = [], [], []
    for start in range(0, foa_fuma.shape[1] - length + 1, step):
        w, x, y, z = (foa_fuma[c, start : start + length].astype(np.float64) for c in range(4))
        ix, iy, iz = float(np.dot(w, x)), float(np.dot(w, y)), float(np.dot(w, z))
        times.append((start + length / 2) / sample_rate)
        az.append(np.degrees(np.arctan2(iy, ix)))
        el.append(np.degrees(np.arctan2(iz, np.hypot(ix, iy))))
    return np.array(times), np.array(az), np.array(el)


def circular_difference(a, b):
    return np.abs((np.asarray(a) - b + 180.0) % 360.0 - 180.0)
