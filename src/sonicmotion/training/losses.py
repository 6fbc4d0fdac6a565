"""The autoencoder's training loss: paper Eq. 2 plus an intensity-vector spatial term.

``L = Σ_c λ/4 · MRSTFT(x̂_c, x_c)  (c = W, X, Y, Z)  + β_kl KL + β_adv L_adv + β_fm L_fm
      [+ β_spatial L_intensity]``

Per-channel magnitude spectra cannot see the sign of X, Y, Z relative to W, which is
what separates front from back, left from right, up from down; the intensity term
compares the direction of the frame-wise intensity vector (W·X, W·Y, W·Z) instead.
``strict_eq2: true`` turns it off so the paper's loss can be measured alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from sonicmotion.errors import SonicMotionError
from sonicmotion.yaml_config import config_from_dict, config_to_dict

CHANNEL_NAMES = ("W", "X", "Y", "Z")


@dataclass(frozen=True)
class AutoencoderLossConfig:
    """Weights and settings; defaults are the paper's Eq. 2 with Stable Audio Open's VAE weights
    (see docs/autoencoder.md)."""

    mrstft_weight: float = 1.0  # λ_mrstft, split λ/4 per channel
    fft_sizes: tuple[int, ...] = (2048, 1024, 512, 256, 128, 64, 32)
    hop_sizes: tuple[int, ...] = (512, 256, 128, 64, 32, 16, 8)
    win_lengths: tuple[int, ...] = (2048, 1024, 512, 256, 128, 64, 32)
    perceptual_weighting: bool = True  # auraloss A-weighting FIR before the STFT
    kl_weight: float = 1e-4
    adversarial_weight: float = 0.1
    feature_matching_weight: float = 5.0
    # Generator steps before the adversarial and feature-matching terms (and discriminator updates) start.
    adversarial_warmup_steps: int = 0
    spatial_weight: float = 0.0  # ours, beyond Eq. 2: the intensity-vector term (paper-plus.yaml, tiny.yaml)
    spatial_frame_samples: int = 1024  # 64 ms at 16 kHz
    spatial_hop_samples: int = 512
    strict_eq2: bool = False  # true: train by Eq. 2 only (no spatial term)

    def __post_init__(self) -> None:
        if not (len(self.fft_sizes) == len(self.hop_sizes) == len(self.win_lengths)) or not self.fft_sizes:
            raise SonicMotionError("loss config: fft_sizes, hop_sizes and win_lengths need equal, non-zero length")

    @property
    def uses_spatial_term(self) -> bool:
        return not self.strict_eq2 and self.spatial_weight > 0

    @classmethod
    def from_dict(cls, data: dict, where: str = "loss") -> "AutoencoderLossConfig":
        return config_from_dict(cls, data, where)

    def to_dict(self) -> dict:
        return config_to_dict(self)


class PerChannelMRSTFT(torch.nn.Module):
    """auraloss ``MultiResolutionSTFTLoss`` computed on each channel alone, then averaged.

    Computing it on all channels at once would normalise the spectral-convergence term by
    the total energy, so a quiet channel (Z for sources near the horizon) would hardly count.
    """

    def __init__(self, config: AutoencoderLossConfig, sample_rate: int):
        super().__init__()
        from auraloss.freq import MultiResolutionSTFTLoss

        self.mrstft = MultiResolutionSTFTLoss(
            fft_sizes=list(config.fft_sizes), hop_sizes=list(config.hop_sizes), win_lengths=list(config.win_lengths),
            sample_rate=sample_rate, perceptual_weighting=config.perceptual_weighting,
        )

    def forward(self, reconstruction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """[B, C, T] each -> (mean over channels, per-channel losses)."""
        per_channel = [
            self.mrstft(reconstruction[:, c : c + 1].float(), target[:, c : c + 1].float())
            for c in range(target.shape[1])
        ]
        return torch.stack(per_channel).mean(), per_channel


def frame_intensity(foa: torch.Tensor, frame_samples: int, hop_samples: int) -> torch.Tensor:
    """Frame-wise active intensity of FuMa [B, 4, T]: [B, 3, frames] = mean over each frame of W·(X, Y, Z)."""
    products = foa[:, :1] * foa[:, 1:4]
    return F.avg_pool1d(products, frame_samples, hop_samples)


def intensity_direction_loss(
    reconstruction: torch.Tensor, target: torch.Tensor, frame_samples: int = 1024, hop_samples: int = 512,
    gate: float = 1e-3,
) -> torch.Tensor:
    """L1 between unit intensity vectors of target and reconstruction, over active frames.

    A frame is active if the target's intensity magnitude exceeds ``gate`` times the
    loudest frame of its clip (as the frame-mode DoA metric does). Range [0, 2√3]; 0 when
    every active frame points the same way. Inputs are [B, 4, T] FuMa.
    """
    ref = frame_intensity(target.float(), frame_samples, hop_samples)
    out = frame_intensity(reconstruction.float(), frame_samples, hop_samples)
    ref_norm = ref.norm(dim=1, keepdim=True)  # [B, 1, frames]
    active = (ref_norm > gate * ref_norm.amax(dim=2, keepdim=True)) & (ref_norm > 0)
    ref_unit = ref / ref_norm.clamp_min(1e-12)
    # eps relative to the target's level: a near-silent reconstruction has no direction
    # and should not get a huge gradient from dividing by ~0.
    eps = 1e-4 * ref_norm.amax(dim=2, keepdim=True).clamp_min(1e-12)
    out_unit = out / (out.norm(dim=1, keepdim=True) + eps)
    per_frame = (out_unit - ref_unit).abs().sum(dim=1, keepdim=True)
    weights = active.float()
    return (per_frame * weights).sum() / weights.sum().clamp_min(1.0)


def weighted_total(terms: dict[str, torch.Tensor], config: AutoencoderLossConfig) -> torch.Tensor:
    """Weighted sum of the named terms present in ``terms`` (those absent count 0)."""
    weights = {
        "mrstft": config.mrstft_weight,
        "kl": config.kl_weight,
        "adversarial": config.adversarial_weight,
        "feature_matching": config.feature_matching_weight,
        "spatial": config.spatial_weight if config.uses_spatial_term else 0.0,
    }
    total = torch.zeros((), device=terms["mrstft"].device)
    for name, weight in weights.items():
        if name in terms and weight:
            total = total + weight * terms[name]
    return total


class AutoencoderLoss(torch.nn.Module):
    """Generator-side loss of Eq. 2 (+ spatial term). The discriminator's terms are passed in."""

    def __init__(self, config: AutoencoderLossConfig, sample_rate: int):
        super().__init__()
        self.config = config
        self.mrstft = PerChannelMRSTFT(config, sample_rate)

    def forward(
        self,
        target: torch.Tensor,
        reconstruction: torch.Tensor,
        kl: torch.Tensor,
        adversarial: torch.Tensor | None = None,
        feature_matching: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Returns (weighted total, every term unweighted incl. per-channel MRSTFT)."""
        mrstft, per_channel = self.mrstft(reconstruction, target)
        terms: dict[str, torch.Tensor] = {"mrstft": mrstft, "kl": kl}
        for name, value in zip(CHANNEL_NAMES, per_channel):
            terms[f"mrstft_{name}"] = value
        if self.config.uses_spatial_term:
            terms["spatial"] = intensity_direction_loss(
                reconstruction, target, self.config.spatial_frame_samples, self.config.spatial_hop_samples
            )
        if adversarial is not None:
            terms["adversarial"] = adversarial
        if feature_matching is not None:
            terms["feature_matching"] = feature_matching
        return weighted_total(terms, self.config), terms
