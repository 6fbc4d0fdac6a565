"""The tiny autoencoder trains, resumes exactly, and survives a NaN batch."""

import shutil
from dataclasses import replace

import pytest
import torch

from sonicmotion.training.autoencoder import AutoencoderRunConfig, AutoencoderTrainer, override_training
from sonicmotion.training.runtime import read_jsonl
from tests.foa_fixtures import FakeFoaDataset, fake_factory, synthetic_sample

TINY = "configs/autoencoder/tiny.yaml"


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_config(**training) -> AutoencoderRunConfig:
    return override_training(AutoencoderRunConfig.from_yaml(TINY), **training)


def test_tiny_config_overfits_a_few_clips(tmp_path):
    config = tiny_config(learning_rate=5e-3, lr_warmup=0.0, global_batch_size=2, crop_seconds=0.25)
    samples = [synthetic_sample(i, 0.25) for i in range(2)]
    trainer = AutoencoderTrainer(config, tmp_path, fake_factory(samples, config.training), progress=False)
    audio = torch.stack([s["audio"] for s in samples])

    def mrstft() -> float:
        with torch.no_grad():
            out = trainer.generator(audio, sample=False)
            return trainer.loss.mrstft(out.reconstruction, audio)[0].item()

    before = mrstft()
    for _ in range(80):
        trainer.train_step(audio)
    after = mrstft()
    # after / before moves with the CPU and the thread count (measured, seed 0 unless named):
    # Intel Xeon 1 thread 0.45, 2 threads 0.72; AMD EPYC (issue 27) 0.59; Intel 1 thread seeds
    # 1-5 (config and clips): 0.29, 0.55, 0.68, 0.54, 0.77; 2 threads seed 1: 0.29. A step that
    # does not learn leaves it at 1.0 or above (1.02 after 10 steps), so 0.85 still catches one.
    assert after < 0.85 * before, (before, after)


def _read_log(path):
    return {record["step"]: record for record in read_jsonl(path)}


