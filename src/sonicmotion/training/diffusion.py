"""Training the conditioned diffusion model (paper §2.6) on Accelerate.

The same shape as the autoencoder trainer: a state object, a short :meth:`train_step`,
one process or many (``torchrun`` / ``accelerate launch``) with the loader alone splitting
the data, a global batch over processes and gradient-accumulation steps, the EMA on the
training device, and checkpoints in ``OUT/checkpoints/step-*/`` (safetensors weights + a
``state.pt`` that loads with ``weights_only=True``); the loop around the step is
``training.loop``. ``OUT/model/`` is the EMA pipeline folder that ``sonicmotion generate
--model`` reads, rewritten at every checkpoint; ``OUT/log.jsonl`` has the loss and
learning rate every ``log_every`` steps, ``OUT/config.yaml`` the run's config. The text
encoder and the pretransform are frozen. Optimiser: AdamW with InverseLR, the position
cross-attention at its own rate.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch

from sonicmotion import __version__
from sonicmotion.errors import SonicMotionError
from sonicmotion.models.config import DiffusionModelConfig, dit_config
from sonicmotion.models.pretransform import PretransformDescription
from sonicmotion.training.batches import DatasetFactory, TrainingBatches
from sonicmotion.training.checkpoint import CheckpointManager, load_training, save_training
from sonicmotion.training.ema import ExponentialMovingAverage
from sonicmotion.training.loop import Trainer
from sonicmotion.training.micro_batch import WHOLE, parse_micro_batch
from sonicmotion.training.runtime import batch_plan, make_accelerator, process_mean
from sonicmotion.training.schedulers import InverseLR
from sonicmotion.yaml_config import config_from_dict, config_to_dict, find_config, load_yaml, renamed_batch_size

LEGACY_CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation (paper §2.6) and run bookkeeping."""

    max_steps: int = 100_000
    global_batch_size: int = 1024  # paper §2.6; per process = global / (processes x accumulation)
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-4
    position_learning_rate: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 1e-3
    # InverseLR (paper §2.6).
    lr_inv_gamma: float = 1e6
    lr_power: float = 0.5
    lr_warmup: float = 0.99
    cfg_dropout_text: float = 0.1
    cfg_dropout_position: float = 0.1
    # Parametric: original captions for this fraction of the steps, spatial captions after.
    original_caption_fraction: float = 0.5
    caption: str = "auto"  # "auto" (by variant), "spatial" or "original"
    ema_decay: float = 0.999
    mixed_precision: str = "auto"  # "auto" (bf16 on CUDA, fp32 elsewhere) | "no" | "bf16" | "fp16"
    grad_clip: float = 1.0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 0
    num_workers: int = 0  # DataLoader workers per process (decoding off the training process)
    compile: bool = False  # torch.compile the model (TorchInductor): slower start, faster steps on GPUs
    micro_batch: Any = WHOLE  # samples per forward/backward per process: "auto", "whole" or N

    # Names before both trainers shared one vocabulary (old -> new).
    RENAMED_KEYS: ClassVar[dict[str, str]] = {"steps": "max_steps", "inv_gamma": "lr_inv_gamma",
                                              "power": "lr_power", "warmup": "lr_warmup"}

    def __post_init__(self) -> None:
        if min(self.max_steps, self.global_batch_size, self.gradient_accumulation_steps, self.checkpoint_every,
               self.keep_checkpoints, self.log_every) < 1 or self.num_workers < 0:
            raise SonicMotionError("training: max_steps, global_batch_size, gradient_accumulation_steps, "
                                   "checkpoint_every, keep_checkpoints and log_every must be >= 1, num_workers >= 0")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise SonicMotionError(f"training.mixed_precision must be auto, no, bf16 or fp16, got {self.mixed_precision!r}")
        object.__setattr__(self, "micro_batch", parse_micro_batch(self.micro_batch))


