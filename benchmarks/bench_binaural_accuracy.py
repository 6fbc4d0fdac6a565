"""Binaural accuracy: each renderer against the truth, for one source in one direction.

The truth is the mono source convolved with the HRIR of its direction (the ears' signals a
head would get from that source alone). Each renderer gets the same source encoded to FOA at
that direction and renders it through the same HRTF set. Compared, per source and direction:

- ITD error (µs): the interaural time difference below 1.5 kHz (cross-correlation peak of the
  low-passed ears, ±1 ms, parabolic interpolation) of the render minus that of the truth;
- ILD error (dB) per third-octave band (125 Hz - 16 kHz; bands where the truth has under
  1e-6 of the loudest band's energy are skipped): 10 log10(E_left / E_right) of the render
  minus that of the truth; mean and largest absolute value over the bands.

Sources: white noise, a speech-like signal (synthetic vowels: a 120 Hz glottal pulse train
through moving formants, syllable-rate envelope), and a real recording when one is on the
machine (Python's own test recording of a plucked string). Directions: azimuths 0, ±30, ±90,
135, 180 at elevation 0, and elevation ±30 at azimuths 0 and 90. Targets (issue 13): the
parametric renderer within 50 µs and 1 dB for one source.

Level (issue 25): pink noise (20 Hz - 20 kHz) from 25 directions (azimuth every 60° at
elevations -30, 0, 40, and elevation 85), the ears' power over the source's averaged over the
directions, in dB, for the direct rendering (the source through its own HRIR) and for each
method, on the measured head (KEMAR) and on the spherical head. Targets: every method within
1 dB of the direct rendering (hence of each other); MagLS's ITD at ±90° within 50 µs of the
head's.

    python benchmarks/bench_binaural_accuracy.py [--rate 48000] [--hrtf FILE.sofa]
    python benchmarks/bench_binaural_accuracy.py --smoke   # seconds (CI): 16 kHz, 0.25 s, 2 directions
"""

from __future__ import annotations

import argparse
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sonicmotion.data.synth import pink_noise  # noqa: E402

DIRECTIONS = [(0, 0), (30, 0), (-30, 0), (90, 0), (-90, 0), (135, 0), (180, 0), (0, 30), (0, -30), (90, 30), (90, -30)]
TARGET_ITD_US, TARGET_ILD_DB, TARGET_LEVEL_DB = 50.0, 1.0, 1.0
LEVEL_DIRECTIONS = [(az, el) for el in (-30, 0, 40) for az in range(-180, 180, 60)] + [(0, 85)]
METHODS = ("speakers", "parametric", "magls")


def speech_like(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Vowel-like: a 120 Hz pulse train (with jitter) through three formant resonators that
    glide between vowels, under a 4 Hz syllable envelope."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    pulses = np.zeros(n)
    t = 0.0
    while t < seconds:
        pulses[int(t * rate)] = 1.0
        t += (1.0 / 120.0) * (1.0 + 0.03 * rng.standard_normal())
    vowels = np.array([[730, 1090, 2440], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240]], dtype=float)
    out = np.zeros(n)
    block = int(0.02 * rate)
    for start in range(0, n, block):
        phase = start / rate * 2.0
        a, b = vowels[int(phase) % 4], vowels[(int(phase) + 1) % 4]
        formants = a + (b - a) * (phase % 1.0)
        segment = pulses[max(0, start - block) : start + block]
        voiced = segment
        for f, bw in zip(formants, (80, 100, 120)):
            r = np.exp(-np.pi * bw / rate)
            voiced = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / rate), r * r], voiced)
        out[start : start + block] = voiced[-min(block, n - start) :]
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * np.arange(n) / rate)
    out *= envelope
    return (0.3 * out / np.max(np.abs(out))).astype(np.float32)


