"""``sonicmotion demo``: the project's main job on built-in material."""

from __future__ import annotations

import argparse
from pathlib import Path

from sonicmotion.cli.options import example_epilog


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "demo", help="spatialize a synthesized siren along a moving path, analyse it, plot it",
        description="Runs the spatial core end to end on a built-in example: a synthesized siren "
        "travels from front-left, counter-clockwise behind the listener, to the right while "
        "rising; the result is written in both layouts, analysed, and plotted.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=example_epilog("sonicmotion demo --out demo-output"),
    )
    p.add_argument("--out", default="demo-output", help="output folder (created; default demo-output)")
    p.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from sonicmotion.data.synth import siren
    from sonicmotion.spatial import Trajectory, convert_layout, encode_foa, estimate_doa, spatial_errors, write_foa
    from sonicmotion.visual.plots import plot_doa

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sample_rate, seconds = 16000, 10.0
    mono = siren(seconds, sample_rate, seed=0)
    path = Trajectory.linear(45.0, 0.0, -90.0, 40.0, "ccw", 2.0, 8.0)
    foa = encode_foa(mono, sample_rate, path)
    write_foa(out / "siren_fuma.wav", foa, sample_rate, "fuma")
    write_foa(out / "siren_ambix.wav", convert_layout(foa, "fuma", "ambix"), sample_rate, "ambix")
    estimate = estimate_doa(foa, sample_rate)
    plot_doa(out / "siren_doa.png", estimate, path, seconds, title="demo: siren, front-left -> back -> right, rising")
    print(f"path: {path.to_dict()}")
    print(f"wrote {out / 'siren_fuma.wav'}, {out / 'siren_ambix.wav'}, {out / 'siren_doa.png'}")
    for resolution in ("frame", "sample"):
        err = spatial_errors(foa, path, sample_rate, resolution=resolution)
        print(f"{resolution:>6} resolution: L1 azimuth {err.l1_azimuth:.4f} deg, L1 elevation "
              f"{err.l1_elevation:.4f} deg, delta angle {err.delta_angle:.4f} deg over {err.count} {resolution}s")
    return 0
