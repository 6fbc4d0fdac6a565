"""Latent shards: pre-encoded autoencoder latents, so diffusion training skips the encoder.

Format (shared contract): tar files ``DIR/{split}/{split}-{index:06d}.tar`` holding per
sample ``{key}.npy`` (float16 latents [C, frames]) and ``{key}.json`` (the sample's
metadata plus ``"latent": {"autoencoder", "downsampling_ratio", "latent_channels",
"num_samples"}``). Members are written in input order with fixed tar headers, so the
same inputs give the same bytes.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from sonicmotion.errors import SonicMotionError
from sonicmotion.files import atomic_path


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(payload), 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(payload))


def write_latent_shard(path: str | os.PathLike, items: Iterable[tuple[str, np.ndarray, dict]]) -> int:
    """Write (key, latents [C, frames], metadata) items to one tar atomically; returns the count."""
    count = 0
    with atomic_path(path) as tmp:
        with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for key, latents, metadata in items:
                if "/" in key or not key:
                    raise SonicMotionError(f"invalid sample key {key!r} for a latent shard")
                buffer = io.BytesIO()
                np.save(buffer, np.ascontiguousarray(latents, dtype=np.float16))
                _add(tar, f"{key}.npy", buffer.getvalue())
                _add(tar, f"{key}.json", json.dumps(metadata, sort_keys=True).encode())
                count += 1
    return count


def read_latent_shard(path: str | os.PathLike) -> Iterator[tuple[str, np.ndarray, dict]]:
    """Yield (key, float16 latents [C, frames], metadata) from one latent shard, in order."""
    path = Path(path)
    if not path.is_file():
        raise SonicMotionError(f"{path}: no such latent shard")
    with tarfile.open(path) as tar:
        pending: dict[str, dict] = {}
        for member in tar:
            key, _, suffix = member.name.rpartition(".")
            data = tar.extractfile(member).read()
            entry = pending.setdefault(key, {})
            entry[suffix] = np.load(io.BytesIO(data)) if suffix == "npy" else json.loads(data)
            if "npy" in entry and "json" in entry:
                yield key, entry["npy"], entry["json"]
                del pending[key]
        if pending:
            raise SonicMotionError(f"{path}: incomplete samples {sorted(pending)[:3]}")
