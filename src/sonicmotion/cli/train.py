"""``sonicmotion train MODEL``: ``train autoencoder`` and ``train diffusion``.

Each family's CLI module defines ``register_train(subcommands)`` adding its ``train X``
parser (``cli/autoencoder.py``, ``cli/train_diffusion.py``); :func:`register` calls them in
``--help`` order.
"""

from __future__ import annotations

import argparse

from sonicmotion.cli import autoencoder, train_diffusion


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train", help="train a model: the autoencoder or a diffusion model",
        description="Train one of the project's models. Runs on this CPU, one GPU, or many processes "
        "(GPUs, nodes, CPU processes) as one run: 'torchrun --nproc_per_node N -m sonicmotion train ...' or "
        "'accelerate launch -m sonicmotion train ...' (docs/training.md).",
    )
    subcommands = parser.add_subparsers(dest="model", metavar="MODEL", parser_class=type(parser))
    subcommands.required = True
    for module in (autoencoder, train_diffusion):
        module.register_train(subcommands)
