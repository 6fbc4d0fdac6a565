"""End to end on the command line: build shards, train, interrupt/resume, evaluate, encode latents."""

import json

import numpy as np
import pytest
import torch

from sonicmotion.cli import main
from sonicmotion.data.latents import read_latent_shard
from sonicmotion.training.runtime import read_jsonl
from tests.foa_fixtures import synthetic_sample, write_shards

TINY = "configs/autoencoder/tiny.yaml"


@pytest.fixture
def dataset(tmp_path):
    torch.set_num_threads(1)
    root = tmp_path / "dataset"
    write_shards(root, "train", [synthetic_sample(i, 1.0) for i in range(6)], per_shard=3)
    write_shards(root, "test", [synthetic_sample(100 + i, 1.0, moving=True) for i in range(2)], per_shard=2)
    return root


def test_train_resume_evaluate_encode(dataset, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "autoencoder", "--config", TINY, "--data", str(dataset), "--out", str(run), "--quiet"]
    assert main(args + ["--max-steps", "2"]) == 0
    assert (run / "checkpoints" / "step-000000002" / "ema.safetensors").is_file()
    # A second start without --resume refuses to overwrite the run.
    assert main(args + ["--max-steps", "3"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "autoencoder", "--data", str(dataset), "--out", str(run), "--resume", "--quiet",
                 "--max-steps", "3"]) == 0
    assert (run / "checkpoints" / "step-000000003").is_dir()
    assert [r["step"] for r in read_jsonl(run / "log.jsonl")] == [2, 3]  # log_every 10: each stop logs its step

    metrics_path = tmp_path / "metrics.json"
    assert main(["evaluate", "autoencoder", "--checkpoint", str(run), "--data", str(dataset), "--out",
                 str(metrics_path), "--quiet"]) == 0
    metrics = json.loads(metrics_path.read_text())
    assert metrics["clips"] == 2
    assert metrics["stft"] > 0 and metrics["mel"] > 0
    for resolution in ("sample", "frame"):
        assert set(metrics["spatial"][resolution]) == {"l1_azimuth", "l1_elevation", "delta_angle", "clips"}
    assert "paper" in capsys.readouterr().out

    latents = tmp_path / "latents"
    assert main(["encode-latents", "--autoencoder", str(run), "--data", str(dataset), "--out", str(latents),
                 "--quiet"]) == 0
    shards = sorted(latents.rglob("*.tar"))
    assert [s.relative_to(latents).as_posix() for s in shards] == [
        "test/test-000000.tar", "train/train-000000.tar", "train/train-000001.tar"]
    items = list(read_latent_shard(latents / "test" / "test-000000.tar"))
    assert [key for key, _, _ in items] == ["clip0100", "clip0101"]
    key, latent, meta = items[0]
    # 1 s = 250 frames of 64 samples, padded to a multiple of 16 frames as the trainer pads audio
    assert latent.dtype == np.float16 and latent.shape == (8, 256)
    assert meta["latent"] == {"autoencoder": str(run), "downsampling_ratio": 64, "latent_channels": 8,
                              "num_samples": 16000}
    assert meta["motion"] == "moving"
    before = shards[0].read_bytes()
    assert main(["encode-latents", "--autoencoder", str(run), "--data", str(dataset), "--out", str(latents),
                 "--quiet"]) == 0
    assert "0 clips in 0 new shard(s), 3 already done" in capsys.readouterr().out
    assert shards[0].read_bytes() == before


def test_validation_split_is_found_where_the_builder_writes_it(dataset, tmp_path):
    write_shards(dataset, "validation", [synthetic_sample(200 + i, 1.0) for i in range(2)], per_shard=2)
    run = tmp_path / "run"
    assert main(["train", "autoencoder", "--config", TINY, "--data", str(dataset), "--validation", str(dataset),
                 "--out", str(run), "--max-steps", "1", "--quiet"]) == 0
    latents = tmp_path / "latents"
    assert main(["encode-latents", "--autoencoder", str(run), "--data", str(dataset), "--out", str(latents),
                 "--quiet"]) == 0
    assert (latents / "validation" / "validation-000000.tar").is_file()


def test_parametric_spec_evaluates_and_encodes_without_training(dataset, tmp_path, capsys):
    metrics_path = tmp_path / "metrics.json"
    assert main(["evaluate", "autoencoder", "--checkpoint", "parametric:patch:64", "--data", str(dataset),
                 "--out", str(metrics_path), "--quiet"]) == 0
    metrics = json.loads(metrics_path.read_text())
    # W is patched losslessly, so W's distances vanish; the path is kept to well under a degree.
    assert metrics["stft_w"] < 1e-3 and metrics["mel_w"] < 1e-3
    assert metrics["spatial"]["frame"]["delta_angle"] < 1.0
    assert "W channel alone" in capsys.readouterr().out
    latents = tmp_path / "latents"
    assert main(["encode-latents", "--autoencoder", "parametric:patch:64", "--data", str(dataset), "--splits",
                 "test", "--out", str(latents), "--quiet"]) == 0
    _, latent, meta = next(read_latent_shard(latents / "test" / "test-000000.tar"))
    assert latent.shape == (64 + 4, 256) and meta["latent"]["latent_channels"] == 68  # 250 frames, padded to 16s


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    assert main(["train", "autoencoder", "--config", str(tmp_path / "none.yaml"), "--data", str(tmp_path),
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  base_channel: 8\n")
    assert main(["train", "autoencoder", "--config", str(bad), "--data", str(tmp_path), "--out",
                 str(tmp_path / "run")]) == 2
    assert "unknown key(s) base_channel" in capsys.readouterr().err
    assert main(["evaluate", "autoencoder", "--checkpoint", str(tmp_path), "--data", str(tmp_path), "--out",
                 str(tmp_path / "m.json")]) == 2
