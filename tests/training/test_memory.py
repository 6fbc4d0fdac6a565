"""The memory model of a training step (``training.memory``): exact parameter and optimizer
bytes, activations linear in the micro-batch and lowered by checkpointing, a plan that is the
split ``--micro-batch auto`` finds, and the calibration row of docs/performance.md."""

from dataclasses import replace

import pytest
import torch

from sonicmotion.cli import main
from sonicmotion.models.autoencoder import SpatialAutoencoder
from sonicmotion.models.config import DiTConfig
from sonicmotion.models.discriminator import MultiScaleStftDiscriminator
from sonicmotion.models.dit import DiffusionTransformer
from sonicmotion.training.autoencoder import AutoencoderRunConfig, AutoencoderTrainer, override_training
from sonicmotion.training.batches import plan_batches
from sonicmotion.training.memory import (
    ALLOCATOR_FACTOR,
    GIB,
    Linear,
    autoencoder_step_memory,
    count_saved,
    measure_activations,
)
from sonicmotion.training.micro_batch import SIMULATED_MEMORY_VARIABLE
from tests.foa_fixtures import fake_factory, synthetic_sample

CLIPS, CROP_SECONDS = 8, 0.25


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_config():
    return override_training(AutoencoderRunConfig.from_yaml("configs/autoencoder/tiny.yaml"), global_batch_size=CLIPS,
                             crop_seconds=CROP_SECONDS, max_steps=1, micro_batch="auto")


@pytest.fixture(scope="module")
def tiny_memory():
    return autoencoder_step_memory(tiny_config(), processes=2)


def test_parameter_and_optimizer_bytes_are_exact(tiny_memory):
    config = tiny_config()
    for label, model in (("autoencoder", SpatialAutoencoder(config.model)),
                         ("discriminator", MultiScaleStftDiscriminator(config.discriminator, 4))):
        count = sum(p.numel() for p in model.parameters())
        assert tiny_memory.parameters[label] == count
        # AdamW's own state after a step: its two moments per parameter (the scalar step counts left out).
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        optimizer = torch.optim.AdamW(model.parameters())
        optimizer.step()
        moments = sum(t.numel() * t.element_size() for state in optimizer.state.values() for name, t in state.items()
                      if name != "step")
        assert tiny_memory.parts[f"{label} AdamW moments"] == moments == 8 * count
        assert tiny_memory.parts[f"{label} parameters"] == tiny_memory.parts[f"{label} gradients"] == 4 * count
        assert tiny_memory.parts[f"{label} DDP gradient buckets"] == 4 * count  # two processes
    generator = SpatialAutoencoder(config.model)
    assert tiny_memory.parts["autoencoder EMA copy"] == sum(
        t.numel() * t.element_size() for t in (*generator.parameters(), *generator.buffers()))
    assert "discriminator EMA copy" not in tiny_memory.parts
    assert "autoencoder DDP gradient buckets" not in autoencoder_step_memory(config, processes=1).parts


