"""train diffusion: the ``diffusion`` subcommand of ``sonicmotion train``.

``cli/train.py`` creates the ``train`` command and calls :func:`register_train`; the
training itself is :func:`sonicmotion.training.workflows.train_diffusion`.
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
            "One run at a time per OUT: a second is refused, naming the first's host and PID.\n"
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
    parser.add_argument("--max-steps", "--steps", dest="steps", metavar="N", type=positive_int,
                        help="override training.max_steps (the total steps)")
    add_batch_arguments(parser)
    parser.add_argument("--mixed-precision", choices=["auto", "no", "bf16", "fp16"], help="autocast precision")
    parser.add_argument("--checkpoint-every", type=positive_int, help="steps between checkpoints")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _run(args: argparse.Namespace) -> int:
    from sonicmotion.models.text import text_encoder_folder
    from sonicmotion.training.workflows import train_diffusion
    from sonicmotion.weights import config_text_encoder

    # Before any data or model is read: a missing text encoder is the weights check's own line.
    text_encoder_folder(args.text_encoder or config_text_encoder(args.config))

    overrides = {}
    for flag, key in [("text_encoder", "model.text_encoder"), ("steps", "training.max_steps"),
                      ("batch_size", "training.global_batch_size"),
                      ("gradient_accumulation_steps", "training.gradient_accumulation_steps"),
                      ("num_workers", "training.num_workers"), ("mixed_precision", "training.mixed_precision"),
                      ("checkpoint_every", "training.checkpoint_every"), ("seed", "training.seed"),
                      ("micro_batch", "training.micro_batch")]:
        if getattr(args, flag) is not None:
            overrides[key] = getattr(args, flag)
    train_diffusion(args.config, args.autoencoder, args.data, args.out, overrides, args.dit, args.resume,
                    progress=not args.quiet, gradient_checkpointing=args.gradient_checkpointing)
    return 0