@dataclass(frozen=True)
class DiffusionTrainConfig:
    model: DiffusionModelConfig = field(default_factory=DiffusionModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> DiffusionTrainConfig:
    """Read a training config; ``model.dit`` may be a size name resolved beside the file.

    ``overrides`` maps dotted keys (``"model.text_encoder"``) to values applied before building.
    """
    path = find_config(path, "diffusion")
    data = load_yaml(path)
    renamed_batch_size(data, str(path))
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    model = dict(data.get("model", {}))
    if isinstance(model.get("dit"), str):
        model["dit"] = config_to_dict(dit_config(model["dit"], path.parent))
    data["model"] = model
    return config_from_dict(DiffusionTrainConfig, data, str(path))


def caption_field(config: DiffusionTrainConfig, step: int) -> str:
    """Which caption a step trains on: descriptive -> spatial; parametric -> original for the
    first ``original_caption_fraction`` of the steps, spatial after (paper §2.6)."""
    training = config.training
    if training.caption != "auto":
        return "caption" if training.caption == "original" else "spatial_caption"
    if config.model.parametric and step < training.original_caption_fraction * training.max_steps:
        return "caption"
    return "spatial_caption"


def build_model(config: DiffusionTrainConfig, text_dim: int, latent_channels: int):
    from sonicmotion.models.diffusion_model import ConditionedDiffusionModel

    return ConditionedDiffusionModel(config.model, text_dim, latent_channels)


def denoising_loss(model: torch.nn.Module, latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, inputs,
                   autocast: Callable) -> torch.Tensor:
    """The training objective at times ``t``: the MSE of ``model``'s prediction on the noised
    latents against the objective's target (the trainer's step, and the memory model's)."""
    from sonicmotion.diffusion.objective import noisy

    x_t, target = noisy(latents, noise, t)
    with autocast():
        prediction = model(x_t, t, inputs)
    return torch.nn.functional.mse_loss(prediction.float(), target)


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _optimizer(model, config: DiffusionTrainConfig) -> torch.optim.Optimizer:
    training = config.training
    position = {id(p) for p in model.position_parameters()}
    groups = [{"params": [p for p in model.parameters() if id(p) not in position], "lr": training.learning_rate}]
    if position:
        groups.append({"params": [p for p in model.parameters() if id(p) in position], "lr": training.position_learning_rate})
    return torch.optim.AdamW(groups, betas=tuple(training.betas), weight_decay=training.weight_decay)


class DiffusionTrainer(Trainer):
    """Explicit training state plus a short :meth:`train_step`; see the module docstring.

    ``dataset_factory(epoch)`` returns that epoch's samples (dicts with ``audio`` [4, T]
    FuMa or ``latents`` [C, F], ``caption``, ``spatial_caption``, ``trajectory``,
    ``seconds_start``, ``seconds_total``); shard datasets split themselves over processes.
    ``check_sample`` sees the first sample of the run (e.g. to check latent metadata).
    """

    name = "diffusion"

    def __init__(
        self,
        config: DiffusionTrainConfig,
        out_dir: str | Path,
        dataset_factory: DatasetFactory,
        text_encoder=None,
        pretransform=None,
        pretransform_info: PretransformDescription | None = None,
        progress: bool = True,
        check_sample: Callable[[dict], None] | None = None,
        gradient_checkpointing: bool = False,
    ):
        from sonicmotion.models.pretransform import load_pretransform
        from sonicmotion.models.text import load_text_encoder
        from sonicmotion.data.loader import collate_samples as collate

        self.config, self.run_dir, self.progress, self.check_sample = config, Path(out_dir), progress, check_sample
        training, model_config = config.training, config.model
        self.micro_batch, self.gradient_checkpointing = training.micro_batch, gradient_checkpointing
        self.accelerator = acc = make_accelerator(training.mixed_precision, training.gradient_accumulation_steps,
                                                  self.run_dir, compile_model=training.compile)
        self.plan = batch_plan(acc, training.global_batch_size, training.gradient_accumulation_steps)
        if pretransform is None:
            if not model_config.pretransform:
                raise SonicMotionError("no pretransform: give --autoencoder RUN_DIR or 'patch:N[:SCALE]'")
            pretransform, pretransform_info = load_pretransform(model_config.pretransform)
        self.pretransform = pretransform.to(acc.device).eval()
        self.pretransform_info = pretransform_info
        text_encoder = text_encoder or load_text_encoder(model_config.text_encoder, model_config.text_max_length)
        self.text_encoder = text_encoder.to(acc.device)
        with torch.random.fork_rng(devices=[]):  # same seed -> same initial weights on every process
            torch.manual_seed(training.seed)
            model = build_model(config, self.text_encoder.dim, self.pretransform.latent_channels)
        optimizer = _optimizer(model, config)
        self.model, self.optimizer = acc.prepare(model, optimizer)
        # The schedule wraps the raw optimiser: Accelerate's wrapper would step once per process.
        self.schedule = InverseLR(optimizer, inv_gamma=training.lr_inv_gamma, power=training.lr_power,
                                  warmup=training.lr_warmup)
        self.ema = ExponentialMovingAverage(acc.unwrap_model(self.model), training.ema_decay)
        self.noise = torch.Generator().manual_seed(training.seed + acc.process_index)
        self.checkpoints = CheckpointManager(self.run_dir / "checkpoints", training.keep_checkpoints)
        self.batches = TrainingBatches(dataset_factory, self.plan, collate, training.num_workers, training.seed, acc)
        self.step = 0

    # ---- one step -------------------------------------------------------------------------------

    @torch.no_grad()
    def _latents(self, batch: dict) -> tuple[torch.Tensor, int]:
        from sonicmotion.models.pretransform import latent_frames
        from sonicmotion.training.encode_latents import encode_whole_frames

        multiple = self.config.model.frame_multiple
        if "latents" in batch:
            latents = batch["latents"].to(self.accelerator.device)
            frames = latent_frames(latents.shape[-1], 1, multiple)
            return torch.nn.functional.pad(latents, (0, frames - latents.shape[-1])), frames
        # Pad the audio (not the latents) to whole frames: 160,000 -> 163,840 samples.
        return encode_whole_frames(self.pretransform, batch["audio"].to(self.accelerator.device), multiple)

    def _loss(self, batch: dict, model: torch.nn.Module | None = None) -> torch.Tensor:
        from sonicmotion.models.diffusion_model import condition_inputs

        acc, training, model_config = self.accelerator, self.config.training, self.config.model
        device = acc.device
        latents, frames = self._latents(batch)
        with torch.no_grad():
            text, mask = self.text_encoder(batch[caption_field(self.config, self.step)])
        trajectories = batch["trajectory"] if model_config.parametric else None
        inputs = condition_inputs(model_config, text.to(device), mask.to(device), frames, trajectories,
                                  batch["seconds_start"], batch["seconds_total"],
                                  self.pretransform.downsampling_ratio)
        b = latents.shape[0]
        inputs.drop_text = (torch.rand(b, generator=self.noise) < training.cfg_dropout_text).to(device)
        if inputs.drop_position is not None:
            drop_position = torch.rand(b, generator=self.noise) < training.cfg_dropout_position
            inputs.drop_position = inputs.drop_position | drop_position.to(device)
        t = torch.rand(b, generator=self.noise).to(device)
        noise = torch.randn(latents.shape, generator=self.noise).to(device)
        return denoising_loss(model or self.model, latents, noise, t, inputs, acc.autocast)

    def train_step(self, micro_batches: list[dict]) -> dict[str, torch.Tensor]:
        """One optimizer step over this process's collated micro-batches (gradients accumulate
        through Accelerate); returns ``{"loss": mean loss}`` as a 0-d tensor (reading it would
        wait for the device, so the loop reads it only when it logs)."""
        acc, training = self.accelerator, self.config.training
        self.model.train()
        losses = []
        for batch in micro_batches:
            with acc.accumulate(self.model):
                loss = self._loss(batch)
                acc.backward(loss)
            losses.append(loss.detach())
        if training.grad_clip > 0:
            acc.clip_grad_norm_(self.model.parameters(), training.grad_clip)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.update(acc.unwrap_model(self.model))
        return {"loss": torch.stack(losses).mean()}

    def memory_models(self) -> list[torch.nn.Module]:
        return [self.accelerator.unwrap_model(self.model)]

    def random_generators(self) -> list[torch.Generator]:
        return [self.noise]

    def memory_probe(self, batch: dict) -> None:
        """Forward and backward of one micro-batch on the unwrapped model (no collective),
        leaving no gradient behind (the loop restores ``self.noise``)."""
        model = self.accelerator.unwrap_model(self.model)
        model.train()
        try:
            self._loss(batch, model).backward()
        finally:
            model.zero_grad(set_to_none=True)

    # ---- checkpoints ----------------------------------------------------------------------------

    def _metadata(self) -> dict[str, str]:
        return {"format": "sonicmotion-diffusion-training", "config": json.dumps(config_to_dict(self.config)),
                "sonicmotion_version": __version__, "step": str(self.step)}

    def _checkpoint_parts(self) -> tuple[dict, dict]:
        """(weight sets, state.pt objects) of a checkpoint."""
        return ({"model": self.accelerator.unwrap_model(self.model), "ema": self.ema.shadow},
                {"optimizer": self.optimizer, "schedule": self.schedule})

    def save_checkpoint(self) -> Path | None:
        """Write the checkpoint, then the EMA pipeline folder (main process; the others wait)."""
        weights, state = self._checkpoint_parts()
        counters = {"step": self.step, "ema_updates": self.ema.num_updates.clone(),
                    "config": json.dumps(config_to_dict(self.config))}
        path = save_training(self.checkpoints, self.accelerator, self.batches, self.step, weights,
                             {**counters, **state}, self._metadata(), {"noise": self.noise.get_state()})
        if self.accelerator.is_main_process:
            self.export_model()
        self.accelerator.wait_for_everyone()
        return path

    def export_model(self) -> None:
        from sonicmotion.pipeline import SonicMotionPipeline

        ema_model = copy.deepcopy(self.ema.shadow).float().cpu()
        SonicMotionPipeline(ema_model, self.text_encoder, self.pretransform, self.pretransform_info,
                            device=self.accelerator.device).save_pretrained(self.run_dir / "model")

    def load_checkpoint(self, folder: Path) -> str | None:
        """Restore a checkpoint; returns a note when the data position could not be kept."""
        def same_model(saved: dict) -> None:
            if json.loads(saved["config"])["model"] != config_to_dict(self.config.model):
                raise SonicMotionError(f"{folder} was trained with a different model config; use a new --out folder")

        acc = self.accelerator
        saved, note = load_training(self.checkpoints, folder, acc, self.batches, *self._checkpoint_parts(), same_model)
        self.ema.num_updates.copy_(saved["ema_updates"])
        self.step = int(saved["step"])
        processes = saved["processes"]
        self.noise.set_state(processes[acc.process_index if len(processes) == acc.num_processes else 0]["noise"])
        return note

    # ---- around the loop (training.loop) -----------------------------------------------------------

    def run_config(self) -> dict:
        return config_to_dict(self.config)

    def check_run_folder(self) -> None:
        if (self.run_dir / LEGACY_CHECKPOINT).is_file():
            raise SonicMotionError(
                f"{self.run_dir} holds a {LEGACY_CHECKPOINT} from an older SonicMotion, which this version cannot "
                "resume; its model/ folder still works with 'generate': train into a new --out"
            )

    def steps(self):
        """Endless optimizer steps' micro-batches; ``check_sample`` sees the run's first sample."""
        for micro_batches in self.batches:
            if self.check_sample is not None:
                self.check_sample({k: v[0] for k, v in micro_batches[0].items() if isinstance(v, list)})
                self.check_sample = None
            yield micro_batches

    def log_values(self, window: list[dict[str, torch.Tensor]]) -> dict[str, float]:
        loss = float(torch.stack([result["loss"] for result in window]).mean())
        return {"loss": process_mean(self.accelerator, {"loss": loss})["loss"], "epoch": self.batches.epoch,
                "lr": self.schedule.get_last_lr()[0]}
