"""Small synthetic corpora in every input format the dataset builder reads (helpers for tests/data)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from sonicmotion.data.synth import noise_bursts, siren

RATE = 44100


def write_sound(path: Path, seconds: float, seed: int, rate: int = RATE, channels: int = 2,
                lead_silence: float = 0.0) -> Path:
    """A stereo (or mono) 16-bit WAV/FLAC of a siren or noise bursts with optional leading silence."""
    make = siren if seed % 2 == 0 else noise_bursts
    sound = make(seconds, rate, seed=seed)
    sound = np.concatenate([np.zeros(int(lead_silence * rate), np.float32), sound])
    data = np.stack([sound * (0.6 + 0.1 * c) for c in range(channels)], axis=1)
    sf.write(path, data, rate, subtype="PCM_16")
    return path


def make_clotho(root: Path, split_name: str = "development", count: int = 3, seed: int = 0) -> tuple[Path, Path]:
    audio = root / f"clotho_{split_name}"
    audio.mkdir(parents=True, exist_ok=True)
    table = root / f"clotho_captions_{split_name}.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_name"] + [f"caption_{i}" for i in range(1, 6)])
        for i in range(count):
            name = f"{split_name} clip {i}.wav"
            write_sound(audio / name, 2.0 + 0.5 * i, seed + i)
            writer.writerow([name] + [f"A sound number {i} caption {k}." for k in range(1, 6)])
    return table, audio


def make_audiocaps(root: Path, split_name: str = "train", count: int = 3, seed: int = 100) -> tuple[Path, Path]:
    audio = root / f"audiocaps_{split_name}"
    audio.mkdir(parents=True, exist_ok=True)
    table = root / f"{split_name}.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["audiocap_id", "youtube_id", "start_time", "caption"])
        for i in range(count):
            youtube = f"yt{split_name}{i:03d}"
            write_sound(audio / f"Y{youtube}.wav", 3.0, seed + i)
            writer.writerow([1000 * seed + 2 * i, youtube, 30, f"A car passes by {i}"])
            writer.writerow([1000 * seed + 2 * i + 1, youtube, 30, f"A vehicle drives past {i}"])
    return table, audio


def make_wavcaps(root: Path, count: int = 3, seed: int = 200) -> tuple[Path, Path]:
    audio = root / "freesound"
    audio.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(count):
        source_id = str(50000 + i)
        write_sound(audio / f"{source_id}.flac", 1.5, seed + i, rate=48000, channels=1)
        # As in WavCaps: file_name is the uploader's original name, audio a placeholder.
        items.append({"id": source_id, "file_name": f"Garden birds {i}.wav", "audio": "wav_path",
                      "caption": f"Birds chirp in a garden {i}.", "duration": 1.5})
    table = root / "fsd_final.json"
    table.write_text(json.dumps({"num_captions_per_audio": 1, "data": items}))
    return table, audio


def make_manifest(root: Path, count: int = 3, seed: int = 300, jsonl: bool = True) -> Path:
    audio = root / "mine"
    audio.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        write_sound(audio / f"m{i}.wav", 2.5, seed + i, rate=22050)
        split = "test" if i == 0 else "train"
        rows.append({"path": f"mine/m{i}.wav", "caption": f"Footsteps on gravel {i}", "split": split})
    if jsonl:
        path = root / "manifest.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path = root / "manifest.csv"
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, ["path", "caption", "split"])
            writer.writeheader()
            writer.writerows(rows)
    return path
