"""Latent shards: pre-encoded autoencoder latents, so diffusion training skips the encoder.

The one owner of the format. Tar files ``DIR/{split}/{split}-{index:06d}.tar`` hold per
sample ``{key}.npy`` (float16 latents [C, frames]) and ``{key}.json`` (the sample's
metadata plus ``"latent": {"autoencoder", "downsampling_ratio", "latent_channels",
"num_samples"}``). Members are written in input order with fixed tar headers (through
:class:`~sonicmotion.data.shards.ShardWriter`), so the same inputs give the same bytes.
Written by ``training/encode_latents.py``; read by :class:`LatentShardDataset`, which
splits, shuffles and resumes like the audio loader.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from typing import Callable, Iterable, Iterator

import numpy as np

from sonicmotion.audio import CLIP_SECONDS, SAMPLE_RATE
from sonicmotion.data.loader import ShardSampleDataset
from sonicmotion.data.shards import ShardWriter, iter_tar_samples
from sonicmotion.errors import SonicMotionError
from sonicmotion.files import atomic_path


def write_latent_shard(path: str | os.PathLike, items: Iterable[tuple[str, np.ndarray, dict]]) -> int:
    """Write (key, latents [C, frames], metadata) items to one tar atomically; returns the count."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "wb") as handle, ShardWriter(handle, tarfile.USTAR_FORMAT) as writer:
        for key, latents, metadata in items:
            if not key or "/" in key or "." in key:
                raise SonicMotionError(f"invalid sample key {key!r} for a latent shard (no '/' or '.')")
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(latents, dtype=np.float16))
            writer.add(f"{key}.npy", buffer.getvalue())
            writer.add(f"{key}.json", json.dumps(metadata, sort_keys=True).encode())
            count += 1
    return count


def read_latent_shard(path: str | os.PathLike) -> Iterator[tuple[str, np.ndarray, dict]]:
    """Yield (key, float16 latents [C, frames], metadata) from one local latent shard, in order."""
    if not os.path.isfile(path):
        raise SonicMotionError(f"{path}: no such latent shard")
    with open(path, "rb") as handle:
        for key, group in iter_tar_samples(handle, str(path)):
            if "npy" not in group or "json" not in group:
                raise SonicMotionError(f"{path}: incomplete sample {key!r} (needs .npy and .json)")
            yield key, np.load(io.BytesIO(group["npy"])), json.loads(group["json"])


def holds_latents(shard: str | os.PathLike) -> bool:
    """True if a local shard holds ``.npy`` latents, False if it holds audio (either store)."""
    with open(shard, "rb") as handle:
        for _, group in iter_tar_samples(handle, str(shard)):
            if "npy" in group:
                return True
            if "flac" in group or "wav" in group:
                return False
    raise SonicMotionError(f"{shard}: holds neither .npy latents nor .flac audio")


def latent_sample(key: str, array: np.ndarray, meta: dict) -> dict:
    """A training item: ``latents`` [C, F] float32, the captions and the timing values."""
    import torch

    return {
        "latents": torch.from_numpy(array.astype(np.float32)),
        "key": key,
        "caption": meta.get("caption", ""),
        "spatial_caption": meta.get("spatial_caption", meta.get("caption", "")),
        "trajectory": meta.get("trajectory"),
        "seconds_start": 0.0,
        "seconds_total": float(meta.get("num_samples", CLIP_SECONDS * SAMPLE_RATE))
        / float(meta.get("sample_rate", SAMPLE_RATE)),
        "metadata": meta,
    }


class LatentShardDataset(ShardSampleDataset):
    """Latent shards -> :func:`latent_sample` dicts; split over ranks and workers, shuffled
    and resumed like the audio loader (:class:`~sonicmotion.data.loader.ShardSampleDataset`)."""

    def _item(self, url: str, key: str, group: dict[str, bytes], rng: np.random.Generator) -> dict:
        if "npy" not in group or "json" not in group:
            raise SonicMotionError(f"{url}: sample {key!r} lacks its .npy or .json member")
        return latent_sample(key, np.load(io.BytesIO(group["npy"])), json.loads(group["json"]))


def check_latent_metadata(sample: dict, downsampling_ratio: int, latent_channels: int, url: str) -> None:
    """Refuse latents made by an autoencoder of another ratio or width than the one in use."""
    latent = sample["metadata"].get("latent", {})
    if latent.get("downsampling_ratio") != downsampling_ratio or latent.get("latent_channels") != latent_channels:
        raise SonicMotionError(
            f"{url}: latents were made with ratio {latent.get('downsampling_ratio')} and "
            f"{latent.get('latent_channels')} channels, but the autoencoder has ratio {downsampling_ratio} "
            f"and {latent_channels} channels; re-encode them with this autoencoder"
        )


def shard_dataset_factory(urls: list[str], latents: bool, seed: int) -> Callable[[int], Iterable[dict]]:
    """epoch -> that epoch's shuffled pass over audio (whole clips) or latent shards; the
    dataset splits itself over ranks and workers."""
    from sonicmotion.data.loader import FoaShardDataset

    def make(epoch: int) -> Iterable[dict]:
        dataset = (LatentShardDataset(urls, shuffle=True, seed=seed) if latents
                   else FoaShardDataset(urls, crop_seconds=None, shuffle=True, seed=seed))
        dataset.set_epoch(epoch)
        return dataset

    return make
