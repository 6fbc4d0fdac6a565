"""Parity with diffusers' AutoencoderOobleck and stereo -> FOA expansion."""

import pytest
import torch

from sonicmotion.errors import SonicMotionError
from sonicmotion.models.autoencoder import AutoencoderConfig, SpatialAutoencoder
from sonicmotion.models.interop import (
    config_from_diffusers_state_dict,
    diffusers_key_to_ours,
    expand_stereo_to_foa,
    load_diffusers_oobleck,
    load_diffusers_state_dict,
)

diffusers = pytest.importorskip("diffusers")
# diffusers builds Oobleck with torch's deprecated weight_norm; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning")


def random_diffusers_model(audio_channels=4):
    torch.manual_seed(0)
    model = diffusers.AutoencoderOobleck(
        encoder_hidden_size=8, downsampling_ratios=[2, 4, 4], channel_multiples=[1, 2, 2], decoder_channels=8,
        decoder_input_channels=4, audio_channels=audio_channels, sampling_rate=16000,
    ).eval()
    with torch.no_grad():  # move Snake α, β and biases off their init so every weight matters
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def test_same_weights_same_outputs():
    reference = random_diffusers_model()
    state = reference.state_dict()
    config = config_from_diffusers_state_dict(state, 16000)
    assert config == AutoencoderConfig(base_channels=8, channel_multipliers=(1, 2, 2), strides=(2, 4, 4),
                                       latent_channels=4)
    ours = load_diffusers_state_dict(SpatialAutoencoder(config), state).eval()
    audio = 0.3 * torch.randn(2, 4, 320)
    with torch.no_grad():
        posterior = reference.encode(audio).latent_dist
        torch.testing.assert_close(ours.encode(audio), posterior.mean, rtol=0, atol=1e-5)
        torch.testing.assert_close(ours.posterior(audio).std, posterior.std, rtol=0, atol=1e-5)
        latents = posterior.mean
        torch.testing.assert_close(ours.decode(latents), reference.decode(latents).sample, rtol=0, atol=1e-5)
        torch.testing.assert_close(ours(audio, sample=False).reconstruction, reference(audio).sample,
                                   rtol=0, atol=1e-5)


def test_key_mapping_is_one_to_one_and_loads_saved_folders(tmp_path):
    reference = random_diffusers_model()
    keys = list(reference.state_dict())
    mapped = [diffusers_key_to_ours(k) for k in keys]
    assert len(set(mapped)) == len(keys)
    assert diffusers_key_to_ours("encoder.block.1.res_unit3.snake2.beta") == \
        "encoder.blocks.1.residual_units.2.act_out.log_beta"
    assert diffusers_key_to_ours("decoder.block.0.conv_t1.weight_v") == "decoder.blocks.0.upsample.weight_v"
    with pytest.raises(SonicMotionError, match="unexpected key"):
        diffusers_key_to_ours("encoder.quantizer.codebook")
    reference.save_pretrained(tmp_path / "oobleck")
    model, config = load_diffusers_oobleck(tmp_path / "oobleck")
    assert config.sample_rate == 16000
    audio = torch.randn(1, 4, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(audio, sample=False).reconstruction, reference(audio).sample,
                                   rtol=0, atol=1e-5)


def test_stereo_checkpoint_expands_to_foa():
    stereo_ref = random_diffusers_model(audio_channels=2)
    config = config_from_diffusers_state_dict(stereo_ref.state_dict(), 16000)
    stereo = load_diffusers_state_dict(SpatialAutoencoder(config), stereo_ref.state_dict()).eval()
    foa = expand_stereo_to_foa(stereo).eval()
    assert foa.io_channels == 4 and stereo.io_channels == 2
    mid, side = torch.randn(1, 1, 128), torch.randn(1, 1, 128)
    left_right = torch.cat([mid + side, mid - side], dim=1)
    wxyz = torch.cat([mid, torch.randn(1, 1, 128), side, torch.randn(1, 1, 128)], dim=1)
    with torch.no_grad():
        # The encoder sees W as mid and Y as side; X and Z start ignored.
        torch.testing.assert_close(foa.encode(wxyz), stereo.encode(left_right), rtol=0, atol=1e-5)
        latents = stereo.encode(left_right)
        lr = stereo.decode(latents)
        out = foa.decode(latents)
        torch.testing.assert_close(out[:, 0], (lr[:, 0] + lr[:, 1]) / 2, rtol=0, atol=1e-5)
        torch.testing.assert_close(out[:, 2], (lr[:, 0] - lr[:, 1]) / 2, rtol=0, atol=1e-5)
        assert 0 < out[:, 1].abs().max() < 0.1 * out[:, 0].abs().max()  # small, learnable X
    with pytest.raises(SonicMotionError, match="2-channel"):
        expand_stereo_to_foa(foa)
