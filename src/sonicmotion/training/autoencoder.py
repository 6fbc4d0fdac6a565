"""Training the spatial autoencoder with its discriminator on Hugging Face Accelerate.

One code path for this CPU, one GPU, or many processes (``torchrun``, ``accelerate
launch``; see docs/training.md). Each step, on each of its micro-batches of random crops:
encode/decode; if past the adversarial warm-up, the discriminator's hinge loss on (real,
fake); the generator's Eq. 2 (+ spatial term); then one update of each and of the EMA. A
step whose loss or gradients are not finite is skipped and counted. The loop around the
step (resume, log, progress, checkpoints) is ``training.loop``; the run folder holds
``config.yaml``, ``checkpoints/step-*/``, ``log.jsonl`` and ``validation.jsonl``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, ContextManager, Iterable

import torch

from sonicmotion import __version__
from sonicmotion.errors import SonicMotionError
from sonicmotion.models.autoencoder import WEIGHTS_FORMAT, AutoencoderConfig, SpatialAutoencoder
from sonicmotion.models.pretransform import ParametricPretransform, ParametricSettings
from sonicmotion.models.discriminator import (
    DiscriminatorConfig,
    MultiScaleStftDiscriminator,
    discriminator_hinge_loss,
    feature_matching_loss,
    generator_hinge_loss,
)
from sonicmotion.data.loader import collate_samples
from sonicmotion.training.batches import DatasetFactory, TrainingBatches
from sonicmotion.training.checkpoint import CheckpointManager, load_training, save_training
from sonicmotion.training.ema import ExponentialMovingAverage
from sonicmotion.training.loop import Trainer
from sonicmotion.training.micro_batch import WHOLE, parse_micro_batch
from sonicmotion.training.losses import AutoencoderLoss, AutoencoderLossConfig
from sonicmotion.training.runtime import batch_plan, make_accelerator, process_mean, truncate_jsonl
from sonicmotion.training.schedulers import InverseLR
from sonicmotion.yaml_config import config_from_dict, config_to_dict, find_config, load_yaml, renamed_batch_size


@dataclass(frozen=True)
class AutoencoderTrainingConfig:
    """Optimisation settings. Paper §2.6: AdamW (0.8, 0.99), wd 1e-3, lr 1e-4 / 2e-4, 2 s crops."""

    global_batch_size: int = 128  # paper §2.6; per process = global / (processes x accumulation)
    gradient_accumulation_steps: int = 1
    crop_seconds: float = 2.0
    max_steps: int = 400_000
    learning_rate: float = 1e-4  # the autoencoder's (the generator's)
    discriminator_learning_rate: float = 2e-4
    betas: tuple[float, ...] = (0.8, 0.99)
    weight_decay: float = 1e-3
    # InverseLR as in Stable Audio Open's VAE recipe.
    lr_inv_gamma: float = 200_000.0
    lr_power: float = 0.5
    lr_warmup: float = 0.999
    ema_decay: float = 0.999
    generator_grad_clip: float = 1000.0  # DAC's values
    discriminator_grad_clip: float = 10.0
    checkpoint_every: int = 5000
    keep_checkpoints: int = 3
    log_every: int = 50
    validate_every: int = 5000
    validation_clips: int = 32
    num_workers: int = 4
    seed: int = 0
    mixed_precision: str = "auto"  # auto: bf16 on CUDA, fp32 on CPU; or "no" / "bf16"
    micro_batch: Any = WHOLE  # samples per forward/backward per process: "auto", "whole" or N (training.micro_batch)

    # Names before both trainers shared one vocabulary (old -> new).
    RENAMED_KEYS: ClassVar[dict[str, str]] = {"generator_lr": "learning_rate",
                                              "discriminator_lr": "discriminator_learning_rate"}

    def __post_init__(self) -> None:
        if min(self.global_batch_size, self.gradient_accumulation_steps, self.max_steps, self.checkpoint_every,
               self.log_every, self.validate_every) < 1 or not self.crop_seconds > 0:
            raise SonicMotionError("training config: global_batch_size, gradient_accumulation_steps, max_steps, "
                                   "checkpoint_every, log_every, validate_every and crop_seconds must be positive")
        if self.mixed_precision not in ("auto", "no", "bf16"):
            raise SonicMotionError(f"training config: mixed_precision must be auto, no or bf16, got {self.mixed_precision!r}")
        object.__setattr__(self, "micro_batch", parse_micro_batch(self.micro_batch))


@dataclass(frozen=True)
class AutoencoderRunConfig:
    """One YAML file: ``model``, ``discriminator``, ``loss`` and ``training`` sections, and
    ``parametric`` for the transport codec of the parametric latent (a 1-channel model
    trained on W; directions and diffuseness are analysed, not learned)."""

    model: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: AutoencoderLossConfig = field(default_factory=AutoencoderLossConfig)
    training: AutoencoderTrainingConfig = field(default_factory=AutoencoderTrainingConfig)
    parametric: ParametricSettings | None = None

    def __post_init__(self) -> None:
        if self.parametric is not None:
            if self.model.audio_channels != 1:
                raise SonicMotionError("a parametric run trains the 1-channel transport codec: set model.audio_channels: 1")
            if self.loss.uses_spatial_term:
                raise SonicMotionError("a parametric run codes W alone: set loss.spatial_weight: 0 (direction is analysed, "
                                       "not learned)")
        elif self.model.audio_channels != 4:
            raise SonicMotionError(f"model.audio_channels is {self.model.audio_channels}: the spatial autoencoder takes "
                                   "4 (FOA); a 1-channel transport codec needs a 'parametric' section")

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, saved_run: bool = False) -> "AutoencoderRunConfig":
        """A YAML file or shipped name; ``saved_run``: a run folder's own ``config.yaml``,
        which may use the keys' older names."""
        path = find_config(path, "autoencoder")
        data = load_yaml(path)
        renamed_batch_size(data, str(path))
        return config_from_dict(cls, data, path.name, accept_renamed=saved_run)

    def to_dict(self) -> dict:
        return config_to_dict(self)


