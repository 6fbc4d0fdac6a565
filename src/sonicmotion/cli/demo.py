"""``sonicmotion demo``: the whole system on built-in material, on a CPU."""

from __future__ import annotations

import argparse
from pathlib import Path

from sonicmotion.cli.options import example_epilog, non_negative_int


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "demo", help="the whole system on a CPU: corpus, dataset, retrieval, tiny models, metrics, HTML report",
        description="Synthesizes a captioned corpus, builds the spatial dataset, generates moving soundscapes "
        "by retrieve-and-place and with tiny descriptive and parametric diffusion models it trains for a few "
        "minutes on the parametric spatial latent (plus the paper's 4-channel autoencoder, for Table 3), "
        "evaluates every variant with the same metrics and writes OUT/report.html with binaural previews. "
        "About 16 minutes on 2 cores; a rerun reuses finished stages.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=example_epilog("sonicmotion demo --out demo-output",
                              "sonicmotion demo --out /tmp/demo-quick --quick   # a few minutes, tiny everything",
                              "sonicmotion demo --out demo-seed1 --seed 1   # the same demo from other seeds"),
    )
    p.add_argument("--out", default="demo-output", help="output folder (created; default demo-output)")
    p.add_argument("--quick", action="store_true", help="smallest sizes: checks that every stage runs (CI)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="shifts every seed the demo sets: corpus, dataset, each training run (added to its "
                   "config's seed), generated clips (clip i: SEED * 1000 + i); 0 (default) is the demo as "
                   "documented. An OUT keeps the seed it was made with")
    p.add_argument("--configs", help="a configs folder laid out like the shipped one (default: the configs "
                   "shipped with the package)")
    p.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from sonicmotion.demo import FULL, QUICK, Demo
    from sonicmotion.errors import SonicMotionError

    from sonicmotion.yaml_config import CONFIG_ROOT

    configs = Path(args.configs) if args.configs else CONFIG_ROOT
    if not (configs / "autoencoder" / "tiny.yaml").is_file():
        raise SonicMotionError(f"{configs}: not a configs folder (it needs autoencoder/tiny.yaml and diffusion/)")
    Demo(args.out, QUICK if args.quick else FULL, configs, seed=args.seed).run()
    return 0
