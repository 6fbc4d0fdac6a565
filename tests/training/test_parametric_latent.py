"""A short run of a tiny SM-P model on the parametric latent learns to put broadband sound on the path.

Broadband noise bursts (like the demo's everyday sounds) over a quiet bed, on random static and moving paths,
the lossless ``parametric:patch`` pretransform, one CPU thread. The direction error of
generated clips must fall well below what the same model gives after one step, and with
the direction pinned (``pin_path``) the clips follow the path almost exactly.
"""

import numpy as np
import pytest
import torch

from sonicmotion.data.synth import noise_bursts
from sonicmotion.diffusion.config import (
    DiffusionModelConfig,
    DiffusionTrainConfig,
    DiTConfig,
    PositionConfig,
    TrainingConfig,
)
from sonicmotion.errors import SonicMotionError
from sonicmotion.pipeline import SonicMotionPipeline
from sonicmotion.spatial import Trajectory, encode_foa, spatial_errors
from sonicmotion.training.diffusion import train_diffusion

SR, SECONDS, STEPS = 16000, 2.0, 300


def bursts_over_a_bed(seed: int) -> np.ndarray:
    """Broadband noise bursts over a quiet noise bed, so that every frame has a direction."""
    x = noise_bursts(SECONDS, SR, seed=seed).astype(np.float64)
    x += 0.05 * np.abs(x).max() * np.random.default_rng(seed + 999).standard_normal(x.size)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


SOURCES = [bursts_over_a_bed(seed) for seed in range(32)]
W_SCALE = 1.0 / float(np.std(np.concatenate(SOURCES)) / np.sqrt(2))
PATHS = [Trajectory.linear(90, 0, -90, 0, "cw", 0.2, 1.8), Trajectory.static(-135, 20),
         Trajectory.linear(-150, 20, 150, -20, "cw", 0.4, 1.6), Trajectory.static(30, -10)]


def random_path(rng: np.random.Generator) -> Trajectory:
    azimuth, elevation = rng.uniform(-180, 180), rng.uniform(-35, 35)
    if rng.random() < 0.4:
        return Trajectory.static(azimuth, elevation)
    end_azimuth = azimuth + rng.uniform(45, 300) * rng.choice([-1, 1])
    end_elevation = float(np.clip(elevation + rng.uniform(-30, 30), -35, 35))
    move_start = rng.uniform(0, SECONDS / 2)
    return Trajectory.linear(azimuth, elevation, (end_azimuth + 180) % 360 - 180, end_elevation,
                             str(rng.choice(["cw", "ccw"])), move_start, rng.uniform(move_start + 0.2, SECONDS))


def samples(epoch: int):
    rng = np.random.default_rng(2000 + epoch)
    for i in range(100_000):
        path = random_path(rng)
        foa = encode_foa(SOURCES[rng.integers(len(SOURCES))], SR, path)
        yield {"audio": torch.from_numpy(foa), "key": str(i), "caption": "noise bursts",
               "spatial_caption": "noise bursts", "trajectory": path.to_dict(), "seconds_start": 0.0,
               "seconds_total": SECONDS, "metadata": {}}


def direction_error(folder, pin_path: bool = False) -> float:
    pipe = SonicMotionPipeline.from_pretrained(folder)
    clips = pipe(["noise bursts"] * len(PATHS), PATHS, seconds=SECONDS, steps=20, guidance=3.0, seed=0,
                 pin_path=pin_path)
    return float(np.mean([spatial_errors(c.samples, p, SR).delta_angle for c, p in zip(clips, PATHS)]))


def test_short_training_run_learns_direction_on_the_parametric_latent(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = DiffusionTrainConfig(
            model=DiffusionModelConfig(
                variant="parametric",
                dit=DiTConfig(width=96, depth=2, heads=4, mlp_ratio=2.0, timestep_features=64, cond_dim=96),
                position=PositionConfig(time_steps=20, layers=2), text_max_length=8,
                pretransform=f"parametric:patch:256:{W_SCALE:.4g}", sample_seconds=SECONDS, frame_multiple=1,
                max_seconds=4.0,
            ),
            training=TrainingConfig(steps=STEPS, batch_size=8, learning_rate=2e-3, position_learning_rate=2e-3,
                                    warmup=0.9, ema_decay=0.99, checkpoint_every=10**9, log_every=50),
        )
        train_diffusion(config, samples, tmp_path, progress=False, stop_at_step=1)
        before = direction_error(tmp_path / "model")
        train_diffusion(config, samples, tmp_path, progress=False)
        after = direction_error(tmp_path / "model")
        pinned = direction_error(tmp_path / "model", pin_path=True)
    finally:
        torch.set_num_threads(threads)
    assert before > 50.0, before  # one step in: about chance (90°)
    assert after < 0.5 * before and after < 35.0, (before, after)
    assert pinned < 3.0, pinned


def test_pin_path_is_refused_where_it_cannot_work(tmp_path):
    config = DiffusionTrainConfig(
        model=DiffusionModelConfig(
            variant="parametric", dit=DiTConfig(width=32, depth=1, heads=2, timestep_features=16, cond_dim=32),
            position=PositionConfig(time_steps=4, layers=1), text_max_length=8, pretransform="patch:256:4",
            sample_seconds=SECONDS, frame_multiple=1, max_seconds=4.0),
        training=TrainingConfig(steps=1, batch_size=2, checkpoint_every=10**9))
    train_diffusion(config, samples, tmp_path, progress=False)
    pipe = SonicMotionPipeline.from_pretrained(tmp_path)
    with pytest.raises(SonicMotionError, match="parametric latent"):
        pipe("noise", PATHS[0], seconds=SECONDS, steps=2, pin_path=True)
