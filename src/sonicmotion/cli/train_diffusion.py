"""train diffusion: the ``diffusion`` subcommand of ``sonicmotion train``.

The ``train`` command family is created by the autoencoder's CLI module, which calls
:func:`register_train` with its subparsers.
"""

from __future__ import annotations

import argparse

from sonicmotion.cli.options import example_epilog


def register_train(train_subcommands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``diffusion`` under ``sonicmotion train``; returns the new parser."""
    p = train_subcommands.add_parser(
        "diffusion", help="train the descriptive or parametric latent diffusion model",
        description=(
            "Train SonicMotion's diffusion transformer on FOA audio shards or pre-encoded latent\n"
            "shards, with the autoencoder (4-channel or parametric, or a lossless patch pretransform)\n"
            "and the text encoder frozen. Resumes exactly from OUT/checkpoint.pt; the EMA model for 'sonicmotion generate'\n"
            "is written to OUT/model/ at every checkpoint."
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
        ),
    )
    add_arguments(p)
    p.set_defaults(run=_run)
    return p


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The training flags (kept here, torch-free, so building the CLI stays fast)."""
    parser.add_argument("--config", required=True, help="training config YAML (configs/diffusion/descriptive.yaml or parametric.yaml)")
    parser.add_argument("--autoencoder", required=True, help="autoencoder run folder / checkpoint (4-channel or parametric), or patch:N[:SCALE] "
                        "(lossless patching) or parametric:patch:N[:SCALE] (W patched + direction per frame)")
    parser.add_argument("--data", required=True, help="dataset folder of FOA audio shards or latent shards (DIR/train/train-*.tar)")
    parser.add_argument("--out", required=True, help="run folder (created; an existing checkpoint there is resumed)")
    parser.add_argument("--dit", help="DiT size: paper, small, tiny, or a YAML file (overrides the config)")
    parser.add_argument("--text-encoder", help="minilm (offline, bundled), t5-base, or a local T5 folder (overrides the config)")
    parser.add_argument("--steps", type=int, help="total training steps")
    parser.add_argument("--batch-size", type=int, help="samples per step per process")
    parser.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"], help="autocast precision")
    parser.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _run(args: argparse.Namespace) -> int:
    from sonicmotion.training.diffusion import run

    return run(args)
