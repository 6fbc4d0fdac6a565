import pytest
import torch

from sonicmotion.errors import SonicMotionError
from sonicmotion.models.autoencoder import (
    AutoencoderConfig,
    SpatialAutoencoder,
    load_autoencoder,
    load_autoencoder_config,
    save_autoencoder,
)

SMALL = AutoencoderConfig(base_channels=4, channel_multipliers=(1, 2), strides=(2, 4), latent_channels=3)


def test_paper_config_has_about_156m_parameters():
    config = load_autoencoder_config("configs/autoencoder/paper.yaml")
    assert config == AutoencoderConfig()  # the defaults are the paper's
    assert config.downsampling_ratio == 2048
    with torch.device("meta"):
        params = SpatialAutoencoder(config).num_parameters()
    assert params == 156_116_100  # printed by bench_autoencoder.py too


def test_shapes_padding_and_contract():
    torch.manual_seed(0)
    model = SpatialAutoencoder(SMALL).eval()
    assert (model.downsampling_ratio, model.latent_channels, model.io_channels) == (8, 3, 4)
    audio = torch.randn(2, 4, 61)  # not a multiple of 8
    latents = model.encode(audio)
    assert latents.shape == (2, 3, 8)
    assert model.decode(latents).shape == (2, 4, 64)
    assert model.decode(latents, 61).shape == (2, 4, 61)
    out = model(audio, sample=False)
    assert out.reconstruction.shape == audio.shape
    # Padding is zeros at the end: encoding the explicitly padded clip gives the same latents.
    padded = torch.cat([audio, torch.zeros(2, 4, 3)], dim=-1)
    torch.testing.assert_close(model.encode(padded), latents)
    # Sampling is reproducible with a generator and differs from the mean.
    a = model.encode(audio, sample=True, generator=torch.Generator().manual_seed(1))
    b = model.encode(audio, sample=True, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, latents)


def test_kl_is_zero_for_standard_normal_posterior():
    from sonicmotion.models.autoencoder import Posterior

    mean = torch.zeros(2, 3, 5)
    std = torch.ones(2, 3, 5)
    assert Posterior(mean, std).kl().item() == pytest.approx(0.0, abs=1e-6)
    # KL(N(1, 1) || N(0, 1)) = 1/2 per channel; twice that (Stable Audio's convention), 3 channels.
    assert Posterior(mean + 1, std).kl().item() == pytest.approx(3.0, abs=1e-6)


def test_wrong_shapes_are_refused():
    model = SpatialAutoencoder(SMALL)
    with pytest.raises(SonicMotionError, match=r"\[B, 4, T\]"):
        model.encode(torch.randn(1, 2, 64))
    with pytest.raises(SonicMotionError, match=r"\[B, 3, frames\]"):
        model.decode(torch.randn(1, 4, 8))
    with pytest.raises(SonicMotionError, match="one multiplier per stride"):
        AutoencoderConfig(channel_multipliers=(1, 2), strides=(2,))


def test_gradient_checkpointing_gives_the_same_gradients():
    from dataclasses import replace

    torch.manual_seed(0)
    plain = SpatialAutoencoder(SMALL)
    checkpointed = SpatialAutoencoder(replace(SMALL, gradient_checkpointing=True))
    checkpointed.load_state_dict(plain.state_dict())
    audio = torch.randn(2, 4, 64)
    grads = []
    for model in (plain, checkpointed):
        model.train()
        model(audio, sample=False).reconstruction.square().mean().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = SpatialAutoencoder(SMALL).eval()
    path = tmp_path / "ae.safetensors"
    save_autoencoder(model, path)
    loaded, config = load_autoencoder(path)
    assert config == SMALL
    audio = torch.randn(1, 4, 64)
    torch.testing.assert_close(loaded.encode(audio), model.encode(audio), rtol=0, atol=0)
    with pytest.raises(SonicMotionError, match="no checkpoints yet"):
        (tmp_path / "run" / "checkpoints").mkdir(parents=True)
        load_autoencoder(tmp_path / "run")


def test_snake_backward_matches_autograd():
    from sonicmotion.models.layers import _SnakeFunction

    torch.manual_seed(0)
    x = torch.randn(2, 3, 40, dtype=torch.double, requires_grad=True)
    alpha = (torch.rand(1, 3, 1, dtype=torch.double) + 0.5).requires_grad_()
    inv_beta = (torch.rand(1, 3, 1, dtype=torch.double) + 0.5).requires_grad_()
    assert torch.autograd.gradcheck(_SnakeFunction.apply, (x, alpha, inv_beta))
    reference = torch.addcmul(x, inv_beta, torch.sin(alpha * x).square())
    torch.testing.assert_close(_SnakeFunction.apply(x, alpha, inv_beta), reference)
