"""The spatial autoencoder: an Oobleck/DAC-style 1-D convolutional VAE for 4-channel FOA.

Paper §2.3: DAC's encoder/decoder with the residual vector quantiser replaced by a
continuous VAE bottleneck and no final tanh. The paper size (``configs/autoencoder/paper.yaml``)
maps [B, 4, T] FuMa audio at 16 kHz to [B, 64, T / 2048] latents (about 156 M parameters).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from sonicmotion.audio import SAMPLE_RATE
from sonicmotion.errors import SonicMotionError
from sonicmotion.models.layers import DecoderBlock, EncoderBlock, SnakeBeta, WeightNormConv1d
from sonicmotion.runs import resolve_checkpoint
from sonicmotion.yaml_config import config_from_dict, config_to_dict, load_yaml


@dataclass(frozen=True)
class AutoencoderConfig:
    """Shape of the autoencoder. The downsampling ratio is the product of ``strides``."""

    audio_channels: int = 4
    sample_rate: int = SAMPLE_RATE
    base_channels: int = 128
    channel_multipliers: tuple[int, ...] = (1, 2, 4, 8, 16)
    strides: tuple[int, ...] = (2, 4, 4, 8, 8)
    latent_channels: int = 64
    # Recompute each block's activations in the backward pass: less memory, ~30% more time.
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        if len(self.channel_multipliers) != len(self.strides):
            raise SonicMotionError(
                f"autoencoder config: {len(self.channel_multipliers)} channel_multipliers but "
                f"{len(self.strides)} strides; give one multiplier per stride"
            )
        if any(s < 1 for s in self.strides) or self.base_channels < 1 or self.latent_channels < 1:
            raise SonicMotionError("autoencoder config: strides, base_channels and latent_channels must be >= 1")
        if any(s % 2 for s in self.strides if s > 1):
            # An odd stride makes the transposed convolution's output length differ from T·stride.
            raise SonicMotionError(f"autoencoder config: strides must be even (got {list(self.strides)})")

    @property
    def downsampling_ratio(self) -> int:
        return math.prod(self.strides)

    @classmethod
    def from_dict(cls, data: dict, where: str = "model") -> "AutoencoderConfig":
        return config_from_dict(cls, data, where)

    def to_dict(self) -> dict:
        return config_to_dict(self)


class Encoder(nn.Module):
    """[B, audio_channels, T] -> [B, 2 · latent_channels, T / ratio] (mean and scale of the posterior)."""

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        widths = [config.base_channels * m for m in (1, *config.channel_multipliers)]
        self.conv_in = WeightNormConv1d(config.audio_channels, widths[0], 7, padding=3)
        self.blocks = nn.ModuleList(
            EncoderBlock(widths[i], widths[i + 1], stride) for i, stride in enumerate(config.strides)
        )
        self.act_out = SnakeBeta(widths[-1])
        self.conv_out = WeightNormConv1d(widths[-1], 2 * config.latent_channels, 3, padding=1)
        self.gradient_checkpointing = config.gradient_checkpointing

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(audio)
        for block in self.blocks:
            x = _run_block(block, x, self.gradient_checkpointing and self.training)
        return self.conv_out(self.act_out(x))


class Decoder(nn.Module):
    """[B, latent_channels, frames] -> [B, audio_channels, frames · ratio]. No final tanh (paper §2.3)."""

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        widths = [config.base_channels * m for m in (1, *config.channel_multipliers)][::-1]
        self.conv_in = WeightNormConv1d(config.latent_channels, widths[0], 7, padding=3)
        self.blocks = nn.ModuleList(
            DecoderBlock(widths[i], widths[i + 1], stride) for i, stride in enumerate(reversed(config.strides))
        )
        self.act_out = SnakeBeta(widths[-1])
        self.conv_out = WeightNormConv1d(widths[-1], config.audio_channels, 7, padding=3, bias=False)
        self.gradient_checkpointing = config.gradient_checkpointing

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(latents)
        for block in self.blocks:
            x = _run_block(block, x, self.gradient_checkpointing and self.training)
        return self.conv_out(self.act_out(x))


def _run_block(block: nn.Module, x: torch.Tensor, use_checkpoint: bool) -> torch.Tensor:
    if use_checkpoint and x.requires_grad:
        return checkpoint(block, x, use_reentrant=False)
    return block(x)


class Posterior(NamedTuple):
    """Diagonal Gaussian over latents, both [B, C, frames]."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def from_encoder_output(cls, h: torch.Tensor) -> "Posterior":
        mean, scale = h.chunk(2, dim=1)
        # softplus keeps std positive; 1e-4 bounds log(var) from below (Stable Audio's VAE).
        return cls(mean, F.softplus(scale) + 1e-4)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * noise

    def kl(self) -> torch.Tensor:
        """2 · KL(q || N(0, 1)) summed over latent channels, averaged over batch and frames (scalar).

        Without the usual 1/2, as Stable Audio's VAE computes it, so its β_kl = 1e-4 carries over.
        """
        var = self.std.square()
        return (self.mean.square() + var - var.log() - 1.0).sum(1).mean()


class AutoencoderOutput(NamedTuple):
    reconstruction: torch.Tensor  # [B, audio_channels, T]
    latents: torch.Tensor  # [B, latent_channels, frames]
    kl: torch.Tensor  # scalar


