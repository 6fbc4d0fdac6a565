"""Throughput of the spatial core on 10 s, 16 kHz clips, one core.

Prints clips per second for `encode_foa` (moving paths) and frame-mode `estimate_doa`,
each with the ratio against a straightforward reference measured in the same run:
per-sample float64 trigonometry over the whole clip, and a per-frame Python loop.

    .venv/bin/python benchmarks/bench_spatial.py [--seconds-per-test 3]
    .venv/bin/python benchmarks/bench_spatial.py --smoke   # seconds (CI): 0.05 s per test
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from sonicmotion.spatial import Trajectory, encode_foa, estimate_doa  # noqa: E402

SAMPLE_RATE = 16000
NUM_SAMPLES = 10 * SAMPLE_RATE
TARGET_ENCODE = 200.0
TARGET_DOA = 100.0


def reference_encode(mono: np.ndarray, trajectory: Trajectory) -> np.ndarray:
    """Per-sample trigonometry on the full-rate path, float64."""
    az, el = np.radians(trajectory.positions(np.arange(mono.size) / SAMPLE_RATE))
    return np.stack([
        mono / np.sqrt(2.0), mono * np.cos(az) * np.cos(el), mono * np.sin(az) * np.cos(el), mono * np.sin(el),
    ]).astype(np.float32)


def reference_doa(foa: np.ndarray, frame: int = 1600, hop: int = 800):
    """A per-frame Python loop over the intensity formula."""
    out = []
    for start in range(0, foa.shape[1] - frame + 1, hop):
        w, x, y, z = foa[:, start : start + frame].astype(np.float64)
        ix, iy, iz = np.dot(w, x), np.dot(w, y), np.dot(w, z)
        out.append((np.degrees(np.arctan2(iy, ix)), np.degrees(np.arctan2(iz, np.hypot(ix, iy)))))
    return out


def rate(fn, inputs, seconds: float) -> float:
    """Calls per second, cycling through ``inputs``, for at least ``seconds``."""
    fn(inputs[0])  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(inputs[count % len(inputs)])
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds-per-test", type=float, default=3.0)
    parser.add_argument("--smoke", action="store_true", help="run in seconds (CI): 0.05 s per test")
    args = parser.parse_args()
    if args.smoke:
        args.seconds_per_test = 0.05
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    rng = np.random.default_rng(0)
    clips = []
    for _ in range(8):
        start_az, start_el = rng.uniform(-180, 180), rng.uniform(-35, 35)
        duration = rng.uniform(1.0, 10.0)
        move_start = rng.uniform(0.0, 10.0 - duration)
        path = Trajectory.linear(start_az, start_el, start_az + rng.uniform(45, 300), rng.uniform(-35, 35),
                                 rng.choice(["cw", "ccw"]), move_start, move_start + duration)
        clips.append(((0.3 * rng.standard_normal(NUM_SAMPLES)).astype(np.float32), path))
    foas = [encode_foa(m, SAMPLE_RATE, p) for m, p in clips]

    t = args.seconds_per_test
    encode = rate(lambda c: encode_foa(c[0], SAMPLE_RATE, c[1]), clips, t)
    encode_ref = rate(lambda c: reference_encode(*c), clips, t)
    doa = rate(lambda f: estimate_doa(f, SAMPLE_RATE), foas, t)
    doa_ref = rate(reference_doa, foas, t)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, one core used; "
          f"numpy {np.__version__}")
    print("clip: 10 s, 16 kHz, moving path (1-10 s movement window)")
    print(f"encode_foa          {encode:8.1f} clips/s/core   reference {encode_ref:7.1f}   "
          f"ratio {encode / encode_ref:5.2f}x   target >= {TARGET_ENCODE:.0f}  "
          f"{'OK' if encode >= TARGET_ENCODE else 'BELOW TARGET'}")
    print(f"estimate_doa frame  {doa:8.1f} clips/s/core   reference {doa_ref:7.1f}   "
          f"ratio {doa / doa_ref:5.2f}x   target >= {TARGET_DOA:.0f}  "
          f"{'OK' if doa >= TARGET_DOA else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
