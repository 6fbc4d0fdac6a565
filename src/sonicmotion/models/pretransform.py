"""Pretransforms: the invertible maps between FOA audio [B, 4, T] and diffusion latents.

Two kinds share one contract (``encode``/``decode``, ``downsampling_ratio``,
``latent_channels``, ``io_channels``):

- :class:`PatchPretransform` — a lossless reshape that folds ``patch_size`` consecutive
  samples of each of the 4 channels into latent channels (4 * patch_size), times a
  constant ``scale``. No training, exact inverse; good for fast experiments and for
  tests that must not depend on a trained autoencoder.
- the spatial autoencoder of ``sonicmotion.models.autoencoder`` (loaded from its run folder).

:func:`load_pretransform` builds either from a spec string.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sonicmotion.errors import SonicMotionError

FOA_CHANNELS = 4


class PatchPretransform(nn.Module):
    """Fold ``patch_size`` samples x 4 channels into one latent frame of 4 * patch_size values.

    ``encode``: [B, 4, T] -> [B, 4 * patch_size, ceil(T / patch_size)] (zero-padded at the end);
    ``decode``: [B, 4 * patch_size, F] -> [B, 4, F * patch_size]. Latent channel
    ``c * patch_size + k`` holds sample ``k`` of the frame in audio channel ``c``, so each
    audio channel is a contiguous block. ``scale`` multiplies on encode and divides on
    decode, to bring typical audio (peak ~0.5) to roughly unit variance.
    """

    def __init__(self, patch_size: int, scale: float = 1.0):
        super().__init__()
        if patch_size < 1:
            raise SonicMotionError(f"patch size must be a positive number of samples, got {patch_size}")
        if not (math.isfinite(scale) and scale > 0):
            raise SonicMotionError(f"patch scale must be a positive number, got {scale}")
        self.patch_size = int(patch_size)
        self.scale = float(scale)
        self.downsampling_ratio = self.patch_size
        self.latent_channels = FOA_CHANNELS * self.patch_size
        self.io_channels = FOA_CHANNELS

    @property
    def spec(self) -> str:
        return f"patch:{self.patch_size}:{self.scale:g}"

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, 4, T] -> [B, 4 * patch_size, ceil(T / patch_size)]."""
        if audio.ndim != 3 or audio.shape[1] != FOA_CHANNELS:
            raise SonicMotionError(f"expected FOA audio [B, 4, T], got shape {tuple(audio.shape)}")
        batch, _, length = audio.shape
        frames = -(-length // self.patch_size)
        pad = frames * self.patch_size - length
        if pad:
            audio = torch.nn.functional.pad(audio, (0, pad))
        patches = audio.reshape(batch, FOA_CHANNELS, frames, self.patch_size)
        return patches.permute(0, 1, 3, 2).reshape(batch, self.latent_channels, frames) * self.scale

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """[B, 4 * patch_size, F] -> [B, 4, F * patch_size]."""
        if latents.ndim != 3 or latents.shape[1] != self.latent_channels:
            raise SonicMotionError(
                f"expected latents [B, {self.latent_channels}, F], got shape {tuple(latents.shape)}"
            )
        batch, _, frames = latents.shape
        patches = latents.reshape(batch, FOA_CHANNELS, self.patch_size, frames).permute(0, 1, 3, 2)
        return patches.reshape(batch, FOA_CHANNELS, frames * self.patch_size) / self.scale


def parse_patch_spec(spec: str) -> PatchPretransform | None:
    """``"patch:N"`` or ``"patch:N:SCALE"`` -> a :class:`PatchPretransform`; other specs -> None."""
    if not spec.startswith("patch:"):
        return None
    fields = spec.split(":")[1:]
    try:
        if len(fields) not in (1, 2):
            raise ValueError
        patch = int(fields[0])
        scale = float(fields[1]) if len(fields) == 2 else 1.0
    except ValueError:
        raise SonicMotionError(f"pretransform {spec!r} must read patch:N or patch:N:SCALE") from None
    return PatchPretransform(patch, scale)


def load_pretransform(spec: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """A frozen pretransform from ``"patch:N[:SCALE]"`` or an autoencoder run folder / checkpoint.

    Returns ``(module, description)``; the description is JSON-ready and records what was loaded.
    """
    text = str(spec)
    patch = parse_patch_spec(text)
    if patch is not None:
        return patch.eval().requires_grad_(False), {"type": "patch", "spec": patch.spec}
    path = Path(text)
    if not path.exists():
        raise SonicMotionError(
            f"autoencoder {text!r} not found: give an autoencoder training run folder or checkpoint, "
            "or 'patch:N[:SCALE]' for the lossless patch pretransform"
        )
    try:
        from sonicmotion.models.autoencoder import load_autoencoder
    except ImportError as err:  # the autoencoder module ships with the autoencoder issue
        raise SonicMotionError(f"cannot load autoencoder {text!r}: {err}") from None
    model, config = load_autoencoder(path)
    for name in ("downsampling_ratio", "latent_channels", "io_channels"):
        if not hasattr(model, name):
            raise SonicMotionError(f"autoencoder {text!r} lacks attribute {name!r}")
    if model.io_channels != FOA_CHANNELS:
        raise SonicMotionError(f"autoencoder {text!r} has {model.io_channels} audio channels, expected 4 (FOA)")
    model = model.eval().requires_grad_(False)
    return model, {"type": "autoencoder", "path": str(path.resolve())}
