import io
import json
import tarfile

import numpy as np
import pytest
import torch

from sonicmotion.data.synth import siren
from sonicmotion.errors import SonicMotionError
from sonicmotion.models.config import DiffusionModelConfig, DiTConfig, PositionConfig
from sonicmotion.pipeline import SonicMotionPipeline
from sonicmotion.spatial import Trajectory, encode_foa
from sonicmotion.training.diffusion import DiffusionTrainConfig, DiffusionTrainer, TrainingConfig, caption_field
from sonicmotion.training.runtime import read_jsonl
from sonicmotion.data.latents import check_latent_metadata, shard_dataset_factory
from sonicmotion.data.shards import find_shards

SR, SECONDS = 16000, 0.5
DIT = DiTConfig(width=32, depth=2, heads=4, mlp_ratio=2.0, timestep_features=16, cond_dim=32, latent_skip=True)
POSITION = PositionConfig(azimuth_bins=12, elevation_bins=7, time_steps=8, layers=1, heads=2, frame_aligned=True)


def train(config, make_dataset, out, resume=False, max_steps=None, **kwargs) -> list[dict]:
    trainer = DiffusionTrainer(config, out, make_dataset, progress=False, **kwargs)
    return trainer.fit(resume=resume, max_steps=max_steps).records


def config(variant="parametric", steps=40, **training) -> DiffusionTrainConfig:
    model = DiffusionModelConfig(
        variant=variant, dit=DIT, position=POSITION, text_max_length=8, pretransform="patch:64:8",
        sample_seconds=SECONDS, frame_multiple=1, max_seconds=4.0,
    )
    base = dict(max_steps=steps, global_batch_size=4, mixed_precision="no", learning_rate=3e-3, position_learning_rate=6e-3, lr_warmup=0.5,
                ema_decay=0.9, checkpoint_every=1000, log_every=10)
    return DiffusionTrainConfig(model=model, training=TrainingConfig(**{**base, **training}))


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


TRAJECTORIES = [Trajectory.static(90, 0), Trajectory.static(-90, 0),
                Trajectory.linear(0, 0, 180, 20, "ccw", 0.1, 0.4), Trajectory.static(180, -20)]


def samples(epoch: int):
    """Four fixed sirens on four paths, in a seeded order per epoch (the loader's dict format)."""
    order = np.random.default_rng(epoch).permutation(4)
    for i in order:
        foa = encode_foa(siren(SECONDS, SR, seed=int(i)), SR, TRAJECTORIES[i])
        yield {"audio": torch.from_numpy(foa), "key": f"k{i}", "caption": f"a siren {i}",
               "spatial_caption": f"a siren {i} somewhere", "trajectory": TRAJECTORIES[i].to_dict(),
               "seconds_start": 0.0, "seconds_total": SECONDS, "metadata": {}}


@pytest.mark.parametrize("variant", ["descriptive", "parametric"])
def test_loss_falls_on_tiny_config(tmp_path, variant):
    records = train(config(variant, steps=80), samples, tmp_path)
    losses = [r["loss"] for r in records]
    assert len(losses) == 8
    # losses[-1] / losses[0], measured on Intel Xeon, 1 thread, seeds 0-5: 0.56-0.63 (descriptive),
    # 0.56-0.70 (parametric; seed 0: 0.61); 2 threads, seed 0: 0.58 and 0.61. Untrained (learning
    # rate 0), seeds 0-2: 0.91-1.07. The old bound, min(last two) < 0.6, passed seed 0 by 0.007.
    assert losses[-1] < 0.8 * losses[0], losses
    assert (tmp_path / "model" / "pipeline.json").is_file()
    assert (tmp_path / "checkpoints" / "step-000000080" / "ema.safetensors").is_file()
    logged = read_jsonl(tmp_path / "log.jsonl")
    assert [r["step"] for r in logged] == [10, 20, 30, 40, 50, 60, 70, 80]


def test_resume_is_exact(tmp_path):
    from safetensors.torch import load_file

    train(config(steps=6, checkpoint_every=3), samples, tmp_path / "straight")
    train(config(steps=6, checkpoint_every=4), samples, tmp_path / "resumed", max_steps=3)
    with pytest.raises(SonicMotionError, match="--resume"):
        train(config(steps=6, checkpoint_every=3), samples, tmp_path / "resumed")
    train(config(steps=6, checkpoint_every=3), samples, tmp_path / "resumed", resume=True)
    final = [tmp_path / run / "checkpoints" / "step-000000006" for run in ("straight", "resumed")]
    states = [torch.load(f / "state.pt", weights_only=True) for f in final]
    assert states[0]["step"] == states[1]["step"] == 6
    assert states[0]["processes"][0]["data"] == states[1]["processes"][0]["data"] == {
        "epoch": 5, "steps_in_epoch": 1, "consumers": 1, "consumed": {}}  # 4 samples per epoch, batch 4
    for name in ("model", "ema"):
        a, b = (load_file(str(f / f"{name}.safetensors")) for f in final)
        for key, value in a.items():
            assert torch.equal(value, b[key]), (name, key)


def test_an_old_checkpoint_gets_one_line(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"old")
    with pytest.raises(SonicMotionError, match="older SonicMotion"):
        train(config(steps=1), samples, tmp_path, resume=True)


def test_resume_refuses_a_different_model(tmp_path):
    train(config(steps=1), samples, tmp_path)
    with pytest.raises(SonicMotionError, match="different model config"):
        train(config("descriptive", steps=2), samples, tmp_path, resume=True)


