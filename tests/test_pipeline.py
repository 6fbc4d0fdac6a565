"""Pipeline with an autoencoder pretransform, through the autoencoder module's contract
(``load_autoencoder(run_dir) -> (model, config)``), faked here until that module lands."""

import sys
import types

import numpy as np
import torch

from sonicmotion.diffusion.config import DiffusionModelConfig, DiTConfig
from sonicmotion.models.diffusion_model import ConditionedDiffusionModel
from sonicmotion.models.pretransform import PatchPretransform, load_pretransform
from sonicmotion.models.text import load_text_encoder
from sonicmotion.pipeline import SonicMotionPipeline


def fake_autoencoder_module(loaded: list):
    module = types.ModuleType("sonicmotion.models.autoencoder")

    def load_autoencoder(path):
        loaded.append(str(path))
        assert (path / "weights.bin").read_text() == "trained"  # the run folder's files travel along
        return PatchPretransform(32, 4.0), {"name": "fake"}

    module.load_autoencoder = load_autoencoder
    return module


def test_autoencoder_pretransform_is_copied_into_the_pipeline(tmp_path, monkeypatch):
    loaded: list = []
    monkeypatch.setitem(sys.modules, "sonicmotion.models.autoencoder", fake_autoencoder_module(loaded))
    run = tmp_path / "ae_run"
    run.mkdir()
    (run / "weights.bin").write_text("trained")
    pre, info = load_pretransform(run)
    assert info == {"type": "autoencoder", "path": str(run.resolve())} and pre.latent_channels == 128

    torch.manual_seed(0)
    config = DiffusionModelConfig(variant="descriptive", dit=DiTConfig(width=32, depth=1, heads=4, cond_dim=32,
                                  timestep_features=16), text_max_length=8, sample_seconds=0.5, frame_multiple=1,
                                  max_seconds=4.0, pretransform=info["path"])
    text = load_text_encoder("minilm", 8)
    model = ConditionedDiffusionModel(config, text.dim, pre.latent_channels)
    torch.nn.init.normal_(model.dit.proj_out.weight, std=0.05)
    SonicMotionPipeline(model, text, pre, info).save_pretrained(tmp_path / "pipe")
    (run / "weights.bin").write_text("changed later")  # the pipeline must not depend on the original run
    assert (tmp_path / "pipe" / "autoencoder" / "weights.bin").read_text() == "trained"

    a = SonicMotionPipeline.from_pretrained(tmp_path / "pipe")("rain", seconds=0.5, steps=3, seed=1)
    assert loaded[-1] == str(tmp_path / "pipe" / "autoencoder")
    b = SonicMotionPipeline.from_pretrained(tmp_path / "pipe")("rain", seconds=0.5, steps=3, seed=1)
    assert a.samples.shape == (4, 8000) and np.array_equal(a.samples, b.samples)
