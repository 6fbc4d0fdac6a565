"""Localisation accuracy of `sonicmotion spatialize` on a real recording, checked by an
independent intensity analysis (a per-frame loop written here, not the library's DoA).

    .venv/bin/python benchmarks/accuracy_real_recording.py RECORDING [RECORDING ...]
    .venv/bin/python benchmarks/accuracy_real_recording.py --smoke   # seconds (CI): 10 s of synthetic
                                                                     # noise bursts, FuMa only

For each recording and each layout (fuma, ambix) it runs the CLI along a moving path
that crosses the back (ccw 60 -> -150 deg, rising -20 -> 30 deg, 2-8 s of a 10 s clip),
reads the file back with soundfile alone, and prints the worst and mean frame error
against the requested path, over frames louder than 1e-3 of the loudest (silences in
speech carry no direction). Example recordings: Debian's alsa-utils ships spoken
/usr/share/sounds/alsa/Front_Center.wav.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

PATH_FLAGS = ["--azimuth", "60", "--elevation", "-20", "--to-azimuth", "-150", "--to-elevation", "30",
              "--direction", "ccw", "--move-start", "2", "--move-end", "8", "--duration", "10"]


def requested(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frac = np.clip((t - 2.0) / 6.0, 0.0, 1.0)
    return 60.0 + frac * 150.0, -20.0 + frac * 50.0  # ccw: azimuth increases 60 -> 210 (= -150)


def frame_directions(wxyz: np.ndarray, rate: int, frame: float = 0.1, hop: float = 0.05):
    length, step = int(frame * rate), int(hop * rate)
    rows = []
    for start in range(0, wxyz.shape[1] - length + 1, step):
        w, x, y, z = wxyz[:, start : start + length].astype(np.float64)
        rows.append(((start + length / 2) / rate, w @ w, w @ x, w @ y, w @ z))
    t, energy, ix, iy, iz = np.array(rows).T
    return t, energy, np.degrees(np.arctan2(iy, ix)), np.degrees(np.arctan2(iz, np.hypot(ix, iy)))


def check(recording: str, layout: str, workdir: Path) -> tuple[float, float, int]:
    out = workdir / f"{Path(recording).stem}_{layout}.wav"
    subprocess.run([sys.executable, "-m", "sonicmotion", "spatialize", recording, "-o", str(out), *PATH_FLAGS,
                    "--layout", layout], check=True, capture_output=True)
    data, rate = sf.read(out, always_2d=True)
    data = data.T
    # AmbiX is ACN W, Y, Z, X; FuMa is W, X, Y, Z. Only the order matters for directions.
    wxyz = data[[0, 3, 1, 2]] if layout == "ambix" else data
    t, energy, az, el = frame_directions(wxyz, rate)
    active = energy > 1e-3 * energy.max()
    want_az, want_el = requested(t)
    d_az = np.abs((az - want_az + 180.0) % 360.0 - 180.0)
    error = np.hypot(d_az * np.cos(np.radians(want_el)), el - want_el)[active]
    return float(error.max()), float(error.mean()), int(active.sum())


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    smoke = sys.argv[1:] == ["--smoke"]
    with tempfile.TemporaryDirectory() as tmp:
        recordings = sys.argv[1:]
        if smoke:
            from sonicmotion.data.synth import noise_bursts

            recordings = [str(Path(tmp) / "noise_bursts.wav")]
            sf.write(recordings[0], noise_bursts(10.0, 16000, seed=0), 16000)
        for recording in recordings:
            for layout in ("fuma",) if smoke else ("fuma", "ambix"):
                worst, mean, frames = check(recording, layout, Path(tmp))
                print(f"{Path(recording).name:28s} {layout:5s}  {frames:3d} active frames  "
                      f"mean error {mean:.3f} deg  worst {worst:.3f} deg  {'OK' if worst < 2.0 else 'OVER 2 deg'}")


if __name__ == "__main__":
    main()
