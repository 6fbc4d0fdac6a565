"""Whole runs that ``sonicmotion`` commands and the demo share: train and evaluate the
autoencoder (Table 3), encode latent shards, train a diffusion model.

Each checks its inputs, does the work, writes into its output folder or file and prints
what the command prints. Torch is imported inside the functions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from sonicmotion.data.corpora import SPLITS
from sonicmotion.errors import SonicMotionError
from sonicmotion.devices import resolve_device
from sonicmotion.files import check_output_file, check_output_folder


def _shards(paths: Iterable[str | os.PathLike], split: str | None) -> list[Path]:
    """Tar shards from files or folders; a dataset root ``DIR`` means ``DIR/{split}/*.tar``."""
    from sonicmotion.data.shards import find_shards

    return [shard for raw in paths for shard in find_shards(raw, split)]


def _read_samples(shards: list[Path], seed: int = 0):
    """Whole clips of ``shards`` in order (the dataset splits itself over processes)."""
    from sonicmotion.data.loader import FoaShardDataset

    return FoaShardDataset([str(s) for s in shards], crop_seconds=None, shuffle=False, seed=seed)


# ---- autoencoder ---------------------------------------------------------------------------------

def autoencoder_config(out: str | os.PathLike, config: str | os.PathLike | None = None, resume: bool = False,
                       strict_eq2: bool = False, **training: Any):
    """The run's ``AutoencoderRunConfig``: ``config`` (a YAML path or shipped name), or the
    run's saved one on ``resume``; ``training``: overrides (max_steps, global_batch_size,
    gradient_accumulation_steps, num_workers, seed, micro_batch; None keeps the config's)."""
    from dataclasses import replace

    from sonicmotion.training.autoencoder import AutoencoderRunConfig, override_training

    out = Path(out)
    saved = out / "config.yaml"
    if config:
        run_config = AutoencoderRunConfig.from_yaml(config)
        if resume and saved.is_file():
            previous = AutoencoderRunConfig.from_yaml(saved, saved_run=True)
            if previous.model != run_config.model:
                raise SonicMotionError(f"--config {config} has a different model than the run in {out}")
    elif resume and saved.is_file():
        run_config = AutoencoderRunConfig.from_yaml(saved, saved_run=True)
    else:
        raise SonicMotionError("--config is required for a new run")
    run_config = override_training(run_config, **training)
    if strict_eq2:
        run_config = replace(run_config, loss=replace(run_config.loss, strict_eq2=True))
    return run_config


def train_autoencoder(config, out: str | os.PathLike, data: Iterable[str | os.PathLike],
                      validation: Iterable[str | os.PathLike] = (), resume: bool = False,
                      progress: bool = True, gradient_checkpointing: bool = False) -> None:
    """Train (or ``resume``) an autoencoder run in ``out`` on the train shards of ``data``
    (validated every ``validate_every`` steps on the validation shards of ``validation``);
    ``gradient_checkpointing``: on for this run, whatever the model config says."""
    from sonicmotion.training.autoencoder import AutoencoderTrainer, shard_epochs

    out = check_output_folder(out)
    train = _shards(data, "train")
    validation = list(validation)
    validation = _shards(validation, "validation") if validation else []
    if not resume and (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir()):
        raise SonicMotionError(f"{out} already has checkpoints; pass --resume to continue it or choose a new --out")
    trainer = AutoencoderTrainer(config, out, shard_epochs([str(s) for s in train], config.training),
                                 _read_samples(validation, config.training.seed) if validation else None,
                                 progress=progress, gradient_checkpointing=gradient_checkpointing)
    from sonicmotion.models.autoencoder import SpatialAutoencoder

    if trainer.accelerator.is_main_process:
        from sonicmotion.training.runtime import start_line

        params = SpatialAutoencoder(config.model).num_parameters()
        print(f"autoencoder: {params / 1e6:.2f} M parameters, ratio {config.model.downsampling_ratio}, "
              f"{config.model.latent_channels} latent channels")
        print(start_line("train autoencoder", trainer.accelerator, trainer.plan), flush=True)
    summary = trainer.fit(resume=resume)
    if trainer.accelerator.is_main_process:
        line = f"step {summary.step}" + (f", loss {summary.last['loss']:.4f}" if summary.last else "")
        print(f"{line}, {summary.skipped_steps} skipped step(s); checkpoints in {out / 'checkpoints'}")


def evaluate_autoencoder_run(checkpoint: str | os.PathLike, data: Iterable[str | os.PathLike],
                             out: str | os.PathLike, split: str = "test", limit: int | None = None,
                             weights: str = "ema", batch_size: int = 4, device: str = "auto",
                             progress: bool = True) -> None:
    """Table 3 of ``checkpoint`` on the ``split`` shards of ``data``, written to the JSON file ``out``."""
    out = check_output_file(out, (".json",))
    device = resolve_device(device)
    if limit is not None and limit < 1:
        raise SonicMotionError("--limit must be >= 1")
    shards = _shards(data, split)
    from sonicmotion.evaluation.autoencoder import evaluate_autoencoder
    from sonicmotion.files import atomic_path
    from sonicmotion.models.pretransform import load_pretransform

    model, _ = load_pretransform(checkpoint, weights=weights)
    metrics = evaluate_autoencoder(model, _read_samples(shards), limit=limit, batch_size=batch_size,
                                   device=device, progress=progress)
    report = metrics.to_dict()
    report.update(checkpoint=str(checkpoint), weights=weights, data=[str(s) for s in shards])
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print(metrics.table())
    print(f"wrote {out}")


def encode_latents(autoencoder: str | os.PathLike, data: Iterable[str | os.PathLike], out: str | os.PathLike,
                   splits: Iterable[str] = SPLITS, weights: str = "ema", batch_size: int = 8,
                   frame_multiple: int = 16, device: str = "auto", progress: bool = True) -> None:
    """Encode into latent shards in ``out`` the listed ``splits`` each dataset folder of ``data``
    has (missing ones skipped), and any other shard, split folder or folder of shards as given."""
    from sonicmotion.data.shards import find_shards
    from sonicmotion.models.pretransform import load_pretransform
    from sonicmotion.training.encode_latents import encode_shards

    out = check_output_folder(out)
    device = resolve_device(device)
    if frame_multiple < 1:
        raise SonicMotionError(f"--frame-multiple must be >= 1, got {frame_multiple}")
    shards: list[Path] = []
    for raw in data:
        path = Path(raw)
        present = [split for split in splits if (path / split).is_dir()] if path.is_dir() else []
        if present:
            shards.extend(shard for split in present for shard in find_shards(path, split))
        else:
            shards.extend(find_shards(path))
    model, _ = load_pretransform(autoencoder, weights=weights)
    out.mkdir(exist_ok=True)
    counts = encode_shards(model, shards, out, lambda shard: _read_samples([shard]), str(autoencoder),
                           batch_size=batch_size, device=device, progress=progress, frame_multiple=frame_multiple)
    print(f"{counts['samples']} clips in {counts['shards_written']} new shard(s), "
          f"{counts['shards_skipped']} already done; latents in {out}")


# ---- diffusion -----------------------------------------------------------------------------------

def train_diffusion(config: str | os.PathLike, autoencoder: str | os.PathLike, data: str | os.PathLike,
                    out: str | os.PathLike, overrides: dict[str, Any] | None = None, dit: str | None = None,
                    resume: bool = False, progress: bool = True, gradient_checkpointing: bool = False) -> None:
    """Train (or ``resume``) a diffusion run in ``out`` (the EMA pipeline in ``out/model``).

    ``config``: a YAML path or shipped name; ``overrides``: dotted config keys
    (``training.max_steps``...); ``dit``: a DiT size name or YAML file replacing the config's;
    ``gradient_checkpointing``: on for this run, whatever the DiT config says.
    """
    from dataclasses import replace

    from sonicmotion.data.latents import check_latent_metadata, holds_latents, shard_dataset_factory
    from sonicmotion.data.shards import find_shards
    from sonicmotion.models.config import dit_config
    from sonicmotion.models.pretransform import load_pretransform
    from sonicmotion.models.text import load_text_encoder
    from sonicmotion.training.diffusion import DiffusionTrainer, load_train_config, parameter_count
    from sonicmotion.training.runtime import start_line
    from sonicmotion.yaml_config import config_to_dict as to_dict

    overrides = {"model.pretransform": str(autoencoder), **(overrides or {})}
    if dit is not None:
        overrides["model.dit"] = to_dict(dit_config(dit, Path(config).parent))
    train_config = load_train_config(config, overrides)
    out = check_output_folder(out)
    urls = [str(p) for p in find_shards(data, "train")]
    latents = holds_latents(urls[0])
    pretransform, info = load_pretransform(autoencoder)
    if info.path is not None:
        train_config = replace(train_config, model=replace(train_config.model, pretransform=info.path))
    check = None
    if latents:
        def check(sample: dict) -> None:
            check_latent_metadata(sample, pretransform.downsampling_ratio, pretransform.latent_channels, data)
    text_encoder = load_text_encoder(train_config.model.text_encoder, train_config.model.text_max_length)
    trainer = DiffusionTrainer(train_config, out, shard_dataset_factory(urls, latents, train_config.training.seed),
                               text_encoder=text_encoder, pretransform=pretransform, pretransform_info=info,
                               progress=progress, check_sample=check, gradient_checkpointing=gradient_checkpointing)
    if trainer.accelerator.is_main_process:
        model = trainer.accelerator.unwrap_model(trainer.model)
        print(f"{train_config.model.variant} model: {parameter_count(model) / 1e6:.1f} M trainable parameters "
              f"(DiT {parameter_count(model.dit) / 1e6:.1f} M); data: {len(urls)} "
              f"{'latent' if latents else 'audio'} shard(s)")
        print(start_line("train diffusion", trainer.accelerator, trainer.plan), flush=True)
    summary = trainer.fit(resume=resume)
    if summary.last and trainer.accelerator.is_main_process:
        print(f"step {summary.step}: loss {summary.last['loss']:.4f}; model in {out / 'model'}")
        from sonicmotion.pipeline import write_model_card

        settings = train_config.training  # the card names folders, not paths of this machine
        write_model_card(out / "model", training={
            "data": f"{Path(data).name}: {len(urls)} {'latent' if latents else 'audio'} shard(s) of the train split",
            "config": Path(config).name, "autoencoder": Path(autoencoder).name, "steps": summary.step,
            "global batch size": settings.global_batch_size, "learning rate": settings.learning_rate,
            "final loss": round(summary.last["loss"], 4)})
