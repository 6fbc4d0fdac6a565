"""Training data for the diffusion model: FOA audio shards or pre-encoded latent shards.

Both are WebDataset-style tar shards ``DIR/{split}/{split}-{index:06d}.tar`` (see the
dataset and autoencoder docs). Audio shards are read by the dataset package's
``FoaShardDataset``; latent shards (``{key}.npy`` float16 [C, frames] + ``{key}.json``)
by :class:`LatentShardDataset` here. A stream is a deterministic function of the seed
and the epoch, so a resumed run can skip exactly the samples it has already used.
"""

from __future__ import annotations

import io
import json
import tarfile
from itertools import count
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

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


class LatentShardDataset(torch.utils.data.IterableDataset):
    """Pre-encoded latent shards -> dicts with ``latents`` [C, F] float32 and the captions.

    ``shuffle`` permutes shard order and samples within a shard (seeded by ``seed``).
    """

    def __init__(self, urls: list[str], shuffle: bool = True, seed: int = 0):
        super().__init__()
        self.urls, self.shuffle, self.seed = list(urls), shuffle, seed

    def __iter__(self) -> Iterator[dict]:
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(self.urls)) if self.shuffle else range(len(self.urls))
        for index in order:
            samples = list(self._read(self.urls[index]))
            for j in (rng.permutation(len(samples)) if self.shuffle else range(len(samples))):
                yield samples[j]

    @staticmethod
    def _read(url: str) -> Iterator[dict]:
        groups: dict[str, dict] = {}
        with tarfile.open(url) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, _, ext = member.name.rpartition(".")
                groups.setdefault(key, {})[ext] = tar.extractfile(member).read()
        for key in sorted(groups):
            parts = groups[key]
            if "npy" not in parts or "json" not in parts:
                raise SonicMotionError(f"{url}: sample {key!r} lacks its .npy or .json member")
            yield _latent_sample(key, np.load(io.BytesIO(parts["npy"])), json.loads(parts["json"]))


def check_latent_metadata(sample: dict, downsampling_ratio: int, latent_channels: int, url: str) -> None:
    latent = sample["metadata"].get("latent", {})
    if latent.get("downsampling_ratio") != downsampling_ratio or latent.get("latent_channels") != latent_channels:
        raise SonicMotionError(
            f"{url}: latents were made with ratio {latent.get('downsampling_ratio')} and "
            f"{latent.get('latent_channels')} channels, but the autoencoder has ratio {downsampling_ratio} "
            f"and {latent_channels} channels; re-encode them with this autoencoder"
        )


def shard_dataset_factory(urls: list[str], latents: bool, seed: int) -> Callable[[int], Iterable[dict]]:
    """epoch -> a fresh, shuffled pass over the shards (seed + epoch)."""
    if latents:
        return lambda epoch: LatentShardDataset(urls, shuffle=True, seed=seed + epoch)

    def audio(epoch: int) -> Iterable[dict]:
        try:
            from sonicmotion.data.loader import FoaShardDataset
        except ImportError as err:
            raise SonicMotionError(f"training from audio shards needs sonicmotion.data.loader ({err})") from None
        return FoaShardDataset(urls, crop_seconds=None, shuffle=True, seed=seed + epoch)

    return audio


def sample_stream(
    make_dataset: Callable[[int], Iterable[dict]], skip: int = 0, shard: tuple[int, int] = (0, 1)
) -> Iterator[dict]:
    """Endless samples over epochs, the first ``skip`` left out (for exact resume).

    ``shard = (rank, world)`` keeps every world-th sample for data-parallel processes.
    """
    rank, world = shard
    seen = 0
    for epoch in count():
        empty = True
        for sample in make_dataset(epoch):
            empty = False
            index, seen = seen, seen + 1
            if index < skip or index % world != rank:
                continue
            yield sample
        if empty:
            raise SonicMotionError("the training data yielded no samples")


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
