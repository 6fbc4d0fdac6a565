"""``sonicmotion report``: one self-contained HTML page for runs of FOA clips."""

from __future__ import annotations

import argparse

from sonicmotion.cli.options import example_epilog, positive_int


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "report", help="write a self-contained HTML report (binaural previews, pictures, metrics) of runs",
        description="Each RUN_DIR holds FOA clips {id}.wav/.flac and prompts.jsonl (id, prompt, caption, "
        "trajectory, seconds), optionally metrics.json (from 'evaluate generation') and run.json "
        "({\"name\", \"note\"}). The HTML embeds everything and opens from disk (or, with --link, refers to "
        "OUTPUT_files/ beside it). Previews are Opus and pictures WebP where this machine writes them (else FLAC "
        "and PNG; the page says which); each run starts with an index of its clips.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=example_epilog("sonicmotion report runs/parametric -o report.html",
                              "sonicmotion report runs/table2 -o table2.html --link --max-clips 1000",
                              "sonicmotion report runs/retrieval runs/parametric runs/descriptive -o all.html"),
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders")
    p.add_argument("-o", "--output", required=True, help="HTML file to write")
    p.add_argument("--title", default="SonicMotion report")
    p.add_argument("--max-clips", type=positive_int, help="at most this many clips per run (its first; default all)")
    p.add_argument("--link", action="store_true",
                   help="write previews and pictures to OUTPUT_files/ beside the HTML and link them, instead of "
                   "embedding them (for runs of thousands of clips)")
    p.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    from sonicmotion.files import check_output_file
    from sonicmotion.optional import require
    from sonicmotion.visual.html_report import write_html_report

    require("plots", "report")  # its pictures are drawn by matplotlib
    out = check_output_file(args.output, (".html",))
    write_html_report(args.runs, out, title=args.title, max_clips=args.max_clips, link=args.link)
    print(f"wrote {out}")
    return 0
