"""``sonicmotion evaluate WHAT``: one subcommand per evaluation (Table 3, Table 2, ...).

Each module named in ``EVALUATE_MODULES`` (under ``sonicmotion.cli``) defines
``register_evaluate(subcommands)``; a new evaluation appends its module name here.
"""

from __future__ import annotations

import argparse
import importlib

EVALUATE_MODULES = ["autoencoder", "evaluate_generation"]


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate", help="the paper's metrics: autoencoder (Table 3), generation (Table 2), table, prompts",
        description="Evaluate a trained model with the paper's metrics; writes JSON and prints a table.",
    )
    subcommands = parser.add_subparsers(dest="target", metavar="WHAT", parser_class=type(parser))
    subcommands.required = True
    for name in EVALUATE_MODULES:
        importlib.import_module(f"sonicmotion.cli.{name}").register_evaluate(subcommands)
