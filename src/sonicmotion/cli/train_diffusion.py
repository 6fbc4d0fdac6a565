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
            "shards, with the autoencoder (or the lossless patch pretransform) and the text encoder\n"
            "frozen. Resumes exactly from OUT/checkpoint.pt; the EMA model for 'sonicmotion generate'\n"
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
        ),
    )
    from sonicmotion.training.diffusion import add_arguments

    add_arguments(p)
    p.set_defaults(run=_run)
    return p


def _run(args: argparse.Namespace) -> int:
    from sonicmotion.training.diffusion import run

    return run(args)