def tiny_dit_step():
    """A 2-block DiT's forward and backward on fake tensors: (step, model)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode = FakeTensorMode(allow_non_fake_inputs=True)
    with mode:
        model = DiffusionTransformer(DiTConfig(width=64, depth=2, heads=4, cond_dim=32, timestep_features=16), 8, 32)

    def step(micro: int) -> None:
        with mode:
            v = model(torch.randn(micro, 8, 40), torch.rand(micro), torch.randn(micro, 32), torch.randn(micro, 6, 32),
                      torch.ones(micro, 6, dtype=torch.bool))
            v.square().mean().backward()

    return step, model


def test_activations_are_linear_in_the_micro_batch_and_checkpointing_lowers_them(tiny_memory):
    step, model = tiny_dit_step()
    saved, checkpointed, _ = measure_activations(step, [model], model.parameters())
    assert saved.per_sample > 0 and saved.fixed >= 0
    for micro in (3, 8):  # measured at 2 and 4; the line holds between and beyond
        counter = count_saved(step, micro, [model], model.parameters())
        assert counter.peak == pytest.approx(saved.at(micro), rel=0.02), micro
        assert counter.checkpointed_peak() == pytest.approx(checkpointed.at(micro), rel=0.02), micro
    assert checkpointed.per_sample < saved.per_sample
    assert tiny_memory.saved.per_sample > 0
    assert tiny_memory.saved_checkpointed.per_sample < tiny_memory.saved.per_sample
    assert tiny_memory.peak(4, True) < tiny_memory.peak(4, False) < tiny_memory.peak(8, False)


def test_parameters_are_not_activations():
    step, model = tiny_dit_step()
    with_parameters = count_saved(step, 1, [model], [])
    without = count_saved(step, 1, [model], model.parameters())
    assert with_parameters.peak > without.peak  # the fp32 weights the linears save


def test_linear_through_two_points():
    line = Linear.through(16, 28)  # at 2 and 4 samples
    assert (line.fixed, line.per_sample, line.at(5)) == (4, 6, 34)
    assert Linear.through(10, 16, (1, 2)) == line


def test_the_plan_is_the_split_auto_finds(tmp_path, monkeypatch, capsys, tiny_memory):
    """The device search, with its out-of-memory simulated at the model's own limits, takes the
    split the plan predicts (here a checkpointed one: the search's second phase)."""
    memory = replace(tiny_memory, parts={k: v for k, v in tiny_memory.parts.items() if "DDP" not in k})  # 1 process
    limit = memory.peak(4, True)
    plain, checkpointed = memory.largest_micro(limit, False), memory.largest_micro(limit, True)
    assert plain < 4 <= checkpointed < CLIPS  # the limit makes the search switch checkpointing on
    planned = memory.plan(plan_batches(CLIPS, 1, 1), limit)
    monkeypatch.setenv(SIMULATED_MEMORY_VARIABLE, f"{plain}:{checkpointed}")
    config = tiny_config()
    clips = [synthetic_sample(i, CROP_SECONDS) for i in range(CLIPS)]
    trainer = AutoencoderTrainer(config, tmp_path, fake_factory(clips, config.training), progress=False)
    trainer.fit()
    assert trainer.split == planned
    assert (planned.micro, planned.checkpointing) == (4, True)
    assert f"autoencoder: {planned.describe()}" in capsys.readouterr().out


def test_paper_autoencoder_matches_the_h100_rows():
    """docs/performance.md: one H100 (79.1 GiB), paper autoencoder, bf16: batch 16 without
    checkpointing 45.0 GiB (the calibration row), 32 out of memory, 32 with checkpointing 36.5 GiB."""
    memory = autoencoder_step_memory(AutoencoderRunConfig.from_yaml("configs/autoencoder/paper.yaml"))
    assert memory.parameters["autoencoder"] == 156_116_100
    assert memory.peak(16, False) / GIB == pytest.approx(45.0, rel=0.01)
    assert memory.peak(32, False) / GIB > 79.1
    assert 36.5 <= memory.peak(32, True) / GIB < 1.2 * 36.5
    assert ALLOCATOR_FACTOR == pytest.approx(45.0 * GIB / (memory.peak(16, False) / ALLOCATOR_FACTOR), rel=0.01)


def test_command_prints_the_trainers_split(capsys):
    for command in (["memory-plan"], ["memory-plan", "autoencoder"], ["memory-plan", "diffusion"]):
        assert main([*command, "--help"]) == 0
        assert "examples:" in capsys.readouterr().out
    assert main(["memory-plan", "autoencoder", "--config", "configs/autoencoder/tiny.yaml", "--memory-gib", "1",
                 "--processes", "2", "--batch-size", "8"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("memory plan: autoencoder, 2 process(es) x 1 GiB")
    assert out[-1] == "autoencoder: global batch 8 = 2 processes x 4 micro-batch x 1 accumulation; " \
        "gradient checkpointing off"


def test_command_refuses_a_bad_pretransform(capsys):
    assert main(["memory-plan", "diffusion", "--config", "parametric", "--memory-gib", "80",
                 "--autoencoder-config", "patch:x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "patch:N needs a positive N" in err
    assert main(["memory-plan", "autoencoder", "--config", "configs/autoencoder/tiny.yaml",
                 "--memory-gib", "0.001"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "more than 0.001 GiB: the model and its optimizer state do not fit" in err
