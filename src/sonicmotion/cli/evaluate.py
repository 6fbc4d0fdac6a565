"""``sonicmotion evaluate ...``: the evaluation commands, grouped under one parent."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "evaluate", help="evaluate generated audio (Table 2)",
        description="Evaluation commands; run 'sonicmotion evaluate COMMAND --help' for each.",
    )
    subcommands = p.add_subparsers(dest="evaluate_command", metavar="COMMAND", parser_class=type(p))
    subcommands.required = True
    from sonicmotion.cli.evaluate_generation import register_evaluate

    register_evaluate(subcommands)
