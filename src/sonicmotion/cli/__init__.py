"""The ``sonicmotion`` command: a thin layer over the library.

Each command family lives in its own module here and exposes ``register(subparsers)``;
:func:`build_parser` calls them in ``--help`` order. Command modules import torch and other
heavy packages only inside their ``run`` functions, so ``--help`` stays fast and torch-free.
Every :class:`~sonicmotion.errors.SonicMotionError` becomes one line on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import sys

from sonicmotion import __version__
from sonicmotion.cli import (
    autoencoder, baseline, dataset, demo, evaluate, generate, memory_plan, motion, render, report, scene, spatial,
    train, weights,
)
from sonicmotion.errors import SonicMotionError, one_line

# in --help order
COMMANDS = (spatial, motion, render, scene, dataset, weights, train, memory_plan, autoencoder, generate, baseline,
            evaluate, report, demo)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's default prints usage; keep one line
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sonicmotion",
        description="Moving 3-D soundscapes in first-order Ambisonics (FOA).",
        epilog="Run 'sonicmotion COMMAND --help' for each command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"sonicmotion {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version, or a flag argparse refused (one line, status 2)
        return done.code if isinstance(done.code, int) else 0
    try:
        return int(args.run(args) or 0)
    except SonicMotionError as err:
        print(f"sonicmotion {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except ImportError as err:  # an optional package missing: name the extra in one line
        from sonicmotion.optional import missing_extra

        refusal = missing_extra(err, f"this command ({args.command})")
        if refusal is None:
            raise
        print(f"sonicmotion {args.command}: error: {refusal}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sonicmotion {args.command}: interrupted", file=sys.stderr)
        return 130
