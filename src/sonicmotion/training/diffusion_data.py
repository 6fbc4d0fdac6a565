"""Training data for the diffusion model: FOA audio shards or pre-encoded latent shards.

Both are WebDataset-style tar shards ``DIR/{split}/{split}-{index:06d}.tar`` (see the
dataset and autoencoder docs). Audio shards are read by the dataset package's
``FoaShardDataset``; latent shards (``{key}.npy`` float16 [C, frames] + ``{key}.json``)
by :class:`LatentShardDataset` here; both split themselves over processes and workers and
resume mid-epoch (see ``training/batches.py``).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from sonicmotion.data.loader import ShardSampleDataset
from sonicmotion.errors import SonicMotionError


def shard_urls(data: str | Path, split: str = "train") -> list[str]:
    """Tar shards of ``split`` under ``data`` (a dataset folder, a split folder or one tar)."""
    path = Path(data)
    if path.is_file() and path.suffix == ".tar":
        return [str(path)]
    for folder in (path / split, path):
        urls = sorted(str(p) for p in folder.glob(f"{split}-*.tar")) if folder.is_dir() else []
        if urls:
            return urls
    if not path.exists():
        raise SonicMotionError(f"training data {str(path)!r} does not exist")
    raise SonicMotionError(f"no {split}-*.tar shards in {str(path)!r} or {str(path / split)!r}")


def is_latent_shards(urls: list[str]) -> bool:
    """True if the first shard holds ``.npy`` latents, False if it holds ``.flac`` audio."""
    with tarfile.open(urls[0]) as tar:
        for member in tar:
            if member.name.endswith(".npy"):
                return True
            if member.name.endswith((".flac", ".wav")):
                return False
    raise SonicMotionError(f"{urls[0]}: holds neither .npy latents nor .flac audio")


def _latent_sample(key: str, array: np.ndarray, meta: dict) -> dict:
    return {
        "latents": torch.from_numpy(array.astype(np.float32)),
        "key": key,
        "caption": meta.get("caption", ""),
        "spatial_caption": meta.get("spatial_caption", meta.get("caption", "")),
        "trajectory": meta.get("trajectory"),
        "seconds_start": 0.0,
        "seconds_total": float(meta.get("num_samples", 160000)) / float(meta.get("sample_rate", 16000)),
        "metadata": meta,
    }


class LatentShardDataset(ShardSampleDataset):
    """Pre-encoded latent shards -> dicts with ``latents`` [C, F] float32 and the captions.

    Split over ranks and workers, shuffled and resumed like the audio loader
    (:class:`~sonicmotion.data.loader.ShardSampleDataset`).
    """

    def _item(self, url: str, key: str, group: dict[str, bytes], rng: np.random.Generator) -> dict:
        if "npy" not in group or "json" not in group:
            raise SonicMotionError(f"{url}: sample {key!r} lacks its .npy or .json member")
        return _latent_sample(key, np.load(io.BytesIO(group["npy"])), json.loads(group["json"]))


def check_latent_metadata(sample: dict, downsampling_ratio: int, latent_channels: int, url: str) -> None:
    latent = sample["metadata"].get("latent", {})
    if latent.get("downsampling_ratio") != downsampling_ratio or latent.get("latent_channels") != latent_channels:
        raise SonicMotionError(
            f"{url}: latents were made with ratio {latent.get('downsampling_ratio')} and "
            f"{latent.get('latent_channels')} channels, but the autoencoder has ratio {downsampling_ratio} "
            f"and {latent_channels} channels; re-encode them with this autoencoder"
        )


def shard_dataset_factory(urls: list[str], latents: bool, seed: int) -> Callable[[int], Iterable[dict]]:
    """epoch -> that epoch's shuffled pass over the shards (split over ranks and workers by the dataset)."""
    from sonicmotion.data.loader import FoaShardDataset

    def make(epoch: int) -> Iterable[dict]:
        dataset = (LatentShardDataset(urls, shuffle=True, seed=seed) if latents
                   else FoaShardDataset(urls, crop_seconds=None, shuffle=True, seed=seed))
        dataset.set_epoch(epoch)
        return dataset

    return make


def collate(samples: list[dict]) -> dict:
    """Stack ``audio`` [B, 4, T] or ``latents`` [B, C, F]; keep other fields as lists."""
    batch: dict = {}
    for name in samples[0]:
        values = [s[name] for s in samples]
        if name in ("audio", "latents"):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) != 1:
                raise SonicMotionError(f"samples in a batch differ in {name} shape: {sorted(shapes)}")
            batch[name] = torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in values])
        else:
            batch[name] = values
    return batch
