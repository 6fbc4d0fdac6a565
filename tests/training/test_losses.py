import math

import numpy as np
import pytest
import torch

from sonicmotion.spatial import Trajectory, encode_foa
from sonicmotion.training.losses import (
    AutoencoderLoss,
    AutoencoderLossConfig,
    PerChannelMRSTFT,
    intensity_direction_loss,
)

SR = 16000
CONFIG = AutoencoderLossConfig(fft_sizes=(512, 128), hop_sizes=(128, 32), win_lengths=(512, 128), spatial_weight=1.0)


def foa(azimuth, elevation=0.0, seconds=0.5, seed=0):
    noise = np.random.default_rng(seed).standard_normal(int(SR * seconds)).astype(np.float32) * 0.3
    return torch.from_numpy(encode_foa(noise, SR, Trajectory.static(azimuth, elevation)))[None]


def test_per_channel_loss_counts_a_quiet_channel_the_joint_loss_hides():
    """A source near the horizon has a quiet Z; a reconstruction that gets Z wrong is
    penalised per channel, while one MRSTFT over all channels barely notices."""
    from auraloss.freq import MultiResolutionSTFTLoss

    target = foa(30.0, elevation=2.0)
    wrong_z = target.clone()
    wrong_z[:, 3] = 0.3 * torch.randn_like(wrong_z[:, 3]) * target[:, 3].std()
    per_channel, parts = PerChannelMRSTFT(CONFIG, SR)(wrong_z, target)
    joint = MultiResolutionSTFTLoss([512, 128], [128, 32], [512, 128], sample_rate=SR,
                                    perceptual_weighting=True)(wrong_z, target)
    assert parts[0].item() == pytest.approx(0.0, abs=1e-4)  # W is exact
    assert per_channel.item() == pytest.approx(sum(p.item() for p in parts) / 4)
    # The log-magnitude parts agree (both average over bins); the spectral-convergence part
    # of the joint loss divides Z's error by the energy of all channels and nearly vanishes.
    assert per_channel.item() - joint.item() > 0.15
    # Control: a reconstruction that is off by the same relative amount in every channel
    # scores about the same either way.
    everywhere = target * 1.3
    per_channel_all, _ = PerChannelMRSTFT(CONFIG, SR)(everywhere, target)
    joint_all = MultiResolutionSTFTLoss([512, 128], [128, 32], [512, 128], sample_rate=SR,
                                        perceptual_weighting=True)(everywhere, target)
    assert per_channel_all.item() == pytest.approx(joint_all.item(), rel=0.02)


def test_intensity_term_sees_what_spectra_cannot():
    target = foa(30.0)
    mirrored = foa(30.0 + 180.0)  # back instead of front: X, Y flip sign, spectra equal
    per_channel, _ = PerChannelMRSTFT(CONFIG, SR)(mirrored, target)
    assert per_channel.item() < 1e-3
    # ~0, not exactly: the output is normalised by |I| + 1e-4 max|I| (bounded gradient near silence).
    assert intensity_direction_loss(target, target).item() == pytest.approx(0.0, abs=5e-4)
    # Opposite unit vectors in the horizontal plane: |Δx| + |Δy| = 2(|cos 30°| + |sin 30°|).
    expected = 2 * (math.cos(math.radians(30)) + math.sin(math.radians(30)))
    assert intensity_direction_loss(mirrored, target).item() == pytest.approx(expected, rel=1e-3)
    quarter = intensity_direction_loss(foa(120.0), target).item()
    assert 0 < quarter < expected


def test_strict_eq2_switch_drops_the_spatial_term():
    target, output = foa(30.0), foa(-150.0)
    kl = torch.tensor(2.0)
    total, terms = AutoencoderLoss(CONFIG, SR)(target, output, kl)
    strict_total, strict_terms = AutoencoderLoss(AutoencoderLossConfig(
        fft_sizes=(512, 128), hop_sizes=(128, 32), win_lengths=(512, 128), strict_eq2=True), SR)(target, output, kl)
    assert "spatial" in terms and "spatial" not in strict_terms
    assert strict_total.item() == pytest.approx(terms["mrstft"].item() + 1e-4 * 2.0, rel=1e-6)
    assert total.item() == pytest.approx(strict_total.item() + terms["spatial"].item(), rel=1e-6)
    adv_total, _ = AutoencoderLoss(CONFIG, SR)(target, output, kl, torch.tensor(1.0), torch.tensor(1.0))
    assert adv_total.item() == pytest.approx(total.item() + 0.1 + 5.0, rel=1e-6)