def override_training(config: AutoencoderRunConfig, **changes: Any) -> AutoencoderRunConfig:
    """A copy with some training fields replaced (command-line overrides); None values are ignored."""
    from dataclasses import replace

    changes = {k: v for k, v in changes.items() if v is not None}
    return replace(config, training=replace(config.training, **changes)) if changes else config


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of an autoencoder epoch's crops and order (kept as the first runs had it, so
    their resumes and the demo's figures stay the same)."""
    return seed + 1000 * epoch


def shard_epochs(urls: list[str], training: AutoencoderTrainingConfig) -> DatasetFactory:
    """epoch -> that epoch's random ``crop_seconds`` crops of the FOA shards ``urls``, shuffled
    (the dataset splits itself over processes and workers)."""
    from sonicmotion.data.loader import FoaShardDataset

    return lambda epoch: FoaShardDataset(urls, crop_seconds=training.crop_seconds, shuffle=True,
                                         seed=epoch_seed(training.seed, epoch))


class AutoencoderTrainer(Trainer):
    """Explicit training state plus a short :meth:`train_step`; see the module docstring.

    ``dataset_factory(epoch)`` returns that epoch's samples (dicts with ``audio`` [C, T]
    FuMa crops; :func:`shard_epochs` for shards); ``validation``: whole clips, read again
    at every validation (an iterable dataset, not a one-pass generator).
    """

    name = "autoencoder"
    progress_keys = ("loss", "mrstft")

    def __init__(
        self,
        config: AutoencoderRunConfig,
        run_dir: str | os.PathLike,
        dataset_factory: DatasetFactory,
        validation: Iterable[dict] | None = None,
        progress: bool = True,
        gradient_checkpointing: bool = False,
    ):
        self.config = config
        self.run_dir = Path(run_dir)
        self.validation = validation
        self.progress = progress
        cfg = config.training
        self.micro_batch, self.gradient_checkpointing = cfg.micro_batch, gradient_checkpointing
        self.accelerator = make_accelerator(cfg.mixed_precision, cfg.gradient_accumulation_steps, self.run_dir)
        self.plan = batch_plan(self.accelerator, cfg.global_batch_size, cfg.gradient_accumulation_steps)
        torch.manual_seed(cfg.seed + self.accelerator.process_index)

        generator = SpatialAutoencoder(config.model)
        discriminator = MultiScaleStftDiscriminator(config.discriminator, config.model.audio_channels)
        self.ema = ExponentialMovingAverage(generator, cfg.ema_decay).to(self.accelerator.device)
        self.loss = AutoencoderLoss(config.loss, config.model.sample_rate).to(self.accelerator.device)
        opt_g = torch.optim.AdamW(generator.parameters(), cfg.learning_rate, betas=tuple(cfg.betas),
                                  weight_decay=cfg.weight_decay)
        opt_d = torch.optim.AdamW(discriminator.parameters(), cfg.discriminator_learning_rate,
                                  betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
        self.generator, self.discriminator, self.opt_g, self.opt_d = self.accelerator.prepare(
            generator, discriminator, opt_g, opt_d
        )
        schedule = dict(inv_gamma=cfg.lr_inv_gamma, power=cfg.lr_power, warmup=cfg.lr_warmup)
        # Schedulers wrap the raw optimisers: accelerate's scheduler wrapper would step once per process.
        self.sched_g = InverseLR(opt_g, **schedule)
        self.sched_d = InverseLR(opt_d, **schedule)
        self.checkpoints = CheckpointManager(self.run_dir / "checkpoints", cfg.keep_checkpoints)
        self.batches = TrainingBatches(dataset_factory, self.plan, collate_samples, cfg.num_workers, cfg.seed,
                                       self.accelerator)
        self.step = 0
        self.skipped_steps = 0
        self._scale_audio: torch.Tensor | None = None  # W clips that fix a parametric run's latent scale

    # ---- one step -------------------------------------------------------------------------------

    def _finite_everywhere(self, value: torch.Tensor) -> bool:
        flag = torch.isfinite(value.detach()).all().float().reshape(1)
        return bool(self.accelerator.reduce(flag, reduction="sum").item() == self.accelerator.num_processes)

    def train_step(self, micro_batches: torch.Tensor | list[torch.Tensor]) -> dict[str, float]:
        """One optimizer step on [B, C, T] audio, or on a list of micro-batches whose gradients
        accumulate (Accelerate's accumulation): the discriminator (after warm-up) and the
        generator are each updated once, on all of them. A step with a non-finite loss or
        gradient anywhere, on any process, updates nothing and is counted as skipped."""
        acc, cfg = self.accelerator, self.config
        if isinstance(micro_batches, torch.Tensor):
            micro_batches = [micro_batches]
        adversarial = self.step >= cfg.loss.adversarial_warmup_steps
        logs: list[dict[str, float]] = []
        finite_d = finite_g = True
        self.generator.train()
        for audio in micro_batches:
            with acc.accumulate(self.generator, self.discriminator):
                log, ok_d, ok_g = self._accumulate(audio, adversarial)
            finite_d, finite_g = finite_d and ok_d, finite_g and ok_g
            logs.append(log)
        log = _mean(logs)

        if adversarial:
            if finite_d:
                norm = acc.clip_grad_norm_(self.discriminator.parameters(), cfg.training.discriminator_grad_clip)
                log["grad_norm_discriminator"] = float(norm)
                if self._finite_everywhere(torch.as_tensor(norm)):
                    self.opt_d.step()
                    self.sched_d.step()
            self.opt_d.zero_grad(set_to_none=True)
        skipped = True
        if finite_g:
            norm = acc.clip_grad_norm_(self.generator.parameters(), cfg.training.generator_grad_clip)
            log["grad_norm_generator"] = float(norm)
            if self._finite_everywhere(torch.as_tensor(norm)):
                self.opt_g.step()
                self.sched_g.step()
                self.ema.update(acc.unwrap_model(self.generator))
                skipped = False
        self.opt_g.zero_grad(set_to_none=True)
        if skipped:
            self.skipped_steps += 1
        log["skipped"] = float(skipped)
        return log

    def _accumulate(self, audio: torch.Tensor, adversarial: bool) -> tuple[dict[str, float], bool, bool]:
        """Forward and backward of one micro-batch; returns its log and whether the
        discriminator's and generator's losses were finite on every process."""
        acc = self.accelerator
        log: dict[str, float] = {}
        with acc.autocast():
            output = self.generator(audio)
        reconstruction = output.reconstruction.float()

        finite_d = True
        adv = fm = None
        if adversarial:
            with acc.autocast():
                scores = self.discriminator(torch.cat([audio, reconstruction.detach()]))
            real, fake = _split_batch(scores, audio.shape[0])
            loss_d = discriminator_hinge_loss(real, fake)
            finite_d = self._finite_everywhere(loss_d)
            log["discriminator"] = float(loss_d.detach())
            if finite_d:
                acc.backward(loss_d)
            # The discriminator's own weights get no gradient from the generator's loss; the
            # unwrapped module avoids a second DDP forward of the same parameters.
            disc = acc.unwrap_model(self.discriminator)
            disc.requires_grad_(False)
            with acc.autocast():
                scores = disc(torch.cat([audio, reconstruction]))
            disc.requires_grad_(True)
            real, fake = _split_batch(scores, audio.shape[0])
            adv, fm = generator_hinge_loss(fake), feature_matching_loss(real, fake)
        loss_g, terms = self.loss(audio, reconstruction, output.kl.float(), adv, fm)
        log.update({name: float(value.detach()) for name, value in terms.items()})
        log["loss"] = float(loss_g.detach())
        finite_g = self._finite_everywhere(loss_g)
        if finite_g:
            acc.backward(loss_g)
        return log, finite_d, finite_g

    def memory_models(self) -> list[torch.nn.Module]:
        return [self.accelerator.unwrap_model(self.generator)]

    def memory_probe(self, audio: torch.Tensor) -> None:
        """Forward and backward of one micro-batch as the costliest step has them (discriminator
        included, whatever the warm-up), on the unwrapped models (no collective), leaving no
        gradient behind."""
        acc = self.accelerator
        generator, disc = acc.unwrap_model(self.generator), acc.unwrap_model(self.discriminator)
        generator.train()
        try:
            costliest_backward(generator, disc, self.loss, audio, acc.autocast)
        finally:
            generator.zero_grad(set_to_none=True)
            disc.zero_grad(set_to_none=True)

    # ---- data -----------------------------------------------------------------------------------

    def steps(self):
        """Endless optimizer steps: lists of micro-batches of audio on the device."""
        for step in self.batches:
            audios = []
            for batch in step:
                audio = batch["audio"]
                if self.config.parametric is not None:
                    audio = audio[:, :1]  # W (FuMa channel 0): the transport signal
                    if self._scale_audio is None:
                        self._scale_audio = audio[:16].clone()
                audios.append(audio.to(self.accelerator.device, torch.float32))
            yield audios

    # ---- checkpoints ----------------------------------------------------------------------------

    def _metadata(self) -> dict[str, str]:
        metadata = {
            "format": WEIGHTS_FORMAT,
            "config": json.dumps(self.config.model.to_dict()),
            "run_config": json.dumps(self.config.to_dict()),
            "sonicmotion_version": __version__,
            "step": str(self.step),
        }
        if self.config.parametric is not None:
            metadata["parametric"] = json.dumps(self.parametric_settings().to_dict())
        return metadata

    @torch.no_grad()
    def parametric_settings(self) -> ParametricSettings:
        """The run's parametric settings with the transport scale measured now: 1 / std of the
        EMA model's latents over the first training clips, so the latents have unit variance."""
        from dataclasses import replace

        settings = self.config.parametric
        if self._scale_audio is None:
            return settings
        model = self.ema.shadow.eval()
        latents = model.encode(self._scale_audio.to(self.accelerator.device, torch.float32))
        std = float(latents.float().std())
        return replace(settings, transport_scale=1.0 / std) if std > 0 and std == std else settings

    def evaluation_model(self):
        """What validation measures: the EMA autoencoder, or for a parametric run the whole pretransform."""
        if self.config.parametric is None:
            return self.ema.shadow
        return ParametricPretransform(self.ema.shadow, self.parametric_settings())

    def _checkpoint_parts(self) -> tuple[dict, dict]:
        """(weight sets, state.pt objects) of a checkpoint."""
        unwrap = self.accelerator.unwrap_model
        weights = {"generator": unwrap(self.generator), "ema": self.ema.shadow,
                   "discriminator": unwrap(self.discriminator)}
        state = {"optimizer_generator": self.opt_g, "optimizer_discriminator": self.opt_d,
                 "scheduler_generator": self.sched_g, "scheduler_discriminator": self.sched_d}
        return weights, state

    def save_checkpoint(self) -> Path | None:
        weights, state = self._checkpoint_parts()
        counters = {"step": self.step, "skipped_steps": self.skipped_steps, "ema_updates": self.ema.num_updates.clone()}
        return save_training(self.checkpoints, self.accelerator, self.batches, self.step, weights,
                             {**counters, **state}, self._metadata())

    def load_checkpoint(self, folder: Path) -> str | None:
        """Restore a checkpoint; returns a note when the data position could not be kept."""
        saved, note = load_training(self.checkpoints, folder, self.accelerator, self.batches, *self._checkpoint_parts())
        self.ema.num_updates.copy_(saved["ema_updates"])
        self.step, self.skipped_steps = saved["step"], saved["skipped_steps"]
        return note

    # ---- around the loop (training.loop) -----------------------------------------------------------

    def run_config(self) -> dict:
        return self.config.to_dict()

    def log_values(self, window: list[dict[str, float]]) -> dict[str, float]:
        return {"epoch": self.batches.epoch, **process_mean(self.accelerator, _mean(window)),
                "lr_generator": self.sched_g.get_last_lr()[0], "lr_discriminator": self.sched_d.get_last_lr()[0]}

    def on_start(self) -> None:
        if self.accelerator.is_main_process:  # rows past the resumed step will be measured again
            truncate_jsonl(self.run_dir / "validation.jsonl", self.step)

    def after_step(self) -> None:
        if self.validation is not None and self.step % self.config.training.validate_every == 0 \
                and self.accelerator.is_main_process:
            with open(self.run_dir / "validation.jsonl", "a") as f:
                f.write(json.dumps(self.validate()) + "\n")

    def validate(self) -> dict[str, float]:
        from sonicmotion.evaluation.autoencoder import evaluate_autoencoder

        cfg = self.config.training
        metrics = evaluate_autoencoder(
            self.evaluation_model(), self.validation, limit=cfg.validation_clips,
            batch_size=max(1, self.plan.per_process // 4), device=str(self.accelerator.device), progress=False,
        )
        row = {"step": self.step, "clips": metrics.clips, "stft": metrics.stft, "mel": metrics.mel,
               "stft_w": metrics.stft_w, "mel_w": metrics.mel_w}
        for resolution, s in metrics.spatial.items():
            row.update({f"{resolution}_{k}": v for k, v in vars(s).items() if k != "clips"})
        return row


def costliest_backward(generator: SpatialAutoencoder, disc: MultiScaleStftDiscriminator, loss: AutoencoderLoss,
                       audio: torch.Tensor, autocast: Callable[[], ContextManager]) -> None:
    """The forward and backward passes of a micro-batch of ``audio`` [B, C, T] as the costliest
    step has them: the discriminator's loss on (real, detached fake) and its backward, then the
    generator's whole loss (Eq. 2, adversarial, feature matching) and its backward. Gradients
    are left on the parameters. ``memory_probe`` and the memory model (``training.memory``) run it."""
    with autocast():
        output = generator(audio)
        reconstruction = output.reconstruction.float()
        real, fake = _split_batch(disc(torch.cat([audio, reconstruction.detach()])), audio.shape[0])
    discriminator_hinge_loss(real, fake).backward()
    disc.requires_grad_(False)
    try:
        with autocast():
            real, fake = _split_batch(disc(torch.cat([audio, reconstruction])), audio.shape[0])
        total, _ = loss(audio, reconstruction, output.kl.float(), generator_hinge_loss(fake),
                        feature_matching_loss(real, fake))
        total.backward()
    finally:
        disc.requires_grad_(True)


def _mean(records: list[dict[str, float]]) -> dict[str, float]:
    """Column means over a logging window (``skipped`` becomes the count)."""
    keys = dict.fromkeys(k for r in records for k in r)
    out = {k: sum(r[k] for r in records if k in r) / sum(1 for r in records if k in r) for k in keys}
    out["skipped"] = sum(r.get("skipped", 0.0) for r in records)
    return out


def _split_batch(scores, batch: int):
    from sonicmotion.models.discriminator import DiscriminatorOutput

    def part(sl):
        return DiscriminatorOutput([x[sl] for x in scores.logits], [[f[sl] for f in fs] for fs in scores.features])

    return part(slice(None, batch)), part(slice(batch, None))
