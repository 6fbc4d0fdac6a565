"""Benchmark the generation evaluation: spatial errors of a test split, and the FD/KL maths.

1. Spatial errors (both resolutions, per clip, then means) for ``--clips`` ten-second
   FOA clips (default 4,040, the paper's test split) through the real pipeline
   (read file, decode, analyse) with ``--workers`` processes. To keep disk use small,
   ``--distinct`` different WAV files are written and each is judged clips/distinct
   times (decoding is repeated every time; the file bytes come from the page cache).
   Reference in the same run: the spatial core's ``spatial_errors`` for both
   resolutions on the same clips, one process, on a sample of clips.
2. Fréchet distance of two 4,040 x 512 embedding sets (fit + distance), eigenvalue
   method; reference: the same formula with ``scipy.linalg.sqrtm``. Paired KL of
   4,040 x 527 logits.

    PYTHONPATH=src python benchmarks/bench_evaluation.py [--clips 4040 --workers 2]
    PYTHONPATH=src python benchmarks/bench_evaluation.py --smoke   # seconds (CI): 4 clips, 256 x 16 embeddings
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished worker processes."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_spatial(clips: int, distinct: int, workers: int, seconds: float) -> None:
    from sonicmotion.data.synth import noise_bursts, siren
    from sonicmotion.evaluation.sets import ClipRef
    from sonicmotion.spatial.io import foa_from_bytes
    from sonicmotion.evaluation.spatial import evaluate_spatial
    from sonicmotion.spatial import Trajectory, encode_foa, spatial_errors, write_foa

    rate = 16000
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths, trajectories = [], []
        for i in range(distinct):
            start = float(rng.uniform(-180, 180))
            if i % 2:
                path = Trajectory.linear(start, float(rng.uniform(-35, 35)), start + 90.0, float(rng.uniform(-35, 35)),
                                         "ccw", 1.0, 7.0)
            else:
                path = Trajectory.static(start, float(rng.uniform(-35, 35)))
            sound = (siren if i % 3 else noise_bursts)(seconds, rate, seed=i)
            foa = encode_foa(sound, rate, path) + 0.01 * rng.standard_normal((4, sound.size)).astype(np.float32)
            write_foa(Path(tmp) / f"src{i:04d}.wav", foa, rate, "fuma")
            paths.append(str(Path(tmp) / f"src{i:04d}.wav"))
            trajectories.append(path)
        refs = {f"clip{k:05d}": ClipRef(f"clip{k:05d}", paths[k % distinct]) for k in range(clips)}
        wanted = {f"clip{k:05d}": trajectories[k % distinct] for k in range(clips)}
        cpu_before = _cpu_seconds()
        start = time.perf_counter()
        report = evaluate_spatial(refs, wanted, workers=workers, progress=False)
        elapsed = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_before
        assert report["n"] == clips, report["not_computed"][:3]
        print(f"spatial errors, {clips} clips of {seconds:g} s, frame + sample resolution, {workers} workers: "
              f"{elapsed:.1f} s wall ({clips / elapsed:.0f} clips/s; target < 60 s); {cpu:.1f} CPU-s in all "
              f"({cpu / clips * 1000:.1f} ms per clip), i.e. {cpu / workers:.1f} s on {workers} idle cores")

        sample = min(40, clips)
        start = time.perf_counter()
        for k in range(sample):
            clip = foa_from_bytes(Path(paths[k % distinct]).read_bytes(), paths[k % distinct])
            for resolution in ("frame", "sample"):
                spatial_errors(clip.samples, trajectories[k % distinct], rate, resolution=resolution)
        core = (time.perf_counter() - start) / sample
        start = time.perf_counter()
        evaluate_spatial(dict(list(refs.items())[:sample]), wanted, workers=1, progress=False)
        ours = (time.perf_counter() - start) / sample
        print(f"  per clip, one process: {ours * 1000:.1f} ms (ours) vs {core * 1000:.1f} ms "
              f"(read + spatial core's spatial_errors x2): ratio {core / ours:.2f}x")


def bench_maths(count: int, dim: int, classes: int) -> None:
    import scipy.linalg

    from sonicmotion.evaluation.frechet import _single_thread_lapack, frechet_distance, gaussian_stats
    from sonicmotion.evaluation.kl import paired_kl

    rng = np.random.default_rng(1)
    x = rng.standard_normal((count, dim)).astype(np.float32)
    y = (rng.standard_normal((count, dim)) @ (np.eye(dim) + 0.1 * rng.standard_normal((dim, dim)))).astype(np.float32)
    start = time.perf_counter()
    a, b = gaussian_stats(x), gaussian_stats(y)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    value = frechet_distance(a, b)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    with _single_thread_lapack():  # the same BLAS threading as ours, for a fair ratio
        root = scipy.linalg.sqrtm(a.covariance @ b.covariance)
    diff = a.mean - b.mean
    reference = diff @ diff + np.trace(a.covariance) + np.trace(b.covariance) - 2 * np.trace(root).real
    scipy_time = time.perf_counter() - start
    print(f"Fréchet distance, {count} x {dim} embeddings per set: fit {fit * 1000:.0f} ms, distance "
          f"{ours * 1000:.0f} ms (eigenvalues) vs {scipy_time * 1000:.0f} ms (scipy sqrtm, same threads): ratio "
          f"{scipy_time / ours:.2f}x; values {value:.6f} vs {reference:.6f}")
    logits_ref = rng.standard_normal((count, classes)) * 3
    logits_gen = rng.standard_normal((count, classes)) * 3
    start = time.perf_counter()
    kl = paired_kl(logits_ref, logits_gen).mean()
    print(f"paired KL, {count} x {classes} logits: {(time.perf_counter() - start) * 1000:.0f} ms (mean {kl:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=4040)
    parser.add_argument("--distinct", type=int, default=101, help="different files written (default 101)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--smoke", action="store_true", help="run in seconds (CI): 4 clips of 2 files, 1 worker, "
                        "256 x 16 embeddings")
    args = parser.parse_args()
    if args.smoke:
        args.clips, args.distinct, args.workers, args.dim = 4, 2, 1, 16
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    bench_maths(256 if args.smoke else args.clips, args.dim, 527)
    bench_spatial(args.clips, args.distinct, args.workers, args.seconds)


if __name__ == "__main__":
    main()
