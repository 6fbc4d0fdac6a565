"""The whole runs of ``training/workflows.py``, called directly (the CLI and the demo are thin
wrappers over them): configs, training and resuming, Table 3, latent shards, diffusion."""

import json

import numpy as np
import pytest
import torch
import yaml

from sonicmotion.data.latents import read_latent_shard
from sonicmotion.errors import SonicMotionError
from sonicmotion.runs import LOCK_FILE
from sonicmotion.training import workflows
from sonicmotion.training.runtime import read_jsonl
from sonicmotion.yaml_config import CONFIG_ROOT
from tests.foa_fixtures import synthetic_sample, write_shards


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    torch.set_num_threads(1)  # tiny models: extra threads only add overhead on a shared machine
    root = tmp_path_factory.mktemp("workflows") / "dataset"
    write_shards(root, "train", [synthetic_sample(i, 0.5) for i in range(4)], per_shard=2)
    write_shards(root, "test", [synthetic_sample(100 + i, 0.5, moving=True) for i in range(3)], per_shard=3)
    return root


def test_autoencoder_config_new_run_resume_and_overrides(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(SonicMotionError, match="--config is required"):
        workflows.autoencoder_config(run)
    config = workflows.autoencoder_config(run, "tiny", max_steps=7, seed=None, strict_eq2=True)
    assert config.training.max_steps == 7 and config.training.seed == 0 and config.loss.strict_eq2
    # A run folder's own config.yaml, written before the keys were renamed, still resumes.
    run.mkdir()
    saved = yaml.safe_load((CONFIG_ROOT / "autoencoder" / "tiny.yaml").read_text())
    saved["training"]["generator_lr"] = saved["training"].pop("learning_rate")
    saved["training"]["max_steps"] = 11
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    resumed = workflows.autoencoder_config(run, resume=True)
    assert resumed.training.max_steps == 11 and resumed.training.learning_rate == 1e-3
    with pytest.raises(SonicMotionError, match="different model"):
        workflows.autoencoder_config(run, "paper", resume=True)


def test_train_resume_evaluate_and_encode(dataset, tmp_path, capsys):
    run = tmp_path / "ae"
    config = workflows.autoencoder_config(run, "tiny", max_steps=2, global_batch_size=2)
    workflows.train_autoencoder(config, run, [dataset], progress=False)
    out = capsys.readouterr().out
    assert "global batch 2 = 1 process(es) x 1 accumulation step(s) x 2 per process" in out
    assert "step 2, loss " in out and "0 skipped step(s)" in out
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.yaml", "log.jsonl"]  # no lock left
    assert yaml.safe_load((run / "config.yaml").read_text())["training"]["max_steps"] == 2
    with pytest.raises(SonicMotionError, match="--resume"):
        workflows.train_autoencoder(config, run, [dataset], progress=False)
    longer = workflows.autoencoder_config(run, resume=True, max_steps=3)
    workflows.train_autoencoder(longer, run, [dataset], resume=True, progress=False)
    assert [r["step"] for r in read_jsonl(run / "log.jsonl")] == [2, 3]
    assert yaml.safe_load((run / "config.yaml").read_text())["training"]["max_steps"] == 3

    metrics = tmp_path / "table3.json"
    with pytest.raises(SonicMotionError):
        workflows.evaluate_autoencoder_run(run, [dataset], tmp_path / "table3.txt", progress=False)
    workflows.evaluate_autoencoder_run(run, [dataset], metrics, limit=2, device="cpu", progress=False)
    report = json.loads(metrics.read_text())
    assert report["clips"] == 2 and report["weights"] == "ema" and len(report["data"]) == 1
    assert report["stft"] > 0 and 0 <= report["spatial"]["frame"]["delta_angle"] <= 180

    latents = tmp_path / "latents"
    workflows.encode_latents(run, [dataset], latents, batch_size=2, device="cpu", progress=False)
    assert "7 clips in 3 new shard(s), 0 already done" in capsys.readouterr().out
    items = list(read_latent_shard(latents / "test" / "test-000000.tar"))
    # 0.5 s = 125 frames of 64 samples, padded up to a multiple of 16 frames: 128
    assert [key for key, _, _ in items] == ["clip0100", "clip0101", "clip0102"]
    assert items[0][1].shape == (8, 128) and items[0][2]["latent"]["num_samples"] == 8000
    workflows.encode_latents(run, [dataset], latents, device="cpu", progress=False)
    assert "0 clips in 0 new shard(s), 3 already done" in capsys.readouterr().out


def test_train_diffusion_writes_one_config_and_the_model(dataset, tmp_path, capsys):
    run = tmp_path / "dm"
    overrides = {"training.max_steps": 2, "training.global_batch_size": 2, "training.checkpoint_every": 2}
    workflows.train_diffusion("parametric-tiny", "parametric:patch:256", dataset, run, overrides, progress=False)
    out = capsys.readouterr().out
    assert "data: 2 audio shard(s)" in out and "step 2: loss " in out
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.yaml", "log.jsonl", "model"]
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["training"]["max_steps"] == 2 and saved["model"]["pretransform"] == "parametric:patch:256"
    assert [r["step"] for r in read_jsonl(run / "log.jsonl")] == [2]
    with pytest.raises(SonicMotionError, match="'steps' is now called 'max_steps'"):
        workflows.train_diffusion("parametric-tiny", "parametric:patch:256", dataset, tmp_path / "old",
                                  {"training.steps": 2}, progress=False)
    assert not (tmp_path / "old").exists()
    assert not (run / LOCK_FILE).exists()
    assert np.isfinite(read_jsonl(run / "log.jsonl")[-1]["loss"])
