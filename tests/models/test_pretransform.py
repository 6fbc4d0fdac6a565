import numpy as np
import pytest
import torch

from sonicmotion.errors import SonicMotionError
from sonicmotion.models.pretransform import PatchPretransform, PretransformDescription, load_pretransform


def test_patch_round_trip_is_exact_and_pads():
    pre = PatchPretransform(8, scale=4.0)
    audio = torch.randn(2, 4, 100)
    latents = pre.encode(audio)
    assert latents.shape == (2, 32, 13)  # ceil(100 / 8)
    decoded = pre.decode(latents)
    assert decoded.shape == (2, 4, 104)
    assert torch.equal(decoded[..., :100], audio)
    assert torch.all(decoded[..., 100:] == 0)


def test_patch_layout_keeps_channels_contiguous():
    pre = PatchPretransform(4)
    audio = torch.arange(4 * 8, dtype=torch.float32).reshape(1, 4, 8)
    latents = pre.encode(audio)
    # latent channel c * 4 + k, frame f = sample f * 4 + k of audio channel c
    assert latents[0, 1 * 4 + 2, 1] == audio[0, 1, 6]
    assert latents[0, 3 * 4 + 0, 0] == audio[0, 3, 0]
    assert pre.latent_channels == 16 and pre.downsampling_ratio == 4 and pre.io_channels == 4


def test_load_pretransform_specs_and_errors(tmp_path):
    pre, info = load_pretransform("patch:16:2")
    assert (pre.patch_size, pre.scale) == (16, 2.0)
    assert info == PretransformDescription("patch", 64, 16, trajectory_latents=False, spec="patch:16:2")
    assert info.to_json() == {"type": "patch", "spec": "patch:16:2"}
    assert not any(p.requires_grad for p in pre.parameters())
    with pytest.raises(SonicMotionError, match="patch:N"):
        load_pretransform("patch:x")
    with pytest.raises(SonicMotionError, match="not found"):
        load_pretransform(tmp_path / "missing")
    with pytest.raises(SonicMotionError, match=r"\[B, 4, T\]"):
        pre.encode(torch.zeros(1, 2, 16))


def test_parametric_spec_keeps_direction_and_w():
    from sonicmotion.data.synth import noise_bursts
    from sonicmotion.models.pretransform import ParametricPretransform
    from sonicmotion.spatial import Trajectory, encode_foa, spatial_errors

    pre, info = load_pretransform("parametric:patch:256:4")
    assert isinstance(pre, ParametricPretransform) and info.to_json() == {"type": "parametric",
                                                                           "spec": "parametric:patch:256:4"}
    assert (info.latent_channels, info.downsampling_ratio, info.trajectory_latents) == (260, 256, True)
    assert (pre.downsampling_ratio, pre.latent_channels, pre.io_channels) == (256, 256 + 3 + 1, 4)
    assert pre.direction_slice == slice(256, 259)
    path = Trajectory.linear(90, 10, -45, -20, "cw", 0.3, 1.5)
    foa = encode_foa(noise_bursts(2.0, 16000, 1), 16000, path)
    latents = pre.encode(torch.from_numpy(foa)[None])
    assert latents.shape == (1, 260, 125)
    # Directions are unit vectors times √3; W patches times the spec's scale.
    assert torch.allclose(latents[0, pre.direction_slice].norm(dim=0), torch.full((125,), 3**0.5), atol=1e-4)
    assert torch.equal(latents[0, :256, 0], torch.from_numpy(foa[0, :256]) * 4)
    decoded = pre.decode(latents, foa.shape[1])[0].numpy()
    assert decoded.shape == foa.shape and np.array_equal(decoded[0], foa[0])
    assert spatial_errors(decoded, path, 16000).delta_angle < 1.0
    # The path alone gives the direction channels the encoder finds for a steady sound.
    steady = (np.random.default_rng(0).standard_normal(32000) * 0.1).astype(np.float32)
    latents = pre.encode(torch.from_numpy(encode_foa(steady, 16000, path))[None])
    assert torch.allclose(pre.trajectory_latents(path, 125), latents[0, pre.direction_slice], atol=0.02)


def test_parametric_subframes_and_bands_lay_out_channels():
    from sonicmotion.models.pretransform import ParametricPretransform, ParametricSettings
    from sonicmotion.spatial import Trajectory, encode_foa, spatial_errors

    transport = PatchPretransform(512, 1.0, channels=1)
    pre = ParametricPretransform(transport, ParametricSettings(bands=2, subframes=4))
    assert pre.latent_channels == 512 + 3 * 8 + 8 and pre.hop == 128
    path = Trajectory.linear(0, 0, 180, 0, "ccw", 0.1, 0.9)
    noise = (np.random.default_rng(1).standard_normal(16384) * 0.1).astype(np.float32)
    foa = encode_foa(noise, 16000, path)
    latents = pre.encode(torch.from_numpy(foa)[None])
    assert latents.shape == (1, pre.latent_channels, 32)
    assert spatial_errors(pre.decode(latents, foa.shape[1])[0].numpy(), path, 16000).delta_angle < 1.0
    with pytest.raises(SonicMotionError, match="divide"):
        ParametricPretransform(transport, ParametricSettings(subframes=3))
    with pytest.raises(SonicMotionError, match="1-channel"):
        ParametricPretransform(PatchPretransform(4), ParametricSettings())


def test_parametric_spec_errors():
    with pytest.raises(SonicMotionError, match="parametric:patch:N"):
        load_pretransform("parametric:foo")
    with pytest.raises(SonicMotionError, match="positive"):
        load_pretransform("parametric:patch:64:-1")
