import pytest
import torch

from sonicmotion.models.discriminator import (
    DiscriminatorConfig,
    DiscriminatorOutput,
    MultiScaleStftDiscriminator,
    discriminator_hinge_loss,
    feature_matching_loss,
    generator_hinge_loss,
)

CONFIG = DiscriminatorConfig(channels=4, n_ffts=(256, 64), hop_lengths=(64, 16), win_lengths=(256, 64),
                             dilations=(1, 2))


def test_scales_and_feature_layers():
    torch.manual_seed(0)
    disc = MultiScaleStftDiscriminator(CONFIG, audio_channels=4)
    out = disc(torch.randn(3, 4, 2048))
    assert len(out.logits) == 2 and all(x.shape[:2] == (3, 1) for x in out.logits)
    assert [len(f) for f in out.features] == [4, 4]  # input conv, 2 dilated, 3x3


def test_sees_channels_jointly():
    """Flipping the sign of X (front <-> back) leaves every channel's spectrum unchanged
    but changes the discriminator's verdict, because channels enter one convolution."""
    torch.manual_seed(0)
    disc = MultiScaleStftDiscriminator(CONFIG, audio_channels=4)
    audio = torch.randn(1, 4, 2048)
    flipped = audio * torch.tensor([1.0, -1.0, 1.0, 1.0]).view(1, 4, 1)
    a, b = disc(audio).logits[0], disc(flipped).logits[0]
    assert (a - b).abs().max() > 1e-3


def test_hinge_and_feature_matching_values():
    real = DiscriminatorOutput([torch.tensor([2.0, 0.5])], [[torch.ones(2)]])
    fake = DiscriminatorOutput([torch.tensor([-2.0, 0.5])], [[torch.zeros(2)]])
    # relu(1 - real) = [0, .5] -> .25 ; relu(1 + fake) = [0, 1.5] -> .75
    assert discriminator_hinge_loss(real, fake).item() == pytest.approx(1.0)
    # relu(1 - fake) = [3, .5] -> 1.75
    assert generator_hinge_loss(fake).item() == pytest.approx(1.75)
    assert feature_matching_loss(real, fake).item() == pytest.approx(1.0)
