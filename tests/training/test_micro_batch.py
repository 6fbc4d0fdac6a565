"""Micro-batches: ``auto`` finds the largest forward that fits (memory limits simulated on
CPU), accumulates to the global batch, leaves the run unchanged when the whole batch fits;
gradient checkpointing changes no loss or gradient."""

from dataclasses import replace

import pytest
import torch

from sonicmotion.errors import SonicMotionError
from sonicmotion.models.autoencoder import SpatialAutoencoder
from sonicmotion.training.autoencoder import AutoencoderRunConfig, AutoencoderTrainer, override_training
from sonicmotion.training.diffusion import DiffusionTrainer
from sonicmotion.training.micro_batch import SIMULATED_MEMORY_VARIABLE, set_gradient_checkpointing, sizes_to_try
from tests.foa_fixtures import fake_factory, synthetic_sample
from tests.training.test_diffusion_training import config, samples


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def eight_samples(epoch: int):
    """Two epochs of the four sirens per epoch: a loader batch of 8 in one epoch."""
    yield from samples(2 * epoch)
    yield from samples(2 * epoch + 1)


class Recording(DiffusionTrainer):
    """Records the micro-batch sizes each step was given."""

    def train_step(self, micro_batches):
        self.seen = getattr(self, "seen", []) + [[len(b["caption"]) for b in micro_batches]]
        return super().train_step(micro_batches)


def diffusion_run(tmp_path, steps=2, **training):
    trainer = Recording(config(steps=steps, global_batch_size=8, **training), tmp_path, eight_samples, progress=False)
    summary = trainer.fit()
    return trainer, summary


def test_sizes_halve_through_divisors():
    assert sizes_to_try(32) == [32, 16, 8, 4, 2, 1]
    assert sizes_to_try(12) == [12, 6, 3, 1]


@pytest.mark.parametrize("limit, micro, checkpointing", [("4", 4, False), ("2:4", 4, True), ("1:2", 2, True)])
def test_auto_takes_the_largest_that_fits_and_accumulates(tmp_path, monkeypatch, capsys, limit, micro,
                                                          checkpointing):
    monkeypatch.setenv(SIMULATED_MEMORY_VARIABLE, limit)
    trainer, summary = diffusion_run(tmp_path, micro_batch="auto")
    accumulation = 8 // micro
    assert capsys.readouterr().out.strip() == (
        f"diffusion: global batch 8 = 1 process x {micro} micro-batch x {accumulation} accumulation; "
        f"gradient checkpointing {'on' if checkpointing else 'off'}")
    assert (trainer.split.micro, trainer.split.checkpointing) == (micro, checkpointing)
    assert trainer.accelerator.gradient_accumulation_steps == accumulation
    assert trainer.seen == [[micro] * accumulation] * 2  # both steps, every sample of the batch
    assert summary.step == 2 and torch.isfinite(torch.tensor(summary.last["loss"]))
    assert trainer.model.dit.gradient_checkpointing is checkpointing


def test_auto_that_fits_at_once_changes_nothing(tmp_path, capsys):
    from safetensors.torch import load_file

    whole, _ = diffusion_run(tmp_path / "whole", steps=3)
    auto, _ = diffusion_run(tmp_path / "auto", steps=3, micro_batch="auto")
    assert auto.split.micro == 8 and whole.seen == auto.seen == [[8]] * 3
    assert "8 micro-batch x 1 accumulation" in capsys.readouterr().out
    for name in ("model", "ema"):
        a, b = (load_file(str(tmp_path / run / "checkpoints" / "step-000000003" / f"{name}.safetensors"))
                for run in ("whole", "auto"))
        for key, value in a.items():
            assert torch.equal(value, b[key]), (name, key)


def test_nothing_fits_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv(SIMULATED_MEMORY_VARIABLE, "0")
    with pytest.raises(SonicMotionError, match="out of memory with 1 sample per process and gradient checkpointing"):
        diffusion_run(tmp_path, micro_batch="auto")


def test_a_fixed_micro_batch_that_does_not_fit_names_what_to_set(tmp_path, monkeypatch):
    monkeypatch.setenv(SIMULATED_MEMORY_VARIABLE, "4")
    with pytest.raises(SonicMotionError) as err:
        diffusion_run(tmp_path, micro_batch=8)
    assert str(err.value) == (
        "out of memory at step 1 (global batch 8 = 1 process x 8 micro-batch x 1 accumulation; gradient "
        "checkpointing off); set --micro-batch 4 or --gradient-checkpointing (--micro-batch auto finds the "
        "largest that fits at the first step)")
    with pytest.raises(SonicMotionError, match="--micro-batch 3 does not divide the 8 samples"):
        diffusion_run(tmp_path / "odd", micro_batch=3)


