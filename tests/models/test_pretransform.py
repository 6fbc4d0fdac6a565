import pytest
import torch

from sonicmotion.errors import SonicMotionError
from sonicmotion.models.pretransform import PatchPretransform, load_pretransform


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
    assert (pre.patch_size, pre.scale, info) == (16, 2.0, {"type": "patch", "spec": "patch:16:2"})
    assert not any(p.requires_grad for p in pre.parameters())
    with pytest.raises(SonicMotionError, match="patch:N"):
        load_pretransform("patch:x")
    with pytest.raises(SonicMotionError, match="not found"):
        load_pretransform(tmp_path / "missing")
    with pytest.raises(SonicMotionError, match=r"\[B, 4, T\]"):
        pre.encode(torch.zeros(1, 2, 16))
