"""Synthetic everyday-like sounds and a captioned corpus of them, so that demos and tests
need no downloads. Each generator takes (seconds, sample_rate, seed) and returns (n,)
float32 with the given peak; the seed varies pitch, rhythm and noise, so several takes of
one kind differ while staying recognisably that kind."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from sonicmotion.audio import write_audio


def _normalise(x: np.ndarray, peak: float) -> np.ndarray:
    return (x * (peak / max(float(np.max(np.abs(x))), 1e-12))).astype(np.float32)


def _time(seconds: float, sample_rate: int) -> np.ndarray:
    return np.arange(int(seconds * sample_rate)) / sample_rate


def _lowpass_noise(rng: np.random.Generator, n: int, smoothing: int) -> np.ndarray:
    """White noise averaged over ``smoothing`` samples (a crude low-pass)."""
    kernel = np.ones(smoothing) / smoothing
    return np.convolve(rng.standard_normal(n + smoothing), kernel, mode="valid")[:n]


def pink_noise(seconds: float, sample_rate: int, seed: int = 0, rms: float = 0.05) -> np.ndarray:
    """Pink noise (equal energy per octave, 20 Hz - 20 kHz) at ``rms``: the level and bandwidth test signal."""
    n = int(seconds * sample_rate)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[(freqs < 20) | (freqs > 20000)] = 0.0
    x = np.fft.irfft(spectrum, n)
    return (rms * x / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def siren(seconds: float, sample_rate: int, seed: int = 0, peak: float = 0.5) -> np.ndarray:
    """A two-tone wailing siren with some road noise."""
    rng = np.random.default_rng(seed)
    t = _time(seconds, sample_rate)
    pitch = 700.0 + 250.0 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    tone = np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.15 * np.sin(3 * phase)
    return _normalise(tone + 0.05 * rng.standard_normal(t.size), peak)


def noise_bursts(seconds: float, sample_rate: int, seed: int = 0, peak: float = 0.5) -> np.ndarray:
    """Short decaying noise bursts at a steady pace, like footsteps or knocks."""
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


def birdsong(seconds: float, sample_rate: int, seed: int = 0, peak: float = 0.5) -> np.ndarray:
    """Fast rising chirps of a small bird, in irregular phrases."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    out = np.zeros(n)
    position = 0
    base = 2500.0 + 800.0 * rng.uniform(-1, 1)
    while position < n:
        length = int(rng.uniform(0.05, 0.12) * sample_rate)
        t = np.arange(min(length, n - position)) / sample_rate
        sweep = base + rng.uniform(800, 2000) * t / max(t[-1], 1e-9) if t.size else t
        chirp = np.sin(2 * np.pi * np.cumsum(sweep) / sample_rate) * np.hanning(t.size)
        out[position : position + t.size] += chirp
        position += length + int(rng.choice([0.04, 0.06, 0.3, 0.6]) * sample_rate)
    return _normalise(out + 0.003 * rng.standard_normal(n), peak)


def engine(seconds: float, sample_rate: int, seed: int = 0, peak: float = 0.5) -> np.ndarray:
    """A car engine idling and revving: low harmonics with firing-rate wobble and rumble."""
    rng = np.random.default_rng(seed)
    t = _time(seconds, sample_rate)
    rpm = 900 + 600 * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t)) + 100 * rng.uniform(-1, 1)
    firing = rpm / 60.0 * 2  # four-stroke, four cylinders: two firings per turn
    phase = 2 * np.pi * np.cumsum(firing) / sample_rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 8))
    rumble = _lowpass_noise(rng, t.size, 24)
    return _normalise(tone + 0.8 * rumble, peak)


def rain(seconds: float, sample_rate: int, seed: int = 0, peak: float = 0.5) -> np.ndarray:
    """Steady rain: hissing noise with many small drop clicks."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    hiss = rng.standard_normal(n) - _lowpass_noise(rng, n, 4)
    drops = np.zeros(n)
    hits = rng.integers(0, n, size=int(seconds * rng.uniform(80, 160)))
    drops[hits] = rng.uniform(0.5, 2.0, hits.size)
    drops = np.convolve(drops, np.exp(-np.arange(80) / 8.0) * np.sin(np.arange(80) * 1.7), mode="same")
    return _normalise(0.4 * hiss + drops, peak)


def bell(seconds: float, sample_rate: int, seed: int = 0, peak: float = 0.5) -> np.ndarray:
    """A church bell struck every couple of seconds: inharmonic partials, long decay."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    fundamental = 220.0 * 2 ** (rng.integers(-3, 4) / 12)
    ratios = np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.5, 3.0])
    period = int(rng.uniform(1.6, 2.4) * sample_rate)
    strike = np.arange(period) / sample_rate
    tone = sum(np.sin(2 * np.pi * fundamental * r * strike) * np.exp(-strike * (0.8 + r)) / (1 + r) for r in ratios)
    out = np.zeros(n)
    for start in range(0, n, period):
        stop = min(start + period, n)
        out[start:stop] += tone[: stop - start]
    return _normalise(out, peak)