def test_autoencoder_auto_split(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(SIMULATED_MEMORY_VARIABLE, "1:2")
    config = override_training(AutoencoderRunConfig.from_yaml("configs/autoencoder/tiny.yaml"), global_batch_size=4,
                               crop_seconds=0.25, max_steps=2, micro_batch="auto")
    clips = [synthetic_sample(i, 0.25) for i in range(4)]
    trainer = AutoencoderTrainer(config, tmp_path, fake_factory(clips, config.training), progress=False)
    summary = trainer.fit()
    assert "global batch 4 = 1 process x 2 micro-batch x 2 accumulation; gradient checkpointing on" in \
        capsys.readouterr().out
    assert summary.step == 2 and trainer.skipped_steps == 0
    assert trainer.accelerator.unwrap_model(trainer.generator).encoder.gradient_checkpointing


def _gradients(model, loss_of) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss = loss_of()
    loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _same(plain, checkpointed) -> None:
    assert abs(plain[0] - checkpointed[0]) <= 1e-6
    assert plain[1].keys() == checkpointed[1].keys() and plain[1]
    for name, grad in plain[1].items():
        torch.testing.assert_close(checkpointed[1][name], grad, atol=1e-6, rtol=0, msg=name)


def test_gradient_checkpointing_changes_no_gradient_of_the_dit(tmp_path):
    trainer = DiffusionTrainer(config(steps=1), tmp_path, samples, progress=False)
    model = trainer.accelerator.unwrap_model(trainer.model).train()
    batch = next(iter(trainer.steps()))[0]
    state = trainer.noise.get_state()

    def loss():
        trainer.noise.set_state(state)
        return trainer._loss(batch, model)

    plain = _gradients(model, loss)
    set_gradient_checkpointing([model], True)
    assert model.dit.gradient_checkpointing
    _same(plain, _gradients(model, loss))


def test_gradient_checkpointing_changes_no_gradient_of_the_autoencoder():
    model_config = AutoencoderRunConfig.from_yaml("configs/autoencoder/tiny.yaml").model
    model = SpatialAutoencoder(replace(model_config, gradient_checkpointing=False)).train()
    audio = torch.stack([synthetic_sample(i, 0.25)["audio"] for i in range(2)]).float()

    def loss():
        torch.manual_seed(0)  # the posterior sample
        out = model(audio)
        return (out.reconstruction - audio).abs().mean() + 1e-4 * out.kl.mean()

    plain = _gradients(model, loss)
    set_gradient_checkpointing([model], True)
    assert model.encoder.gradient_checkpointing and model.decoder.gradient_checkpointing
    _same(plain, _gradients(model, loss))


def test_train_command_flags_and_the_out_of_memory_line(tmp_path, monkeypatch, capsys):
    from sonicmotion.cli import main
    from tests.training.test_diffusion_training import _write_latent_shard

    _write_latent_shard(tmp_path / "latents")  # 2 clips
    (tmp_path / "train.yaml").write_text(
        "model:\n  variant: parametric\n  dit: tiny\n  text_encoder: minilm\n  text_max_length: 8\n"
        "  sample_seconds: 0.5\n  frame_multiple: 1\n  max_seconds: 4.0\n"
        "  position: {azimuth_bins: 12, elevation_bins: 7, time_steps: 8, layers: 1, heads: 2}\n"
        "training:\n  global_batch_size: 2\n  log_every: 1\n  mixed_precision: 'no'\n")
    argv = ["train", "diffusion", "--config", str(tmp_path / "train.yaml"), "--autoencoder", "patch:64:8", "--data",
            str(tmp_path / "latents"), "--steps", "2", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--micro-batch", "1", "--gradient-checkpointing"]) == 0
    assert "diffusion: global batch 2 = 1 process x 1 micro-batch x 2 accumulation; gradient checkpointing on" in \
        capsys.readouterr().out

    monkeypatch.setenv(SIMULATED_MEMORY_VARIABLE, "1")
    assert main([*argv, "--out", str(tmp_path / "oom")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "out of memory at step 1" in err
    assert "set --micro-batch 1 or --gradient-checkpointing" in err
    assert not (tmp_path / "oom").exists()  # a start that failed leaves nothing behind
