"""train diffusion: the ``diffusion`` subcommand of ``sonicmotion train``.

The ``train`` command family is created by the autoencoder's CLI module, which calls
:func:`register_train` with its subparsers.
"""

from __future__ import annotations

import argparse

from sonicmotion.cli.options import add_batch_arguments, example_epilog, positive_int


def register_train(train_subcommands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``diffusion`` under ``sonicmotion train``; returns the new parser."""
    p = train_subcommands.add_parser(
        "diffusion", help="train the descriptive or parametric latent diffusion model",
        description=(
            "Train SonicMotion's diffusion transformer on FOA audio shards or pre-encoded latent\n"
            "shards, with the autoencoder (4-channel or parametric, or a lossless patch pretransform)\n"
            "and the text encoder frozen. Checkpoints go to OUT/checkpoints/ (--resume continues exactly);\n"
            "the EMA model for 'sonicmotion generate' is written to OUT/model/ at every checkpoint.\n"
            "Several processes (GPUs, nodes, or CPU processes): torchrun --nproc_per_node N -m sonicmotion\n"
            "train diffusion ... (or accelerate launch); the batch is global and split over them."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=example_epilog(
            "sonicmotion train diffusion --config configs/diffusion/parametric.yaml --autoencoder runs/ae "
            "--data latents/ --out runs/sm-p",
            "sonicmotion train diffusion --config configs/diffusion/descriptive.yaml --autoencoder runs/ae "
            "--data dataset/ --out runs/sm-d --mixed-precision bf16",
            "sonicmotion train diffusion --config configs/diffusion/parametric.yaml --autoencoder patch:256:32 "
            "--data dataset/ --out runs/tiny-p --dit tiny --text-encoder minilm --steps 200 --batch-size 4",
            "sonicmotion train diffusion --config configs/diffusion/parametric-tiny.yaml "
            "--autoencoder parametric:patch:256 --data dataset/ --out runs/tiny-p-param",
            "sonicmotion train diffusion --config configs/diffusion/parametric-tiny.yaml "
            "--autoencoder parametric:patch:256 --data dataset/ --out runs/tiny-p-param --resume --steps 800",
            "torchrun --nproc_per_node 8 -m sonicmotion train diffusion --config configs/diffusion/parametric.yaml "
            "--autoencoder runs/ae --data latents/ --out runs/sm-p",
        ),
    )
    add_arguments(p)
    p.set_defaults(run=_run)
    return p


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The training flags (torch-free, so building the CLI stays fast)."""
    parser.add_argument("--config", required=True, help="training config: a YAML path or a shipped name (descriptive, "
                        "parametric: the paper; *-plus: with our additions; *-tiny: CPU size)")
    parser.add_argument("--autoencoder", required=True, help="autoencoder run folder / checkpoint (4-channel or parametric), or patch:N[:SCALE] "
                        "(lossless patching) or parametric:patch:N[:SCALE] (W patched + direction per frame)")
    parser.add_argument("--data", required=True, help="dataset folder of FOA audio shards or latent shards (DIR/train/train-*.tar)")
    parser.add_argument("--out", required=True, help="run folder (created)")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    parser.add_argument("--dit", help="DiT size: paper, small, tiny, or a YAML file (overrides the config)")
    parser.add_argument("--text-encoder", help="minilm (offline, bundled), t5-base, or a local T5 folder (overrides the config)")
    parser.add_argument("--steps", type=positive_int, help="total training steps")
    add_batch_arguments(parser)
    parser.add_argument("--mixed-precision", choices=["auto", "no", "bf16", "fp16"], help="autocast precision")
    parser.add_argument("--checkpoint-every", type=positive_int, help="steps between checkpoints")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _run(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from sonicmotion.data.latents import check_latent_metadata, holds_latents, shard_dataset_factory
    from sonicmotion.data.shards import find_shards
    from sonicmotion.files import check_output_folder
    from sonicmotion.models.config import dit_config
    from sonicmotion.models.pretransform import load_pretransform
    from sonicmotion.models.text import load_text_encoder
    from sonicmotion.training.diffusion import DiffusionTrainer, load_train_config, parameter_count
    from sonicmotion.training.runtime import start_line
    from sonicmotion.yaml_config import config_to_dict as to_dict

    overrides = {"model.pretransform": str(args.autoencoder)}
    for flag, key in [("text_encoder", "model.text_encoder"), ("steps", "training.steps"),
                      ("batch_size", "training.global_batch_size"),
                      ("gradient_accumulation_steps", "training.gradient_accumulation_steps"),
                      ("num_workers", "training.num_workers"), ("mixed_precision", "training.mixed_precision"),
                      ("checkpoint_every", "training.checkpoint_every"), ("seed", "training.seed")]:
        if getattr(args, flag) is not None:
            overrides[key] = getattr(args, flag)
    if args.dit is not None:
        overrides["model.dit"] = to_dict(dit_config(args.dit, Path(args.config).parent))
    config = load_train_config(args.config, overrides)
    out = check_output_folder(args.out)
    urls = [str(p) for p in find_shards(args.data, "train")]
    latents = holds_latents(urls[0])
    pretransform, info = load_pretransform(args.autoencoder)
    if info["type"] == "autoencoder":
        config = replace(config, model=replace(config.model, pretransform=info["path"]))
    check = None
    if latents:
        def check(sample: dict) -> None:
            check_latent_metadata(sample, pretransform.downsampling_ratio, pretransform.latent_channels, args.data)
    text_encoder = load_text_encoder(config.model.text_encoder, config.model.text_max_length)
    trainer = DiffusionTrainer(config, out, shard_dataset_factory(urls, latents, config.training.seed),
                               text_encoder=text_encoder, pretransform=pretransform, pretransform_info=info,
                               progress=not args.quiet, check_sample=check)
    if trainer.accelerator.is_main_process:
        model = trainer.accelerator.unwrap_model(trainer.model)
        print(f"{config.model.variant} model: {parameter_count(model) / 1e6:.1f} M trainable parameters "
              f"(DiT {parameter_count(model.dit) / 1e6:.1f} M); data: {len(urls)} "
              f"{'latent' if latents else 'audio'} shard(s)")
        print(start_line("train diffusion", trainer.accelerator, trainer.plan), flush=True)
    records = trainer.fit(resume=args.resume)
    if records and trainer.accelerator.is_main_process:
        print(f"step {records[-1]['step']}: loss {records[-1]['loss']:.4f}; model in {out / 'model'}")
    return 0
