"""Pre-encoded latents have the frames the diffusion trainer makes from audio."""

import numpy as np
import torch

from sonicmotion.data.latents import read_latent_shard
from sonicmotion.training.encode_latents import encode_shards
from sonicmotion.models.pretransform import latent_frames, load_pretransform
from tests.foa_fixtures import synthetic_sample


def test_ten_seconds_at_ratio_2048_give_80_frames_like_the_audio_path(tmp_path):
    model, _ = load_pretransform("parametric:patch:2048")
    sample = synthetic_sample(0, 10.0, moving=True)
    shard = tmp_path / "data" / "train" / "train-000000.tar"
    shard.parent.mkdir(parents=True)
    shard.touch()
    encode_shards(model, [shard], tmp_path / "latents", lambda _: [sample], "parametric:patch:2048", progress=False)
    (key, latent, meta), = read_latent_shard(tmp_path / "latents" / "train" / "train-000000.tar")
    assert latent_frames(160000, 2048, 16) == 80 and latent.shape[-1] == 80
    assert meta["latent"]["num_samples"] == 160000
    # The trainer's audio path: pad 160,000 samples to 80 x 2048, then encode.
    audio = torch.nn.functional.pad(sample["audio"][None], (0, 80 * 2048 - 160000))
    expected = model.encode(audio)[0].numpy().astype(np.float16)
    np.testing.assert_array_equal(latent, expected)
