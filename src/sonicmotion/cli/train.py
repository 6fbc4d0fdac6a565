"""``sonicmotion train MODEL``: one subcommand per trainable model family.

Each module named in ``TRAIN_MODULES`` (under ``sonicmotion.cli``) defines
``register_train(subcommands)`` adding its ``train X`` parser; a new family (e.g. the
diffusion model) appends its module name here.
"""

from __future__ import annotations

import argparse
import importlib

TRAIN_MODULES = ["autoencoder", "train_diffusion"]


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train", help="train a model: the autoencoder or a diffusion model",
        description="Train one of the project's models. Runs on this CPU, one GPU, or many processes "
        "(GPUs, nodes, CPU processes) as one run: 'torchrun --nproc_per_node N -m sonicmotion train ...' or "
        "'accelerate launch -m sonicmotion train ...' (docs/training.md).",
    )
    subcommands = parser.add_subparsers(dest="model", metavar="MODEL", parser_class=type(parser))
    subcommands.required = True
    for name in TRAIN_MODULES:
        importlib.import_module(f"sonicmotion.cli.{name}").register_train(subcommands)
