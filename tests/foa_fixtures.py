"""Synthetic FOA clips and shards in the dataset format, and a loader-shaped dataset, for tests.

``FakeFoaDataset`` yields exactly what ``sonicmotion.data.loader.FoaShardDataset``
yields; ``write_shards`` writes tar shards in the dataset-shard format.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import torch

from sonicmotion.data.synth import noise_bursts, siren
from sonicmotion.spatial import Trajectory, encode_foa, write_foa

SAMPLE_RATE = 16000


def synthetic_sample(index: int, seconds: float = 1.0, moving: bool = False, seed: int = 0) -> dict:
    """One loader-shaped sample: a siren or noise bursts at a random static or moving position."""
    rng = np.random.default_rng(seed * 1000 + index)
    azimuth = float(rng.uniform(-180, 180))
    elevation = float(rng.uniform(-35, 35))
    if moving:
        trajectory = Trajectory.linear(azimuth, elevation, azimuth + 120, -elevation, "ccw", 0.1 * seconds,
                                       0.9 * seconds)
    else:
        trajectory = Trajectory.static(azimuth, elevation)
    make = siren if index % 2 == 0 else noise_bursts
    mono = make(seconds, SAMPLE_RATE, seed=seed * 1000 + index)
    audio = encode_foa(mono, SAMPLE_RATE, trajectory)
    key = f"clip{index:04d}"
    metadata = {
        "key": key, "source_id": key, "corpus": "synthetic", "split": "train", "caption": "a test sound",
        "captions": ["a test sound"], "spatial_caption": "a test sound on a path",
        "motion": "moving" if moving else "static", "sample_rate": SAMPLE_RATE, "num_samples": audio.shape[1],
        "layout": "fuma", "seed": seed, "trajectory": trajectory.to_dict(),
    }
    return {
        "audio": torch.from_numpy(audio), "key": key, "caption": metadata["caption"],
        "spatial_caption": metadata["spatial_caption"], "trajectory": metadata["trajectory"],
        "seconds_start": 0.0, "seconds_total": seconds, "metadata": metadata,
    }


def _crop(sample: dict, crop_seconds: float | None, rng: np.random.Generator) -> dict:
    if crop_seconds is None:
        return sample
    n = int(round(crop_seconds * SAMPLE_RATE))
    total = sample["audio"].shape[1]
    start = int(rng.integers(0, total - n + 1)) if total > n else 0
    out = dict(sample)
    out["audio"] = sample["audio"][:, start : start + n]
    out["seconds_start"] = start / SAMPLE_RATE
    return out


class FakeFoaDataset(torch.utils.data.IterableDataset):
    """The loader contract over in-memory samples: deterministic shuffle and crops from ``seed``."""

    def __init__(self, samples: list[dict], crop_seconds: float | None, shuffle: bool, seed: int):
        self.samples, self.crop_seconds, self.shuffle, self.seed = samples, crop_seconds, shuffle, seed

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(self.samples)) if self.shuffle else range(len(self.samples))
        for i in order:
            yield _crop(self.samples[i], self.crop_seconds, rng)


def fake_factory(samples: list[dict], training):
    """An autoencoder ``dataset_factory`` (epoch -> samples) over ``samples``: shuffled random
    crops of ``training.crop_seconds``, seeded per epoch as ``shard_epochs`` seeds shards."""
    from sonicmotion.training.autoencoder import epoch_seed

    return lambda epoch: FakeFoaDataset(samples, training.crop_seconds, True, epoch_seed(training.seed, epoch))


def write_shards(root: Path, split: str, samples: list[dict], per_shard: int = 4) -> list[str]:
    """Write ``samples`` as contract tar shards ROOT/{split}/{split}-{index:06d}.tar; returns the paths."""
    folder = Path(root) / split
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard_index in range(0, len(samples), per_shard):
        path = folder / f"{split}-{shard_index // per_shard:06d}.tar"
        with tarfile.open(path, "w") as tar:
            for sample in samples[shard_index : shard_index + per_shard]:
                key = sample["key"]
                flac = folder / f".{key}.flac"
                write_foa(flac, sample["audio"].numpy(), SAMPLE_RATE, "fuma")
                tar.add(flac, arcname=f"{key}.flac")
                flac.unlink()
                meta = json.dumps(dict(sample["metadata"], split=split)).encode()
                info = tarfile.TarInfo(f"{key}.json")
                info.size = len(meta)
                tar.addfile(info, io.BytesIO(meta))
        paths.append(str(path))
    return paths
