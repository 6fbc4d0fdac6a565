"""Speed of distance rendering (issue 28): a moving source at 48 kHz with propagation delay
(Doppler), 1/r level and air absorption, and the same in a shoebox room, one core.

Prints, per case, the seconds of CPU one render of a 10 s clip takes (the best of the
repeats, so other work on a shared machine counts least) and the multiple of real time;
targets: >= 50x for delay + level + air, >= 10x with a first-order room, with or without
frequency-dependent walls (materials).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_distance.py [--repeats 5] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from sonicmotion.spatial import Room, Trajectory, encode_foa  # noqa: E402

SAMPLE_RATE = 48_000
TARGETS = {"delay + level + air": 50.0, "first-order room": 10.0, "first-order room, materials": 10.0}
MATERIALS = {"floor": "carpet_on_concrete", "walls": "plasterboard", "ceiling": "acoustic_tile"}


def cases(seconds: float) -> list[tuple[str, Trajectory, dict]]:
    # A car on a straight road 4 m to the left at 50 km/h (13.9 m/s), passing halfway.
    half = 13.9 * seconds / 2
    car = Trajectory.cartesian([(0.0, -half, 4.0, 0.0), (seconds, half, 4.0, 0.0)])
    # Indoors: someone walking past 1.5 m away at 1.4 m/s in an 8 x 6 x 3 m room.
    walk = 1.4 * seconds / 2 if seconds <= 4 else 2.5
    walker = Trajectory.cartesian([(0.0, -walk, 1.5, 0.2), (seconds, walk, 1.5, 0.2)])
    room = Room((8.0, 6.0, 3.0), rt60=0.5)
    return [
        ("plane wave (paper), for scale", Trajectory.linear(90, 0, -90, 0, "cw", 0, seconds), {}),
        ("delay + level + air", car, {}),
        ("level + air, no Doppler", car, {"doppler": False}),
        ("first-order room", walker, {"room": room}),
        ("first-order room, materials", walker, {"room": Room((8.0, 6.0, 3.0), materials=MATERIALS)}),
        ("second-order room", walker, {"room": Room((8.0, 6.0, 3.0), rt60=0.5, order=2)}),
        ("second-order room, materials", walker, {"room": Room((8.0, 6.0, 3.0), order=2, materials=MATERIALS)}),
    ]


def cpu_seconds(fn, repeats: int) -> tuple[float, float]:
    """(best CPU seconds, best wall seconds) of ``repeats`` calls after one warm-up."""
    fn()
    best_cpu = best_wall = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_cpu, best_wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10 s)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="1 s clips, one repeat: runs in seconds")
    args = parser.parse_args()
    seconds, repeats = (1.0, 1) if args.smoke else (args.seconds, args.repeats)
    mono = np.random.default_rng(0).standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}; {seconds:g} s clips at {SAMPLE_RATE} Hz, best of {repeats}, one thread")
    print(f"{'case':34s} {'CPU s':>8s} {'wall s':>8s} {'x real time (CPU)':>18s}  target")
    for name, path, options in cases(seconds):
        cpu, wall = cpu_seconds(lambda: encode_foa(mono, SAMPLE_RATE, path, **options), repeats)
        speed = seconds / cpu
        target = TARGETS.get(name)
        verdict = "" if target is None else f">= {target:g}x {'met' if speed >= target else 'MISSED'}"
        print(f"{name:34s} {cpu:8.3f} {wall:8.3f} {speed:18.1f}  {verdict}")


if __name__ == "__main__":
    main()
