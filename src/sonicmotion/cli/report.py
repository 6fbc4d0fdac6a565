"""``sonicmotion report``: one self-contained HTML page for runs of FOA clips."""

from __future__ import annotations

import argparse

from sonicmotion.cli.options import example_epilog


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "report", help="write a self-contained HTML report (binaural previews, pictures, metrics) of runs",
        description="Each RUN_DIR holds FOA clips {id}.wav/.flac and prompts.jsonl (id, prompt, caption, "
        "trajectory, seconds), optionally metrics.json (from 'evaluate generation') and run.json "
        "({\"name\", \"note\"}). The HTML embeds everything and opens from disk.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=example_epilog("sonicmotion report runs/parametric -o report.html",
                              "sonicmotion report runs/retrieval runs/parametric runs/descriptive -o all.html"),
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders")
    p.add_argument("-o", "--output", required=True, help="HTML file to write")
    p.add_argument("--title", default="SonicMotion report")
    p.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    from sonicmotion.files import check_output_file
    from sonicmotion.visual.html_report import write_html_report

    out = check_output_file(args.output, (".html",))
    write_html_report(args.runs, out, title=args.title)
    print(f"wrote {out}")
    return 0