def test_schedule_and_caption_choice():
    from sonicmotion.training.schedulers import InverseLR

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = InverseLR(optimizer, inv_gamma=1e6, power=0.5, warmup=0.99)
    assert schedule.get_last_lr()[0] == pytest.approx(0.01)
    for _ in range(10_000):
        optimizer.step()
        schedule.step()
    assert schedule.get_last_lr()[0] == pytest.approx((1 - 0.99**10001) / np.sqrt(1.01))
    parametric, descriptive = config("parametric", steps=100), config("descriptive", steps=100)
    assert caption_field(parametric, 49) == "caption" and caption_field(parametric, 50) == "spatial_caption"
    assert caption_field(descriptive, 0) == "spatial_caption"


def _write_latent_shard(folder, ratio=64, channels=256):
    (folder / "train").mkdir(parents=True)
    from sonicmotion.models.pretransform import PatchPretransform

    patch = PatchPretransform(64, 8.0)
    with tarfile.open(folder / "train" / "train-000000.tar", "w") as tar:
        for sample in samples(0):
            latents = patch.encode(sample["audio"][None])[0].numpy().astype(np.float16)
            meta = {"key": sample["key"], "caption": sample["caption"], "spatial_caption": sample["spatial_caption"],
                    "trajectory": sample["trajectory"], "sample_rate": SR, "num_samples": int(SR * SECONDS),
                    "latent": {"autoencoder": "patch:64:8", "downsampling_ratio": ratio,
                               "latent_channels": channels, "num_samples": int(SR * SECONDS)}}
            buffer = io.BytesIO()
            np.save(buffer, latents)
            for name, data in ((f"{sample['key']}.npy", buffer.getvalue()),
                               (f"{sample['key']}.json", json.dumps(meta).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_training_from_latent_shards(tmp_path):
    _write_latent_shard(tmp_path / "latents")
    urls = [str(p) for p in find_shards(tmp_path / "latents", "train")]
    make = shard_dataset_factory(urls, latents=True, seed=0)
    first = next(iter(make(0)))
    assert first["latents"].shape == (256, 125) and first["latents"].dtype == torch.float32
    check_latent_metadata(first, 64, 256, urls[0])
    with pytest.raises(SonicMotionError, match="re-encode"):
        check_latent_metadata(first, 2048, 64, urls[0])
    records = train(config(steps=10), make, tmp_path / "run")
    assert records[-1]["step"] == 10 and np.isfinite(records[-1]["loss"])


def test_pipeline_round_trip_gives_identical_audio(tmp_path):
    train(config(steps=5), samples, tmp_path / "run")
    pipe = SonicMotionPipeline.from_pretrained(tmp_path / "run")  # a run folder works too
    path = Trajectory.linear(30, 0, -60, 10, "cw", 0.1, 0.4)
    a = pipe("a siren", path, seconds=SECONDS, steps=4, guidance=3.0, seed=7)
    assert a.samples.shape == (4, int(SR * SECONDS)) and a.sample_rate == SR and a.layout.name == "fuma"
    pipe.save_pretrained(tmp_path / "copy")
    b = SonicMotionPipeline.from_pretrained(tmp_path / "copy")("a siren", path, seconds=SECONDS, steps=4,
                                                                guidance=3.0, seed=7)
    assert np.array_equal(a.samples, b.samples)
    c = pipe("a siren", path, seconds=SECONDS, steps=4, guidance=3.0, seed=8)
    assert not np.array_equal(a.samples, c.samples)
    # batches: clip i uses seed + i whatever the batch size
    batch = pipe(["a siren", "a dog"], [path, None], seconds=SECONDS, steps=4, guidance=3.0, seed=7, batch_size=2)
    assert np.allclose(batch[0].samples, a.samples, atol=1e-5)
    with pytest.raises(SonicMotionError, match="empty"):
        pipe("  ", path, seconds=SECONDS)


def test_train_command_on_latent_shards(tmp_path, capsys):
    from sonicmotion.cli.train_diffusion import register_train

    import argparse

    _write_latent_shard(tmp_path / "latents")
    (tmp_path / "train.yaml").write_text(
        "model:\n  variant: parametric\n  dit: tiny\n  text_encoder: minilm\n  text_max_length: 8\n"
        "  sample_seconds: 0.5\n  frame_multiple: 1\n  max_seconds: 4.0\n"
        "  position: {azimuth_bins: 12, elevation_bins: 7, time_steps: 8, layers: 1, heads: 2}\n"
        "training:\n  global_batch_size: 2\n  log_every: 1\n  mixed_precision: 'no'\n"
    )
    root = argparse.ArgumentParser()
    register_train(root.add_subparsers().add_parser("train").add_subparsers())
    args = root.parse_args(["train", "diffusion", "--config", str(tmp_path / "train.yaml"), "--autoencoder",
                            "patch:64:8", "--data", str(tmp_path / "latents"), "--out", str(tmp_path / "run"),
                            "--steps", "3", "--quiet"])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "parametric model:" in out and "1 latent shard(s)" in out and "step 3: loss" in out
    pipe = SonicMotionPipeline.from_pretrained(tmp_path / "run")
    assert pipe.config.dit.width == 128 and pipe.pretransform.spec == "patch:64:8"
    # a pretransform that does not match the latents is refused
    args.autoencoder, args.out = "patch:32:8", str(tmp_path / "run2")
    with pytest.raises(SonicMotionError, match="re-encode"):
        args.run(args)
