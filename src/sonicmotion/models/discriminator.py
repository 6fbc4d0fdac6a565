"""Multi-scale STFT discriminator (EnCodec-style) that sees all four FOA channels jointly.

Each scale takes the complex STFT of every channel, stacks real and imaginary parts as
2 · C input planes [B, 2C, frames, bins] and runs a small 2-D conv stack. Because all
channels enter one convolution, the discriminator can judge inter-channel (spatial)
relations, which per-channel spectral losses cannot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

from sonicmotion.errors import SonicMotionError
from sonicmotion.yaml_config import config_from_dict, config_to_dict


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Scales and width. Defaults: Stable Audio Open's VAE discriminator (filters 64)."""

    channels: int = 64
    n_ffts: tuple[int, ...] = (2048, 1024, 512, 256, 128)
    hop_lengths: tuple[int, ...] = (512, 256, 128, 64, 32)
    win_lengths: tuple[int, ...] = (2048, 1024, 512, 256, 128)
    dilations: tuple[int, ...] = (1, 2, 4)

    def __post_init__(self) -> None:
        if not (len(self.n_ffts) == len(self.hop_lengths) == len(self.win_lengths)) or not self.n_ffts:
            raise SonicMotionError("discriminator config: n_ffts, hop_lengths and win_lengths need equal, non-zero length")

    @classmethod
    def from_dict(cls, data: dict, where: str = "discriminator") -> "DiscriminatorConfig":
        return config_from_dict(cls, data, where)

    def to_dict(self) -> dict:
        return config_to_dict(self)


class StftScaleDiscriminator(nn.Module):
    """One STFT resolution: [B, C, T] -> logits [B, 1, frames', bins'] and intermediate features."""

    def __init__(self, audio_channels: int, channels: int, n_fft: int, hop_length: int, win_length: int,
                 dilations: tuple[int, ...]):
        super().__init__()
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        kernel, pad = (3, 9), (1, 4)
        layers = [nn.Conv2d(2 * audio_channels, channels, kernel, padding=pad)]
        for dilation in dilations:
            # Dilate along time, stride 2 along frequency (EnCodec's MS-STFT discriminator).
            layers.append(nn.Conv2d(channels, channels, kernel, stride=(1, 2), dilation=(dilation, 1),
                                    padding=(dilation, 4)))
        layers.append(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1)))
        self.convs = nn.ModuleList(weight_norm(layer) for layer in layers)
        self.conv_post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, t = audio.shape
        spec = torch.stft(
            audio.reshape(b * c, t).float(), self.n_fft, self.hop_length, self.win_length,
            window=self.window, return_complex=True, normalized=True,
        )  # [B·C, bins, frames]
        spec = torch.view_as_real(spec).reshape(b, c, *spec.shape[-2:], 2)
        x = spec.permute(0, 1, 4, 3, 2).reshape(b, 2 * c, spec.shape[3], spec.shape[2])  # [B, 2C, frames, bins]
        x = x.to(audio.dtype)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
            features.append(x)
        return self.conv_post(x), features


class DiscriminatorOutput(NamedTuple):
    logits: list[torch.Tensor]  # one [B, 1, frames, bins] per scale
    features: list[list[torch.Tensor]]  # per scale, per layer


class MultiScaleStftDiscriminator(nn.Module):
    """All scales of :class:`StftScaleDiscriminator` on [B, C, T] audio."""

    def __init__(self, config: DiscriminatorConfig, audio_channels: int):
        super().__init__()
        self.config = config
        self.audio_channels = audio_channels
        self.scales = nn.ModuleList(
            StftScaleDiscriminator(audio_channels, config.channels, n, h, w, config.dilations)
            for n, h, w in zip(config.n_ffts, config.hop_lengths, config.win_lengths)
        )

    def forward(self, audio: torch.Tensor) -> DiscriminatorOutput:
        if audio.ndim != 3 or audio.shape[1] != self.audio_channels:
            raise SonicMotionError(
                f"discriminator input must be [B, {self.audio_channels}, T], got {tuple(audio.shape)}"
            )
        logits, features = [], []
        for scale in self.scales:
            out, feats = scale(audio)
            logits.append(out)
            features.append(feats)
        return DiscriminatorOutput(logits, features)


# ---- hinge and feature-matching losses -------------------------------------------------------

def discriminator_hinge_loss(real: DiscriminatorOutput, fake: DiscriminatorOutput) -> torch.Tensor:
    """Σ over scales of mean(relu(1 - D(x))) + mean(relu(1 + D(x̂)))."""
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real.logits, fake.logits))


def generator_hinge_loss(fake: DiscriminatorOutput) -> torch.Tensor:
    """Σ over scales of mean(relu(1 - D(x̂))) (EnCodec's generator hinge)."""
    return sum(F.relu(1 - f).mean() for f in fake.logits)


def feature_matching_loss(real: DiscriminatorOutput, fake: DiscriminatorOutput) -> torch.Tensor:
    """Σ over scales of the mean over layers of L1(features(x), features(x̂)); real features detached."""
    total = 0.0
    for real_layers, fake_layers in zip(real.features, fake.features):
        total = total + sum(F.l1_loss(f, r.detach()) for r, f in zip(real_layers, fake_layers)) / len(real_layers)
    return total
