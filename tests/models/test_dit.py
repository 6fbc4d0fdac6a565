import numpy as np
import pytest
import torch

from sonicmotion.models.config import DiffusionModelConfig, DiTConfig, PositionConfig
from sonicmotion.errors import SonicMotionError
from sonicmotion.models.diffusion_model import ConditionedDiffusionModel, ConditionInputs, condition_inputs
from sonicmotion.models.dit import DiffusionTransformer, apply_rotary, rotary_tables
from sonicmotion.spatial import Trajectory

DIT = DiTConfig(width=32, depth=2, heads=4, mlp_ratio=2.0, timestep_features=16, cond_dim=24)
POSITION = PositionConfig(azimuth_bins=12, elevation_bins=7, time_steps=8, layers=2, heads=2)


def model(variant: str = "parametric", seed: int = 0) -> ConditionedDiffusionModel:
    torch.manual_seed(seed)
    config = DiffusionModelConfig(variant=variant, dit=DIT, position=POSITION, sample_seconds=2.0, frame_multiple=1)
    m = ConditionedDiffusionModel(config, text_dim=10, latent_channels=6).eval()
    torch.nn.init.normal_(m.dit.proj_out.weight, std=0.1)  # zero-initialised output would hide everything
    return m


def inputs(m, text_len: int = 5, pad_from: int = 3, trajectories=None, frames: int = 9) -> ConditionInputs:
    g = torch.Generator().manual_seed(1)
    text = torch.randn(2, text_len, 10, generator=g)
    mask = torch.arange(text_len)[None, :].expand(2, -1) < pad_from
    if trajectories is None and m.config.parametric:
        trajectories = [Trajectory.static(30, 0), Trajectory.linear(0, 0, 90, 10, "ccw", 0.2, 1.5)]
    return condition_inputs(m.config, text, mask, frames, trajectories, [0.0, 0.0], [2.0, 2.0], 16)


def test_output_shape_and_dtype():
    m = model()
    x = torch.randn(2, 6, 9)
    v = m(x, torch.tensor([0.3, 0.9]), inputs(m))
    assert v.shape == (2, 6, 9) and v.dtype == torch.float32


def test_padded_text_tokens_are_masked():
    m = model()
    a = inputs(m)
    b = inputs(m)
    b.text[:, 3:] = 100.0 * torch.randn_like(b.text[:, 3:])  # change only padded positions
    x, t = torch.randn(2, 6, 9), torch.tensor([0.5, 0.5])
    assert torch.allclose(m(x, t, a), m(x, t, b), atol=1e-6)
    b.text[:, 1] += 1.0  # a real token changes the output
    assert not torch.allclose(m(x, t, a), m(x, t, b), atol=1e-4)


def test_dropped_conditions_ignore_their_content():
    m = model()
    x, t = torch.randn(2, 6, 9), torch.tensor([0.5, 0.5])
    a = inputs(m).dropped()
    b = inputs(m, trajectories=[Trajectory.static(-120, 40), Trajectory.static(170, -30)]).dropped()
    b.text = torch.randn_like(b.text)
    assert torch.allclose(m(x, t, a), m(x, t, b), atol=1e-6)
    # with the position kept, the path matters
    c, d = inputs(m), inputs(m, trajectories=[Trajectory.static(-120, 40), Trajectory.static(170, -30)])
    assert not torch.allclose(m(x, t, c), m(x, t, d), atol=1e-4)


def test_descriptive_model_refuses_trajectories():
    m = model("descriptive")
    assert m.position is None and m.dit.frame_proj is None
    with pytest.raises(SonicMotionError, match="descriptive"):
        inputs(m, trajectories=[Trajectory.static(0, 0), None])
    assert m(torch.randn(2, 6, 9), torch.tensor([0.1, 0.2]), inputs(m)).shape == (2, 6, 9)


def test_rotary_is_relative():
    cos, sin = rotary_tables(10, 8, torch.device("cpu"))
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    score = lambda i, j: float((apply_rotary(q, cos[i], sin[i]) * apply_rotary(k, cos[j], sin[j])).sum())
    assert np.isclose(score(2, 5), score(4, 7), atol=1e-5) and not np.isclose(score(2, 5), score(2, 6), atol=1e-3)


def test_gradient_checkpointing_gives_same_gradients():
    torch.manual_seed(0)
    plain = DiffusionTransformer(DIT, latent_channels=6, cond_dim=24)
    ckpt = DiffusionTransformer(DiTConfig(**{**DIT.__dict__, "gradient_checkpointing": True}), 6, 24)
    ckpt.load_state_dict(plain.state_dict())
    torch.nn.init.normal_(plain.proj_out.weight), ckpt.proj_out.weight.data.copy_(plain.proj_out.weight)
    args = (torch.randn(2, 6, 9), torch.rand(2), torch.randn(2, 24), torch.randn(2, 4, 24), torch.ones(2, 4, dtype=torch.bool))
    for net in (plain, ckpt):
        net.train()
        net(*args).square().mean().backward()
    assert torch.allclose(plain.blocks[0].to_qkv.weight.grad, ckpt.blocks[0].to_qkv.weight.grad, atol=1e-6)


def test_distance_rows_reach_both_position_paths_from_a_metadata_path():
    from dataclasses import replace

    torch.manual_seed(0)
    position = replace(POSITION, distance_bins=4, distance_min=1.0, distance_max=8.0, frame_aligned=True)
    config = DiffusionModelConfig(dit=DIT, position=position, sample_seconds=2.0, frame_multiple=1)
    m = ConditionedDiffusionModel(config, text_dim=10, latent_channels=6).eval()
    torch.nn.init.normal_(m.dit.proj_out.weight, std=0.1)
    assert m.dit.frame_proj.in_features == 12 + 7 + 4
    # a dataset sample's metadata path (Trajectory.to_dict form): 8 m -> 1 m over the 2 s clip
    near = {"type": "linear", "start_azimuth": 0.0, "start_elevation": 0.0, "end_azimuth": 0.0,
            "end_elevation": 0.0, "direction": "cw", "move_start": 0.0, "move_end": 2.0,
            "start_distance": 8.0, "end_distance": 1.0}
    far = {**near, "start_distance": 1.0, "end_distance": 8.0}
    a = inputs(m, trajectories=[near, far])
    assert a.position.shape == (2, 23, 8) and a.frame_position.shape == (2, 23, 9)
    # 8 time steps at 0.125, 0.375, ... s: 7.56, 6.69, 5.81, 4.94, 4.06, 3.19, 2.31, 1.44 m -> round(log2)
    assert a.position[0, 19:].argmax(0).tolist() == [3, 3, 3, 2, 2, 2, 1, 1]
    assert a.position[1, 19:].argmax(0).tolist() == [1, 1, 2, 2, 2, 3, 3, 3]
    assert torch.all(a.frame_position[:, 19:].sum(1) == 1)
    x, t = torch.randn(2, 6, 9), torch.tensor([0.5, 0.5])
    swapped = inputs(m, trajectories=[far, near])
    assert not torch.allclose(m(x, t, a), m(x, t, swapped), atol=1e-4)  # the distance changes the output
    plane = inputs(m, trajectories=[Trajectory.static(0, 0), Trajectory.static(0, 0)])
    assert torch.all(plane.position[:, 19:] == 0) and torch.all(plane.frame_position[:, 19:] == 0)