def recording(rate: int) -> np.ndarray | None:
    """Python's test recording of a plucked string (a real recording, 0.3 s), if present."""
    from sonicmotion.audio import read_audio, resample

    path = Path(sysconfig.get_paths()["stdlib"]) / "test" / "audiodata" / "pluck-pcm16.wav"
    if not path.is_file():
        return None
    audio = read_audio(path)
    mono = audio.samples.mean(axis=1).astype(np.float32)
    mono = resample(mono, audio.sample_rate, rate)
    mono = np.concatenate([np.zeros(rate // 10, np.float32), mono, np.zeros(rate // 10, np.float32)])
    return (0.3 * mono / np.max(np.abs(mono))).astype(np.float32)


def itd_us(ears: np.ndarray, rate: int) -> float:
    """Right-minus-left arrival time below 1.5 kHz in µs (positive: the right ear hears it later)."""
    from sonicmotion.render.binaural import interaural_time_difference

    return interaural_time_difference(ears, rate) * 1e6


def levels(hrtf, rate: int, seconds: float, directions) -> dict[str, float]:
    """dB of the ears' power over the source's, averaged over ``directions``, per method."""
    from sonicmotion.render.binaural import mean_ear_level_db

    mono = pink_noise(seconds, rate)
    return {method: mean_ear_level_db(mono, rate, hrtf, directions, method) for method in ("direct",) + METHODS}


def print_levels(args, rate: int, heads) -> None:
    from sonicmotion.render.binaural import plane_wave_ears, render_binaural
    from sonicmotion.spatial import Trajectory, encode_foa

    directions = LEVEL_DIRECTIONS[::3] if args.smoke else LEVEL_DIRECTIONS
    print(f"\nlevel: pink noise, {len(directions)} directions, dB of the ears' power re the source's "
          f"(diffuse-field 0 dB sets)")
    print(f"  {'head':<28} {'direct':>7} " + " ".join(f"{m:>10}" for m in METHODS) + "   largest |method - direct|")
    for name, hrtf in heads:
        found = levels(hrtf, rate, 0.5 if args.smoke else 2.0, directions)
        gap = max(abs(found[m] - found["direct"]) for m in METHODS)
        verdict = "met" if gap <= TARGET_LEVEL_DB else "missed"
        print(f"  {name:<28} {found['direct']:7.2f} " + " ".join(f"{found[m]:10.2f}" for m in METHODS)
              + f"   {gap:.2f} dB (target {TARGET_LEVEL_DB:g} dB: {verdict})")
    print("\nITD at ±90° (below 1.5 kHz), pink noise, µs:")
    mono = pink_noise(0.5 if args.smoke else 2.0, rate, seed=1)
    for name, hrtf in heads:
        for azimuth in (90.0, -90.0):
            truth = itd_us(plane_wave_ears(mono, hrtf, azimuth, 0.0), rate)
            foa = encode_foa(mono, rate, Trajectory.static(azimuth, 0))
            rendered = {m: itd_us(render_binaural(foa, rate, hrirs=hrtf, method=m), rate) for m in METHODS}
            print(f"  {name:<28} {azimuth:+5.0f}°  head {truth:7.1f}  " + "  ".join(
                f"{m} {v:7.1f} ({v - truth:+6.1f})" for m, v in rendered.items())
                + f"   MagLS target {TARGET_ITD_US:g} µs: "
                + ("met" if abs(rendered["magls"] - truth) <= TARGET_ITD_US else "missed"))


def third_octave_ild(ears: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(band centres Hz, ILD dB per band, left over right; NaN where a band is empty)."""
    spectra = np.abs(np.fft.rfft(ears)) ** 2
    freqs = np.fft.rfftfreq(ears.shape[1], 1.0 / rate)
    centres = 1000.0 * 2.0 ** (np.arange(-9, 13) / 3.0)  # 125 Hz .. 16 kHz
    centres = centres[centres * 2 ** (1 / 6) < rate / 2]
    ild = np.full(len(centres), np.nan)
    energy = np.zeros((len(centres), 2))
    for i, centre in enumerate(centres):
        band = (freqs >= centre * 2 ** (-1 / 6)) & (freqs < centre * 2 ** (1 / 6))
        energy[i] = spectra[:, band].sum(axis=1)
    loud = energy.sum(axis=1) > 1e-6 * energy.sum(axis=1).max()
    ild[loud] = 10 * np.log10(np.maximum(energy[loud, 0], 1e-30) / np.maximum(energy[loud, 1], 1e-30))
    return centres, ild


def main() -> None:
    from sonicmotion.render.binaural import (
        default_hrtf, load_sofa_hrirs, nearest, render_binaural, spherical_head_hrirs,
    )
    from sonicmotion.spatial import Trajectory, encode_foa

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=48000, help="sample rate, Hz (default 48000)")
    parser.add_argument("--hrtf", help="SOFA file (default: the KEMAR set if installed, else the spherical head)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of the noise and speech sources")
    parser.add_argument("--smoke", action="store_true", help="run in seconds (CI): 16 kHz, 0.25 s sources, "
                        "2 directions, no recording")
    args = parser.parse_args()
    directions = DIRECTIONS[:2] if args.smoke else DIRECTIONS
    if args.smoke:
        args.rate, args.seconds = 16000, 0.25
    rate = args.rate
    hrtf = load_sofa_hrirs(args.hrtf, rate) if args.hrtf else default_hrtf(rate)
    sphere_grid = np.array([(az, el) for el in range(-80, 81, 10) for az in range(-180, 180, 10)], dtype=float)
    print_levels(args, rate, [(hrtf.name[:28], hrtf), ("spherical head", spherical_head_hrirs(rate, sphere_grid))])
    sources = {"noise": (0.1 * np.random.default_rng(0).standard_normal(int(args.seconds * rate))).astype(np.float32),
               "speech-like": speech_like(args.seconds, rate)}
    real = None if args.smoke else recording(rate)
    if real is not None:
        sources["pluck (recording)"] = real
    if args.smoke:
        sources.pop("speech-like")
    print(f"\nHRTF: {hrtf.name} ({len(hrtf.directions)} directions), {rate} Hz; sources: {', '.join(sources)}")
    renderers = {method: dict(method=method) for method in METHODS}
    results: dict[str, list[tuple[str, tuple, float, float, float]]] = {name: [] for name in renderers}
    seconds = {name: 0.0 for name in renderers}
    for source_name, mono in sources.items():
        for direction in directions:
            truth_hrir = nearest(hrtf, np.array([direction], dtype=float)).impulses[0]  # (2, taps)
            truth = np.stack([np.convolve(mono, truth_hrir[e])[: mono.shape[0]] for e in range(2)])
            truth_itd = itd_us(truth, rate)
            _, truth_ild = third_octave_ild(truth, rate)
            foa = encode_foa(mono, rate, Trajectory.static(*direction))
            for name, options in renderers.items():
                start = time.process_time()
                ears = render_binaural(foa, rate, "fuma", hrtf, **options).astype(np.float64)
                seconds[name] += time.process_time() - start
                itd_error = itd_us(ears, rate) - truth_itd
                _, ild = third_octave_ild(ears, rate)
                errors = np.abs(ild - truth_ild)
                errors = errors[np.isfinite(errors)]
                results[name].append((source_name, direction, itd_error, float(errors.mean()), float(errors.max())))
    print(f"\n{'renderer':<11} {'source':<18} {'az':>5} {'el':>4} {'ITD err µs':>11} {'ILD err dB mean':>16} {'max':>6}")
    for name, rows in results.items():
        for source_name, (az, el), itd, ild_mean, ild_max in rows:
            print(f"{name:<11} {source_name:<18} {az:5d} {el:4d} {itd:11.1f} {ild_mean:16.2f} {ild_max:6.2f}")
    print("\nsummary (all sources and directions):")
    for name, rows in results.items():
        itd = np.array([abs(r[2]) for r in rows])
        ild_mean = np.array([r[3] for r in rows])
        ild_max = np.array([r[4] for r in rows])
        met = "" if name != "parametric" else (
            f"  targets {TARGET_ITD_US:g} µs / {TARGET_ILD_DB:g} dB: "
            + ("met" if itd.max() <= TARGET_ITD_US and ild_mean.max() <= TARGET_ILD_DB else "missed"))
        print(f"  {name:<11} |ITD error| mean {itd.mean():6.1f} µs, max {itd.max():6.1f} µs; ILD error mean "
              f"{ild_mean.mean():5.2f} dB (worst direction {ild_mean.max():5.2f} dB, worst band {ild_max.max():5.2f} dB); "
              f"{seconds[name] / len(rows) * 1000:.0f} ms CPU per render{met}")
    sphere = spherical_head_hrirs(rate, np.array([(90.0, 0.0)]))
    print(f"\nreference: the spherical head's ITD at 90 degrees is "
          f"{itd_us(np.stack([np.convolve(sources['noise'], sphere.impulses[0, e]) for e in range(2)]), rate):.0f} µs")


if __name__ == "__main__":
    main()
