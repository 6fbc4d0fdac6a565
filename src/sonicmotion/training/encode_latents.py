"""Pre-encode dataset shards into latent shards with a trained autoencoder (resumable).

Each input shard ``DATA/{split}/{split}-{i}.tar`` becomes ``OUT/{split}/{split}-{i}.tar``;
a finished output shard is skipped on a re-run, so an interrupted job resumes where it
stopped. Latents are posterior means (deterministic), stored as float16.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

import torch

from sonicmotion.data.latents import write_latent_shard
from sonicmotion.data.loader import audio_batches
from sonicmotion.errors import SonicMotionError


def encode_shards(
    model,
    shards: list[Path],
    out_dir: str | os.PathLike,
    read_shard: Callable[[Path], Iterable[dict]],
    autoencoder_name: str,
    batch_size: int = 8,
    device: str = "cpu",
    progress: bool = True,
    frame_multiple: int = 16,
) -> dict[str, int]:
    """Encode every shard; returns counts ``{"shards_written", "shards_skipped", "samples"}``.

    Audio is padded with silence to whole latent frames, up to a multiple of
    ``frame_multiple`` frames, exactly as the diffusion trainer pads audio it encodes
    itself: 10 s at ratio 2048 gives 80 frames either way."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    model = model.to(device).eval()
    counts = {"shards_written": 0, "shards_skipped": 0, "samples": 0}
    latent_info = {"autoencoder": autoencoder_name, "downsampling_ratio": model.downsampling_ratio,
                   "latent_channels": model.latent_channels}
    bar = tqdm(shards, desc="encode latents", unit="shard", disable=not progress)
    for shard in bar:
        split = shard.parent.name
        target = out_dir / split / shard.name
        if target.is_file():
            counts["shards_skipped"] += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)

        def items():
            for batch, audio in audio_batches(read_shard(shard), batch_size):
                yield from _encode_batch(model, batch, audio, latent_info, device, frame_multiple)

        counts["samples"] += write_latent_shard(target, items())
        counts["shards_written"] += 1
        bar.set_postfix(samples=counts["samples"])
    return counts


@torch.no_grad()
def encode_whole_frames(pretransform, audio: torch.Tensor, frame_multiple: int) -> tuple[torch.Tensor, int]:
    """[B, C, T] audio -> ([B, D, F] float32 latents, F): the audio is padded with silence to
    F x ratio samples, F = whole latent frames up to a multiple of ``frame_multiple`` (10 s at
    16 kHz, ratio 2048, multiple 16: 163,840 samples, 80 frames). The one way audio becomes
    latents for training, whether encoded ahead (latent shards) or during a step."""
    from sonicmotion.models.pretransform import latent_frames

    ratio = pretransform.downsampling_ratio
    frames = latent_frames(audio.shape[-1], ratio, frame_multiple)
    audio = torch.nn.functional.pad(audio, (0, frames * ratio - audio.shape[-1]))
    return pretransform.encode(audio).float(), frames


def _encode_batch(model, batch: list[dict], audio: torch.Tensor, latent_info: dict, device: str,
                  frame_multiple: int):
    audio = audio.to(device)
    if audio.shape[1] != model.io_channels:
        raise SonicMotionError(f"samples have {audio.shape[1]} channels, the autoencoder expects {model.io_channels}")
    samples = int(audio.shape[-1])
    latents = encode_whole_frames(model, audio, frame_multiple)[0].cpu().numpy()
    for sample, latent in zip(batch, latents):
        metadata = dict(sample.get("metadata") or {})
        metadata["latent"] = dict(latent_info, num_samples=samples)
        yield sample["key"], latent, metadata
