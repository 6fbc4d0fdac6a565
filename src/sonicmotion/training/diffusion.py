"""Training the conditioned diffusion model (paper §2.6) on Accelerate.

One run folder holds ``config.json``, ``checkpoint.pt`` (model, EMA, optimiser, schedule,
step, samples consumed, RNG: an interrupted run resumes exactly), ``log.jsonl`` (loss and
learning rate every ``log_every`` steps) and ``model/``, the EMA pipeline folder that
``sonicmotion generate --model`` reads. The text encoder and the pretransform are frozen.
Optimiser: AdamW, InverseLR schedule, the position cross-attention at its own rate.

Run ``python -m sonicmotion.training.diffusion --help`` (or ``sonicmotion train diffusion``).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

import torch

from sonicmotion.diffusion.config import DiffusionTrainConfig, load_train_config, to_dict
from sonicmotion.errors import SonicMotionError
from sonicmotion.files import atomic_path

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_VERSION = 1


def inverse_lr(step: int, inv_gamma: float, power: float, warmup: float) -> float:
    """InverseLR multiplier (k-diffusion): (1 - warmup^(step+1)) * (1 + step / inv_gamma)^-power."""
    return (1.0 - warmup ** (step + 1)) * (1.0 + step / inv_gamma) ** (-power)


def caption_field(config: DiffusionTrainConfig, step: int) -> str:
    """Which caption a step trains on: descriptive -> spatial; parametric -> original for the
    first ``original_caption_fraction`` of the steps, spatial after (paper §2.6)."""
    training = config.training
    if training.caption != "auto":
        return "caption" if training.caption == "original" else "spatial_caption"
    if config.model.parametric and step < training.original_caption_fraction * training.steps:
        return "caption"
    return "spatial_caption"


class EMA:
    """Exponential moving average of parameters, with the usual warm-up of the decay."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().float().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for name, value in model.state_dict().items():
            shadow = self.shadow[name]
            if value.dtype.is_floating_point:
                shadow.lerp_(value.detach().float().to(shadow.device), 1.0 - decay)
            else:
                shadow.copy_(value)

    def copy_to(self, model: torch.nn.Module) -> torch.nn.Module:
        model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in self.shadow.items()})
        return model


@dataclass
class RunState:
    step: int = 0
    consumed: int = 0  # samples taken from the stream (all processes together)


def build_model(config: DiffusionTrainConfig, text_dim: int, latent_channels: int):
    from sonicmotion.models.diffusion_model import ConditionedDiffusionModel

    return ConditionedDiffusionModel(config.model, text_dim, latent_channels)


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _optimizer(model, config: DiffusionTrainConfig) -> torch.optim.Optimizer:
    training = config.training
    position = {id(p) for p in model.position_parameters()}
    groups = [{"params": [p for p in model.parameters() if id(p) not in position], "lr": training.learning_rate}]
    if position:
        groups.append({"params": [p for p in model.parameters() if id(p) in position], "lr": training.position_learning_rate})
    return torch.optim.AdamW(groups, betas=tuple(training.betas), weight_decay=training.weight_decay)