class SpatialAutoencoder(nn.Module):
    """Oobleck-style VAE for FOA: ``encode`` [B, 4, T] -> [B, C, ceil(T / ratio)], ``decode`` back.

    Lengths not divisible by ``downsampling_ratio`` are zero-padded at the end before
    encoding; pass ``num_samples`` to :meth:`decode` (or use :meth:`forward`) to crop back.
    """

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    @property
    def downsampling_ratio(self) -> int:
        return self.config.downsampling_ratio

    @property
    def latent_channels(self) -> int:
        return self.config.latent_channels

    @property
    def io_channels(self) -> int:
        return self.config.audio_channels

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def _check_audio(self, audio: torch.Tensor) -> None:
        if audio.ndim != 3 or audio.shape[1] != self.io_channels:
            raise SonicMotionError(
                f"autoencoder input must be [B, {self.io_channels}, T] audio, got shape {tuple(audio.shape)}"
            )

    def pad(self, audio: torch.Tensor) -> torch.Tensor:
        """Zero-pad [B, C, T] at the end to a multiple of the downsampling ratio."""
        extra = -audio.shape[-1] % self.downsampling_ratio
        return F.pad(audio, (0, extra)) if extra else audio

    def posterior(self, audio: torch.Tensor) -> Posterior:
        """The encoder's Gaussian over latents for [B, 4, T] audio (padded as needed)."""
        self._check_audio(audio)
        return Posterior.from_encoder_output(self.encoder(self.pad(audio)))

    def encode(
        self, audio: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """[B, 4, T] -> latents [B, C, ceil(T / ratio)]: the posterior mean, or a sample."""
        posterior = self.posterior(audio)
        return posterior.sample(generator) if sample else posterior.mean

    def decode(self, latents: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
        """[B, C, frames] -> [B, 4, frames · ratio], cropped to ``num_samples`` if given."""
        if latents.ndim != 3 or latents.shape[1] != self.latent_channels:
            raise SonicMotionError(
                f"latents must be [B, {self.latent_channels}, frames], got shape {tuple(latents.shape)}"
            )
        audio = self.decoder(latents)
        return audio[..., :num_samples] if num_samples is not None else audio

    def forward(
        self, audio: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None
    ) -> AutoencoderOutput:
        """Training pass: encode (sampling the posterior by default), decode, crop to T."""
        posterior = self.posterior(audio)
        latents = posterior.sample(generator) if sample else posterior.mean
        reconstruction = self.decode(latents, audio.shape[-1])
        return AutoencoderOutput(reconstruction, latents, posterior.kl())

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


# ---- configs, files and run folders ------------------------------------------------------------

WEIGHTS_FORMAT = "sonicmotion-autoencoder-v1"


def load_autoencoder_config(path: str | os.PathLike) -> AutoencoderConfig:
    """The ``model:`` section of an autoencoder YAML (e.g. ``configs/autoencoder/paper.yaml``)."""
    data = load_yaml(path)
    if "model" not in data:
        raise SonicMotionError(f"{path}: no 'model' section")
    return AutoencoderConfig.from_dict(data["model"], f"{Path(path).name}:model")


def save_autoencoder(model: SpatialAutoencoder, path: str | os.PathLike, extra: dict | None = None) -> None:
    """Write weights and config to one self-describing safetensors file (atomically)."""
    import json

    from sonicmotion.files import write_safetensors

    metadata = {"format": WEIGHTS_FORMAT, "config": json.dumps(model.config.to_dict())}
    metadata.update({k: str(v) for k, v in (extra or {}).items()})
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    write_safetensors(path, tensors, metadata)


def autoencoder_weights_file(run_dir_or_checkpoint: str | os.PathLike, weights: str = "ema") -> Path:
    """The ``.safetensors`` file behind a run folder (latest checkpoint), checkpoint folder or file."""
    path = Path(run_dir_or_checkpoint)
    if path.is_dir():
        folder = resolve_checkpoint(path)
        candidates = [folder / f"{weights}.safetensors", folder / "generator.safetensors"]
        path = next((c for c in candidates if c.is_file()), candidates[0])
    if not path.is_file():
        raise SonicMotionError(f"{path}: no autoencoder weights there (expected a run folder or .safetensors file)")
    return path


def autoencoder_metadata(run_dir_or_checkpoint: str | os.PathLike, weights: str = "ema") -> dict[str, str]:
    """The string metadata saved beside an autoencoder's weights (format, config, run settings)."""
    from sonicmotion.files import read_safetensors_metadata

    path = autoencoder_weights_file(run_dir_or_checkpoint, weights)
    return _checked_metadata(path, read_safetensors_metadata(path, "autoencoder weights"))


def _checked_metadata(path: Path, metadata: dict[str, str]) -> dict[str, str]:
    if metadata.get("format") != WEIGHTS_FORMAT:
        raise SonicMotionError(
            f"{path}: not a SonicMotion autoencoder file (format {metadata.get('format')!r}, "
            f"expected {WEIGHTS_FORMAT!r}); diffusers weights load with "
            "sonicmotion.models.interop.load_diffusers_oobleck"
        )
    return metadata


def load_autoencoder(
    run_dir_or_checkpoint: str | os.PathLike, weights: str = "ema", device: str | torch.device = "cpu"
) -> tuple[SpatialAutoencoder, AutoencoderConfig]:
    """Load a trained autoencoder in eval mode from a run folder, checkpoint folder or file.

    A run folder resolves to its latest checkpoint; a checkpoint folder to its ``ema``
    weights (``weights="generator"`` for the raw ones); a ``.safetensors`` file is read as is.
    """
    import json

    from sonicmotion.files import read_safetensors

    path = autoencoder_weights_file(run_dir_or_checkpoint, weights)
    tensors, metadata = read_safetensors(path, "autoencoder weights")  # the file is opened once
    metadata = _checked_metadata(path, metadata)
    config = AutoencoderConfig.from_dict(json.loads(metadata["config"]), f"{path.name}:config")
    model = SpatialAutoencoder(config)
    model.load_state_dict(tensors)
    return model.to(device).eval(), config
