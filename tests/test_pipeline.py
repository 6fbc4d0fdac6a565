"""Pipeline with an autoencoder pretransform: the run folder travels with the pipeline."""

import numpy as np
import torch

from sonicmotion.models.config import DiffusionModelConfig, DiTConfig
from sonicmotion.models.autoencoder import SpatialAutoencoder, load_autoencoder_config, save_autoencoder
from sonicmotion.models.diffusion_model import ConditionedDiffusionModel
from sonicmotion.models.pretransform import load_pretransform
from sonicmotion.models.text import load_text_encoder
from sonicmotion.pipeline import SonicMotionPipeline


def test_autoencoder_pretransform_is_copied_into_the_pipeline(tmp_path):
    run = tmp_path / "ae_run"
    run.mkdir()
    torch.manual_seed(1)
    save_autoencoder(SpatialAutoencoder(load_autoencoder_config("configs/autoencoder/tiny.yaml")), run / "ema.safetensors")
    pre, info = load_pretransform(run)
    assert info == {"type": "autoencoder", "path": str(run.resolve())} and pre.latent_channels == 8

    torch.manual_seed(0)
    config = DiffusionModelConfig(variant="descriptive", dit=DiTConfig(width=32, depth=1, heads=4, cond_dim=32,
                                  timestep_features=16), text_max_length=8, sample_seconds=0.5, frame_multiple=1,
                                  max_seconds=4.0, pretransform=info["path"])
    text = load_text_encoder("minilm", 8)
    model = ConditionedDiffusionModel(config, text.dim, pre.latent_channels)
    torch.nn.init.normal_(model.dit.proj_out.weight, std=0.05)
    SonicMotionPipeline(model, text, pre, info).save_pretrained(tmp_path / "pipe")
    a = SonicMotionPipeline.from_pretrained(tmp_path / "pipe")("rain", seconds=0.5, steps=3, seed=1)
    torch.manual_seed(2)  # the pipeline must not depend on the original run
    save_autoencoder(SpatialAutoencoder(load_autoencoder_config("configs/autoencoder/tiny.yaml")), run / "ema.safetensors")
    pipe = SonicMotionPipeline.from_pretrained(tmp_path / "pipe")
    assert pipe.pretransform_info["path"] == str(tmp_path / "pipe" / "autoencoder")
    b = pipe("rain", seconds=0.5, steps=3, seed=1)
    assert a.samples.shape == (4, 8000) and np.array_equal(a.samples, b.samples)
    changed = SonicMotionPipeline(pipe.model, text, load_pretransform(run)[0], info)("rain", seconds=0.5, steps=3, seed=1)
    assert not np.array_equal(a.samples, changed.samples)