def train_diffusion(
    config: DiffusionTrainConfig,
    make_dataset: Callable[[int], Iterable[dict]],
    out_dir: str | Path,
    text_encoder=None,
    pretransform=None,
    pretransform_info: dict | None = None,
    progress: bool = True,
    check_sample: Callable[[dict], None] | None = None,
    stop_at_step: int | None = None,
) -> list[dict]:
    """Train until ``config.training.steps`` (resuming from ``out_dir`` if a checkpoint is there).

    ``make_dataset(epoch)`` yields sample dicts holding ``audio`` [4, T] (FuMa) or
    ``latents`` [C, F], plus ``caption``, ``spatial_caption``, ``trajectory`` (dict or None),
    ``seconds_start``, ``seconds_total``. ``stop_at_step`` ends this call early (with a
    checkpoint) without changing the schedule. Returns the logged records of this call.
    """
    from accelerate import Accelerator
    from tqdm import tqdm

    from sonicmotion.diffusion.objective import noisy
    from sonicmotion.models.diffusion_model import condition_inputs
    from sonicmotion.models.pretransform import load_pretransform
    from sonicmotion.models.text import load_text_encoder
    from sonicmotion.pipeline import SonicMotionPipeline, latent_frames
    from sonicmotion.training.diffusion_data import collate, sample_stream

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    training, model_config = config.training, config.model
    accelerator = Accelerator(mixed_precision=training.mixed_precision, cpu=not torch.cuda.is_available())
    device = accelerator.device
    if pretransform is None:
        if not model_config.pretransform:
            raise SonicMotionError("no pretransform: give --autoencoder RUN_DIR or 'patch:N[:SCALE]'")
        pretransform, pretransform_info = load_pretransform(model_config.pretransform)
    pretransform = pretransform.to(device)
    text_encoder = (text_encoder or load_text_encoder(model_config.text_encoder, model_config.text_max_length)).to(device)
    with torch.random.fork_rng(devices=[]):  # same seed -> same initial weights
        torch.manual_seed(training.seed)
        model = build_model(config, text_encoder.dim, pretransform.latent_channels)
    optimizer = _optimizer(model, config)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: inverse_lr(step, training.inv_gamma, training.power, training.warmup)
    )
    ema = EMA(model, training.ema_decay)
    state = RunState()
    generator = torch.Generator().manual_seed(training.seed + accelerator.process_index)
    checkpoint_path = out_dir / CHECKPOINT
    if checkpoint_path.is_file():
        saved = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        if saved.get("version") != CHECKPOINT_VERSION:
            raise SonicMotionError(f"{checkpoint_path}: checkpoint version {saved.get('version')} is not supported")
        if saved["config"]["model"] != to_dict(model_config):
            raise SonicMotionError(
                f"{checkpoint_path} was trained with a different model config; use a new --out folder"
            )
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        ema.shadow = saved["ema"]
        state = RunState(**saved["state"])
        generator.set_state(saved["generator"])
    elif accelerator.is_main_process:
        with atomic_path(out_dir / "config.json") as tmp:
            tmp.write_text(json.dumps(to_dict(config), indent=2) + "\n")
    model, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(model)

    def export(step: int) -> None:
        if not accelerator.is_main_process:
            return
        torch.save({
            "version": CHECKPOINT_VERSION, "config": to_dict(config), "model": unwrapped.state_dict(),
            "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "ema": ema.shadow,
            "state": asdict(state), "generator": generator.get_state(),
        }, _atomic_target(checkpoint_path))
        _atomic_target(checkpoint_path, finish=True)
        ema_model = ema.copy_to(copy.deepcopy(unwrapped).float().cpu())
        SonicMotionPipeline(ema_model, text_encoder, pretransform, pretransform_info, device=device).save_pretrained(
            out_dir / "model"
        )

    stream = sample_stream(make_dataset, skip=state.consumed, shard=(accelerator.process_index, accelerator.num_processes))
    records: list[dict] = []
    log_path = out_dir / "log.jsonl"
    _truncate_log(log_path, state.step)
    bar = tqdm(total=training.steps, initial=state.step, desc="train diffusion", unit="step",
               disable=not (progress and accelerator.is_main_process), dynamic_ncols=True)
    started, window = time.time(), []
    model.train()
    last_step = training.steps if stop_at_step is None else min(stop_at_step, training.steps)
    while state.step < last_step:
        samples = [next(stream) for _ in range(training.batch_size)]
        state.consumed += training.batch_size * accelerator.num_processes
        if check_sample is not None:
            check_sample(samples[0])
        batch = collate(samples)
        with torch.no_grad():
            if "latents" in batch:
                latents = batch["latents"].to(device)
                frames = latent_frames(latents.shape[-1], 1, model_config.frame_multiple)
                latents = torch.nn.functional.pad(latents, (0, frames - latents.shape[-1]))
            else:  # pad the audio (not the latents) to whole frames: 160,000 -> 163,840 samples
                audio = batch["audio"].to(device)
                ratio = pretransform.downsampling_ratio
                frames = latent_frames(audio.shape[-1], ratio, model_config.frame_multiple)
                audio = torch.nn.functional.pad(audio, (0, frames * ratio - audio.shape[-1]))
                latents = pretransform.encode(audio).float()
            text, mask = text_encoder(batch[caption_field(config, state.step)])
        trajectories = batch["trajectory"] if model_config.parametric else None
        inputs = condition_inputs(
            model_config, text.to(device), mask.to(device), frames, trajectories,
            batch["seconds_start"], batch["seconds_total"], pretransform.downsampling_ratio,
        )
        b = latents.shape[0]
        drop_text = torch.rand(b, generator=generator) < training.cfg_dropout_text
        inputs.drop_text = drop_text.to(device)
        if inputs.drop_position is not None:
            drop_position = torch.rand(b, generator=generator) < training.cfg_dropout_position
            inputs.drop_position = inputs.drop_position | drop_position.to(device)
        t = torch.rand(b, generator=generator).to(device)
        noise = torch.randn(latents.shape, generator=generator).to(device)
        x_t, target = noisy(latents, noise, t)
        with accelerator.autocast():
            prediction = model(x_t, t, inputs)
        loss = torch.nn.functional.mse_loss(prediction.float(), target)
        accelerator.backward(loss)
        if training.grad_clip > 0:
            accelerator.clip_grad_norm_(model.parameters(), training.grad_clip)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        ema.update(unwrapped, state.step)
        state.step += 1
        window.append(float(loss.detach()))
        bar.update(1)
        if state.step % training.log_every == 0 or state.step == training.steps:
            record = {"step": state.step, "loss": sum(window) / len(window),
                      "lr": schedule.get_last_lr()[0], "seconds": round(time.time() - started, 3)}
            window = []
            records.append(record)
            bar.set_postfix(loss=f"{record['loss']:.4f}")
            if accelerator.is_main_process:
                with open(log_path, "a") as f:
                    f.write(json.dumps(record) + "\n")
        if state.step % training.checkpoint_every == 0 or state.step == last_step:
            export(state.step)
    bar.close()
    return records


