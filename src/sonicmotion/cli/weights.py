"""weights check: which pretrained files a piece of work needs, found or missing, and how to get each."""

from __future__ import annotations

import argparse

from sonicmotion.cli.options import example_epilog

WORKS = ("table2", "table3", "generate")  # sonicmotion.weights.WORKS (kept import-free here)
BASELINES = ("audioldm2", "stable-audio-open")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "weights", help="check that the pretrained files a piece of work needs are in place",
        description="Pretrained files: where sonicmotion looks for them (nothing is ever downloaded).",
    )
    subcommands = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    subcommands.required = True
    p = subcommands.add_parser(
        "check", help="list every pretrained file the work needs, found or missing, and the command that gets it",
        description=(
            "List every pretrained file the chosen work needs, where it was looked for (the loaders' own\n"
            "lookup), found or missing, and for each missing one the one command that puts it in place on a\n"
            "machine with network access. Exit status 0 when every required file is found, 2 otherwise\n"
            "(optional items, marked so, never fail the check).\n"
            "  table3    the autoencoder (Table 3): none\n"
            "  generate  the diffusion configs' text encoders (T5-base for the paper's), MiniLM (optional)\n"
            "  table2    generate's, CLAP, VGGish, CNN14, the AudioLDM 2 and Stable Audio Open folders,\n"
            "            aiSFX (optional: the proxies when a paper model is missing)\n"
            "  (default: table2, which covers the others)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=example_epilog(
            "sonicmotion weights check",
            "sonicmotion weights check --for generate --config configs/diffusion/parametric.yaml",
            "sonicmotion weights check --for table2 --models-dir /data/models",
        ),
    )
    p.add_argument("--for", dest="work", choices=WORKS, default="table2", help="the work to check for (default table2)")
    p.add_argument("--config", nargs="+", metavar="CONFIG",
                   help="diffusion configs whose text encoders count (default: the paper's descriptive and parametric)")
    p.add_argument("--models-dir", help="evaluation and baseline models folder (default ~/.cache/sonicmotion/models), "
                   "as 'evaluate generation --models-dir'")
    p.add_argument("--clap", help="CLAP folder or Hugging Face id, as 'evaluate generation --clap'")
    for key in BASELINES:
        p.add_argument(f"--{key}", metavar="DIR", help=f"{key} weights folder, as 'baseline --weights' "
                       f"(default MODELS_DIR/{key})")
    p.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sonicmotion import weights

    models_dir = args.models_dir
    folders = {key: getattr(args, key.replace("-", "_")) for key in BASELINES}
    if models_dir is not None:
        folders = {key: value or str(Path(models_dir) / key) for key, value in folders.items()}
    findings = weights.check(weights.needs(args.work, models_dir, args.config, args.clap,
                                           {k: v for k, v in folders.items() if v}))
    print(weights.report(args.work, findings))
    return 0 if weights.all_required_found(findings) else 2
