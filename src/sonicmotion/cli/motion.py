"""motion: read where a sound is and how it moves from a sentence (docs/motion.md)."""

from __future__ import annotations

import argparse
import json
import sys

from sonicmotion.cli.options import example_epilog, non_negative_int, positive_float


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "motion", help="turn words about where a sound is and how it moves into a path",
        description="Read a description (\"a car passes from left to right behind me, slowly\") into a path "
        "in the prompts-file trajectory schema, the sound's content without the motion words, and what each "
        "phrase set. Conventions: azimuth +90 = left, -90 = right, clockwise = azimuth decreasing; clock "
        "positions count clockwise from 12 = front. With no timing words a move lasts the middle of its speed "
        "band (moderate if none), centred in the clip. Words that say nothing about position give "
        "\"trajectory\": null and exit status 0; contradictions (two speeds, clockwise and counter-clockwise, "
        "times outside the clip) give one line on stderr and exit status 2.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=example_epilog(
            'sonicmotion motion "a car passes from left to right behind me, slowly"',
            'sonicmotion motion "a bee circles around you twice clockwise, starting on the left" --json',
            'sonicmotion motion "a dog barks at two o\'clock, slightly below" --samples 5 --seed 1 --json',
            'sonicmotion motion "a jet flies from behind you over your head to the front" --plot jet.png',
            'sonicmotion motion "a car passes 4 metres to my left at 50 km/h" --json',
        ),
    )
    p.add_argument("text", help="the description (quote it)")
    p.add_argument("--seconds", type=positive_float, default=10.0, help="clip length in seconds (default 10)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.add_argument("--samples", type=non_negative_int, default=0, metavar="N",
                   help="also draw N paths from what the words allow (SPEC §3 distributions)")
    p.add_argument("--seed", type=int, default=0, help="seed of --samples (default 0)")
    p.add_argument("--plot", metavar="PNG", help="write a top-down view of the path to this PNG")
    p.set_defaults(run=run_motion)


def run_motion(args: argparse.Namespace) -> int:
    from sonicmotion.errors import SonicMotionError
    from sonicmotion.motion import describe_to_motion
    from sonicmotion.motion.reading import rounded

    if args.plot:
        from sonicmotion.files import check_output_file

        check_output_file(args.plot, (".png",))
    reading = describe_to_motion(args.text, seconds=args.seconds)
    report = reading.to_dict()
    if args.samples:
        import numpy as np

        paths = reading.sample(np.random.default_rng(args.seed), args.samples) if reading.trajectory else []
        report["samples"] = [rounded(path.to_dict()) for path in paths]
        report["seed"] = args.seed
    if args.plot:
        if reading.trajectory is None:
            raise SonicMotionError("--plot: the words say nothing about position, so there is no path to draw")
        from sonicmotion.visual import plots

        plots.plot_top_down(args.plot, None, reading.trajectory, args.seconds, title=args.text[:60])
    if args.json:
        json.dump(report, sys.stdout, ensure_ascii=False)
        print()
        return 0
    print(json.dumps({"trajectory": report["trajectory"]}, ensure_ascii=False))
    print(f"content: {reading.content!r}")
    for phrase in reading.understood:
        print(f"  {phrase.phrase!r}: {phrase.sets}")
    for line in reading.assumed:
        print(f"  assumed: {line}")
    for line in reading.not_placed:
        print(f"  not placed: {line}")
    if reading.trajectory is None:
        print("the words say nothing about where the sound is: no path")
    for path in report.get("samples", []):
        print(f"sample: {json.dumps(path)}")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0