def _atomic_target(path: Path, finish: bool = False) -> Path:
    """Two-phase atomic write for torch.save: write ``.partial`` then rename onto ``path``."""
    partial = path.with_name(path.name + ".partial")
    if finish:
        partial.replace(path)
    return partial


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines past ``step`` (written after the checkpoint a resumed run restarts from)."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept))


# -- command line ---------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    from sonicmotion.models.pretransform import load_pretransform
    from sonicmotion.training.diffusion_data import (
        check_latent_metadata,
        is_latent_shards,
        shard_dataset_factory,
        shard_urls,
    )

    overrides = {"model.pretransform": str(args.autoencoder)}
    for flag, key in [("dit", "model.dit"), ("text_encoder", "model.text_encoder"), ("steps", "training.steps"),
                      ("batch_size", "training.batch_size"), ("mixed_precision", "training.mixed_precision"),
                      ("checkpoint_every", "training.checkpoint_every"), ("seed", "training.seed")]:
        if getattr(args, flag) is not None:
            overrides[key] = getattr(args, flag)
    if args.dit is not None:
        from sonicmotion.diffusion.config import dit_config

        overrides["model.dit"] = to_dict(dit_config(args.dit, Path(args.config).parent))
    config = load_train_config(args.config, overrides)
    urls = shard_urls(args.data)
    latents = is_latent_shards(urls)
    pretransform, info = load_pretransform(args.autoencoder)
    if info["type"] == "autoencoder":
        config = replace(config, model=replace(config.model, pretransform=info["path"]))
    check = None
    if latents:
        def check(sample: dict) -> None:
            check_latent_metadata(sample, pretransform.downsampling_ratio, pretransform.latent_channels, args.data)
    from sonicmotion.models.text import load_text_encoder

    text_encoder = load_text_encoder(config.model.text_encoder, config.model.text_max_length)
    model = build_model(config, text_encoder.dim, pretransform.latent_channels)
    print(f"{config.model.variant} model: {parameter_count(model) / 1e6:.1f} M trainable parameters "
          f"(DiT {parameter_count(model.dit) / 1e6:.1f} M); data: {len(urls)} "
          f"{'latent' if latents else 'audio'} shard(s)")
    del model
    records = train_diffusion(
        config, shard_dataset_factory(urls, latents, config.training.seed), args.out,
        text_encoder=text_encoder, pretransform=pretransform, pretransform_info=info,
        progress=not args.quiet, check_sample=check,
    )
    if records:
        print(f"step {records[-1]['step']}: loss {records[-1]['loss']:.4f}; model in {Path(args.out) / 'model'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m sonicmotion.training.diffusion",
        description="Train the descriptive or parametric diffusion model (same as 'sonicmotion train diffusion').",
    )
    from sonicmotion.cli.train_diffusion import add_arguments

    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except SonicMotionError as err:
        print(f"train diffusion: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
