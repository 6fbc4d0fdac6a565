"""Speed of listening renders on 10 s, 16 kHz FOA clips, one core.

Binaural rendering folds the decoder into one filter per FOA channel and ear (8
convolutions); the reference decodes to the 18 virtual loudspeakers and convolves each
with its two HRIRs (36 convolutions), as a straightforward renderer would. Both are
timed in the same run and checked to give the same signal.

    .venv/bin/python benchmarks/bench_render.py [--smoke]   # --smoke: a 1 s clip, one repeat (CI)
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy.signal import fftconvolve

from sonicmotion.render.binaural import (
    decoder_equaliser, decoder_matrix, nearest, render_binaural, SPEAKERS, spherical_head_hrirs,
)
from sonicmotion.render.stereo import render_uhj
from sonicmotion.spatial import Trajectory, encode_foa
from sonicmotion.spatial.energy_map import directional_energy_map

RATE = 16000


def reference_binaural(foa: np.ndarray, hrirs) -> np.ndarray:
    """Decode to the 18 speakers, convolve each feed with its two HRIRs, then the diffuse-field
    equaliser the renderer folds into its filters."""
    speakers = nearest(hrirs, SPEAKERS)
    decoder = decoder_matrix(speakers.directions)
    equaliser = decoder_equaliser(np.einsum("sc,set->cet", decoder, speakers.impulses), hrirs)
    pressure = foa[0].astype(np.float64) * np.sqrt(2.0)
    feeds = decoder @ np.vstack([pressure, foa[1:].astype(np.float64)])
    n = foa.shape[1]
    out = np.zeros((2, n))
    for feed, pair in zip(feeds, speakers.impulses):
        for ear in range(2):
            out[ear] += fftconvolve(feed, pair[ear])[:n]
    return np.stack([fftconvolve(ear, equaliser)[:n] for ear in out]).astype(np.float32)


REPEATS = 5


def seconds_per_call(fn, repeats: int | None = None) -> float:
    repeats = repeats or REPEATS
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    global REPEATS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="run in seconds (CI): a 1 s clip, one repeat")
    args = parser.parse_args()
    seconds = 1 if args.smoke else 10
    REPEATS = 1 if args.smoke else 5
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rng = np.random.default_rng(0)
    foa = encode_foa((0.2 * rng.standard_normal(seconds * RATE)).astype(np.float32), RATE,
                     Trajectory.linear(90, 0, -90, 30, "cw", 0.1 * seconds, 0.9 * seconds))
    hrirs = spherical_head_hrirs(RATE)
    ours = seconds_per_call(lambda: render_binaural(foa, RATE, hrirs=hrirs))
    ref = seconds_per_call(lambda: reference_binaural(foa, hrirs))
    gap = np.max(np.abs(render_binaural(foa, RATE, hrirs=hrirs) - reference_binaural(foa, hrirs)))
    uhj = seconds_per_call(lambda: render_uhj(foa))
    energy = seconds_per_call(lambda: directional_energy_map(foa, RATE))
    print(f"{seconds} s clip at 16 kHz, one core; real-time factor = audio seconds per compute second")
    print(f"binaural (8 folded filters)  {ours * 1000:7.1f} ms  {seconds / ours:7.0f}x real time   "
          f"reference (18 speakers x 2 ears) {ref * 1000:7.1f} ms  ratio {ref / ours:4.1f}x  max diff {gap:.1e}")
    print(f"uhj                          {uhj * 1000:7.1f} ms  {seconds / uhj:7.0f}x real time")
    print(f"directional energy map       {energy * 1000:7.1f} ms  {seconds / energy:7.0f}x real time")


if __name__ == "__main__":
    main()
