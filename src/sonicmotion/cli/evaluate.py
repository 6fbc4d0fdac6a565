"""``sonicmotion evaluate WHAT``: one subcommand per evaluation (Table 3, Table 2, ...).

``cli/autoencoder.py`` adds ``autoencoder`` (Table 3); ``cli/evaluate_generation.py`` adds
``generation`` (Table 2), ``table`` and ``prompts``; each through ``register_evaluate(subcommands)``.
"""

from __future__ import annotations

import argparse

from sonicmotion.cli import autoencoder, evaluate_generation


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate", help="the paper's metrics: autoencoder (Table 3), generation (Table 2), table, prompts",
        description="Evaluate a trained model with the paper's metrics; writes JSON and prints a table.",
    )
    subcommands = parser.add_subparsers(dest="target", metavar="WHAT", parser_class=type(parser))
    subcommands.required = True
    for module in (autoencoder, evaluate_generation):
        module.register_evaluate(subcommands)