def dog_bark(seconds: float, sample_rate: int, seed: int = 0, peak: float = 0.5) -> np.ndarray:
    """A dog barking: short harsh voiced bursts, in pairs and threes."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    out = np.zeros(n)
    position = int(rng.uniform(0.0, 0.5) * sample_rate)
    pitch = rng.uniform(350, 550)
    while position < n:
        for _ in range(int(rng.integers(2, 4))):
            length = int(rng.uniform(0.12, 0.2) * sample_rate)
            t = np.arange(min(length, max(n - position, 0))) / sample_rate
            if t.size == 0:
                break
            f = pitch * (1 + 0.4 * np.exp(-t * 30))
            voice = np.sign(np.sin(2 * np.pi * np.cumsum(f) / sample_rate)) * 0.6 + rng.standard_normal(t.size) * 0.4
            out[position : position + t.size] += voice * np.exp(-t * 18) * (1 - np.exp(-t * 400))
            position += length + int(0.08 * sample_rate)
        position += int(rng.uniform(0.8, 1.6) * sample_rate)
    return _normalise(out, peak)


def phone_ring(seconds: float, sample_rate: int, seed: int = 0, peak: float = 0.5) -> np.ndarray:
    """An old telephone ringing: two-tone trill on, then a pause."""
    rng = np.random.default_rng(seed)
    t = _time(seconds, sample_rate)
    f1, f2 = 440.0 * rng.uniform(0.95, 1.05), 480.0 * rng.uniform(0.95, 1.05)
    trill = (np.sin(2 * np.pi * f1 * t) + np.sin(2 * np.pi * f2 * t)) * (np.sin(2 * np.pi * 20 * t) > 0)
    cadence = ((t % 3.0) < 1.2).astype(float)
    return _normalise(trill * cadence + 0.002 * rng.standard_normal(t.size), peak)


SOUNDS = {
    "siren": siren,
    "noise_bursts": noise_bursts,
    "birdsong": birdsong,
    "engine": engine,
    "rain": rain,
    "bell": bell,
    "dog_bark": dog_bark,
    "phone_ring": phone_ring,
}

# Five captions per kind, in the spirit of Clotho's (no direction words: those are the
# spatial captioner's job).
CAPTIONS = {
    "siren": ["a police siren wails", "an emergency siren rises and falls", "a siren sounds loudly",
              "an ambulance siren wails over traffic", "a loud two-tone siren"],
    "noise_bursts": ["footsteps on a hard floor", "someone knocks steadily", "steps walk at a steady pace",
                     "regular knocking on wood", "hard footsteps echo"],
    "birdsong": ["a small bird chirps", "birds sing in short phrases", "a bird tweets quickly",
                 "chirping of a songbird", "high bird calls"],
    "engine": ["a car engine idles and revs", "an engine runs and speeds up", "a motor rumbles",
               "a car engine hums", "an idling engine revs up"],
    "rain": ["rain falls steadily", "heavy rain patters", "raindrops fall on the ground",
             "a steady downpour", "rain hisses and patters"],
    "bell": ["a church bell rings", "a large bell tolls slowly", "bell strikes ring out",
             "a deep bell chimes", "a bell tolls repeatedly"],
    "dog_bark": ["a dog barks", "a dog barks several times", "a barking dog",
                 "a dog barks loudly", "short barks of a dog"],
    "phone_ring": ["an old telephone rings", "a phone is ringing", "a telephone rings repeatedly",
                   "the ring of a landline phone", "a ringing telephone"],
}

CLOTHO_SPLITS = ("development", "validation", "evaluation")


def write_clotho_corpus(
    folder: str | os.PathLike, takes: int = 6, seconds: float = 10.0, sample_rate: int = 44100, seed: int = 0,
    held_out: int = 1,
) -> dict[str, Path]:
    """Write a Clotho-format corpus of every kind in :data:`SOUNDS` under ``folder``.

    Per kind, ``takes`` different takes; the last ``held_out`` go to evaluation, the one
    before them to validation, the rest to development. Writes
    ``clotho_captions_{split}.csv`` and ``{split}/{kind}_{take}.wav``; returns the CSV path
    of each split.
    """
    folder = Path(folder)
    if takes < 2 + held_out:
        raise ValueError("takes must leave at least one development take")
    csvs = {}
    rows: dict[str, list[list[str]]] = {split: [] for split in CLOTHO_SPLITS}
    for kind_index, (kind, make) in enumerate(SOUNDS.items()):
        for take in range(takes):
            split = ("evaluation" if take >= takes - held_out else
                     "validation" if take == takes - held_out - 1 else "development")
            name = f"{kind}_{take:02d}.wav"
            (folder / split).mkdir(parents=True, exist_ok=True)
            audio = make(seconds, sample_rate, seed=seed * 1000 + kind_index * 100 + take, peak=0.5)
            write_audio(folder / split / name, audio[None], sample_rate)
            captions = CAPTIONS[kind]
            rows[split].append([name] + [captions[(take + i) % len(captions)] for i in range(5)])
    for split, split_rows in rows.items():
        path = folder / f"clotho_captions_{split}.csv"
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["file_name"] + [f"caption_{i}" for i in range(1, 6)])
            writer.writerows(split_rows)
        csvs[split] = path
    return csvs