def test_resume_continues_exactly(tmp_path):
    # Adversarial terms from step 0 so discriminator state is part of what must resume;
    # 3 clips at batch 1 so step 4 crosses an epoch boundary.
    config = tiny_config(global_batch_size=1, crop_seconds=0.25, checkpoint_every=2, max_steps=4, log_every=1)
    config = replace(config, loss=replace(config.loss, adversarial_warmup_steps=0))
    factory = fake_factory([synthetic_sample(i, 0.5) for i in range(3)], config.training)

    whole = AutoencoderTrainer(config, tmp_path / "whole", factory, progress=False)
    whole.fit()
    AutoencoderTrainer(config, tmp_path / "split", factory, progress=False).fit(max_steps=3)
    # Interrupted after step 3 but before its checkpoint: the resume starts from step 2.
    shutil.rmtree(tmp_path / "split" / "checkpoints" / "step-000000003")
    torch.manual_seed(12345)  # a fresh process would have a different global RNG state
    resumed = AutoencoderTrainer(config, tmp_path / "split", factory, progress=False)
    resumed.fit(resume=True)

    whole_log, split_log = _read_log(tmp_path / "whole" / "log.jsonl"), _read_log(tmp_path / "split" / "log.jsonl")
    assert sorted(split_log) == [1, 2, 3, 4]
    for step in (3, 4):
        for column in ("loss", "mrstft", "spatial", "discriminator", "feature_matching"):
            assert split_log[step][column] == whole_log[step][column], (step, column)
    assert resumed.batches.epoch == whole.batches.epoch == 1
    for a, b in zip(whole.generator.state_dict().values(), resumed.generator.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(whole.ema.shadow.state_dict().values(), resumed.ema.shadow.state_dict().values()):
        assert torch.equal(a, b)


def test_nan_batch_is_skipped_and_never_reaches_the_weights(tmp_path):
    config = tiny_config(global_batch_size=2, crop_seconds=0.25)
    config = replace(config, loss=replace(config.loss, adversarial_warmup_steps=0))
    samples = [synthetic_sample(i, 0.25) for i in range(2)]
    trainer = AutoencoderTrainer(config, tmp_path, fake_factory(samples, config.training), progress=False)
    audio = torch.stack([s["audio"] for s in samples])
    trainer.train_step(audio)
    before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    ema_before = {k: v.clone() for k, v in trainer.ema.shadow.state_dict().items()}
    poisoned = audio.clone()
    poisoned[0, 1, 100] = float("nan")
    log = trainer.train_step(poisoned)
    assert log["skipped"] == 1.0 and trainer.skipped_steps == 1
    for key, value in trainer.generator.state_dict().items():
        assert torch.equal(value, before[key]), key
    for key, value in trainer.ema.shadow.state_dict().items():
        assert torch.equal(value, ema_before[key]), key
    assert all(torch.isfinite(p).all() for p in trainer.discriminator.parameters())
    log = trainer.train_step(audio)
    assert log["skipped"] == 0.0 and all(torch.isfinite(p).all() for p in trainer.generator.parameters())


def test_validation_row_has_table3_columns(tmp_path):
    samples = [synthetic_sample(i, 0.5, moving=True) for i in range(2)]
    config = tiny_config()
    trainer = AutoencoderTrainer(config, tmp_path, fake_factory(samples, config.training),
                                 FakeFoaDataset(samples, None, False, config.training.seed), progress=False)
    row = trainer.validate()
    assert row["clips"] == 2 and row["stft"] > 0 and row["mel"] > 0
    for resolution in ("sample", "frame"):
        assert 0 <= row[f"{resolution}_delta_angle"] <= 180


def test_parametric_run_trains_w_and_loads_as_a_parametric_pretransform(tmp_path):
    from sonicmotion.errors import SonicMotionError
    from sonicmotion.models.pretransform import ParametricPretransform, load_pretransform
    from sonicmotion.spatial import Trajectory, spatial_errors

    config = AutoencoderRunConfig.from_yaml("configs/autoencoder/parametric-tiny.yaml")
    config = override_training(config, global_batch_size=2, crop_seconds=0.25, max_steps=2, checkpoint_every=2)
    samples = [synthetic_sample(i, 0.5, moving=True) for i in range(2)]
    trainer = AutoencoderTrainer(config, tmp_path / "run", fake_factory(samples, config.training), progress=False)
    trainer.fit()
    row = read_jsonl(tmp_path / "run" / "log.jsonl")[0]
    assert row["mrstft_W"] > 0 and "mrstft_X" not in row  # Eq. 2 on W alone

    pre, info = load_pretransform(tmp_path / "run")
    assert isinstance(pre, ParametricPretransform) and info.kind == "autoencoder" and info.trajectory_latents
    assert (pre.transport_channels, pre.latent_channels, pre.downsampling_ratio) == (8, 12, 256)
    # The saved scale brings the transport latents of training clips to unit variance.
    w = torch.stack([s["audio"][:1] for s in samples])
    assert pre.transport.encode(w).std().item() * pre.settings.transport_scale == pytest.approx(1.0, rel=0.3)
    # Direction does not depend on how well W is coded: two steps in, the path is already exact.
    audio = samples[0]["audio"]
    decoded = pre.decode(pre.encode(audio[None]), audio.shape[-1])[0].numpy()
    path = Trajectory.from_dict(samples[0]["trajectory"])
    assert spatial_errors(decoded, path, 16000).delta_angle < 1.5

    with pytest.raises(SonicMotionError, match="audio_channels: 1"):
        replace(config, model=replace(config.model, audio_channels=4))
    with pytest.raises(SonicMotionError, match="parametric"):
        replace(config, parametric=None)


def test_a_checkpoint_from_before_per_process_state_gets_one_line(tmp_path):
    from sonicmotion.errors import SonicMotionError

    config = tiny_config(global_batch_size=2, crop_seconds=0.25, max_steps=1, checkpoint_every=1)
    factory = fake_factory([synthetic_sample(i, 0.5) for i in range(2)], config.training)
    AutoencoderTrainer(config, tmp_path, factory, progress=False).fit()
    state_file = tmp_path / "checkpoints" / "step-000000001" / "state.pt"
    state = torch.load(state_file, weights_only=True)
    assert len(state["processes"]) == 1 and set(state["processes"][0]) == {"rng", "data"}
    old = {k: v for k, v in state.items() if k != "processes"}
    torch.save({**old, "epoch": 0, "batches_in_epoch": 1, "rng": [state["processes"][0]["rng"]]}, state_file)
    (state_file.parent / "sha256.json").unlink()  # older checkpoints carried no checksums
    with pytest.raises(SonicMotionError, match="cannot be resumed, start a new --out"):
        AutoencoderTrainer(config, tmp_path, factory, progress=False).fit(resume=True,
                                                                                                 max_steps=2)
