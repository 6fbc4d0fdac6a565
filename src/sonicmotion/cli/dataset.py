"""``sonicmotion dataset build|stats|verify|materialize|merge``: the spatial dataset on the command line."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sonicmotion.cli.options import example_epilog, positive_float, positive_int
from sonicmotion.data.materialize import FILE_FORMATS, FILE_LAYOUTS
from sonicmotion.data.sampling import MOTIONS
from sonicmotion.data.shards import STORES
from sonicmotion.errors import SonicMotionError

SOURCE_HELP = """\
sources (repeat --source; the split comes from the corpus):
  clotho:CAPTIONS_CSV:AUDIO_DIR      CSV file_name,caption_1..caption_5; split from the CSV
                                     name (development -> train, validation, evaluation -> test)
  audiocaps:CSV:AUDIO_DIR            CSV audiocap_id,youtube_id,start_time,caption; split from
                                     the CSV name (train, val, test); :pattern={youtube_id}.wav
  wavcaps:JSON:AUDIO_DIR             {"data": [{"id", "caption", ...}]} (FreeSound etc.), train
  manifest:FILE                      CSV or JSONL path,caption[,split][,id]
  options after the fields: :split=train|validation|test  :name=CORPUS  :pattern=FILENAME"""


def _part(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must read i/N (e.g. 0/8), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"--shard {text}: need 0 <= i < N")
    return i, n


def register(commands: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    dataset = commands.add_parser(
        "dataset", help="build, inspect, verify and merge the spatial FOA dataset",
        description="The spatial dataset of paper §2.2: one static and one moving FOA sample per "
        "captioned source, in tar shards with a Parquet index.",
        formatter_class=fmt,
        epilog=example_epilog(
            "sonicmotion dataset build --source clotho:clotho_captions_development.csv:development --out data",
            "sonicmotion dataset verify data",
        ),
    )
    sub = dataset.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND", parser_class=type(dataset))
    sub.required = True

    p = sub.add_parser(
        "build", help="build (or resume) the dataset from captioned corpora",
        description="Preprocess every source (mono, 16 kHz, silence trimmed, 10 s), encode one static "
        "and one moving FOA sample with a spatial caption, and write tar shards, index.parquet and a "
        "report.\n\n" + SOURCE_HELP,
        formatter_class=fmt,
        epilog=example_epilog(
            "sonicmotion dataset build --source clotho:clotho_captions_development.csv:development "
            "--source clotho:clotho_captions_evaluation.csv:evaluation --out data --workers 8",
            "sonicmotion dataset build --source audiocaps:train.csv:audio/train:pattern=Y{youtube_id}.wav "
            "--out data --limit 100",
            "sonicmotion dataset build --source manifest:my_sounds.jsonl --out data --shard 3/16   "
            "# one machine of 16; then 'dataset merge'",
            "sonicmotion dataset build ... --out data --resume   # after an interruption",
            "sonicmotion dataset build ... --rephraser http://127.0.0.1:8000/v1#gemma-3-12b-it",
        ),
    )
    p.add_argument("--source", action="append", default=[], metavar="KIND:FILE[:AUDIO_DIR][:opt=value]",
                   help="a captioned corpus (repeatable; see above)")
    p.add_argument("--out", required=True, help="output folder (new, or the folder of a build to --resume)")
    p.add_argument("--seed", type=int, default=0, help="global seed (default 0)")
    p.add_argument("--workers", type=positive_int, default=1, help="worker processes (default 1)")
    p.add_argument("--shard-size", type=positive_int, default=1000, help="samples per shard (default 1000)")
    p.add_argument("--shard", type=_part, default=(0, 1), metavar="i/N",
                   help="build only part i of N (every N-th shard), e.g. one SLURM array task")
    p.add_argument("--resume", action="store_true", help="continue an interrupted build in --out")
    p.add_argument("--limit", type=positive_int, help="at most N sources per split (a quick sample)")
    p.add_argument("--min-seconds", type=positive_float, default=1.0,
                   help="skip sources with less sound than this after trimming silence (default 1.0)")
    p.add_argument("--rephraser", metavar="SPEC",
                   help="LLM rephrasing: transformers:LOCAL_MODEL_DIR or http://HOST:PORT/v1[#MODEL] "
                   "(OpenAI-compatible); default: template captions only")
    p.add_argument("--rephrase-cache", help="answer cache folder (default OUT/.build/rephrase)")
    p.add_argument("--store", choices=STORES, default="foa",
                   help="foa (default): each sample's 4-channel FOA; sources: each source's mono clip once, the FOA "
                   "made by every reader from it and the sample's trajectory (about 1/7 of the disk, several "
                   "times faster to build and read; 'dataset materialize' writes FOA from it)")
    p.add_argument("--motions", choices=MOTIONS, default="paper",
                   help="paper (default): one static and one moving sample per source, as the paper; "
                   "paper+distance: also an approach, a recession and a pass-by with distance in metres "
                   "(propagation delay and Doppler, 1/r level, air, a room for some), distance words in their "
                   "captions (docs/dataset.md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plots", action="store_true", help="skip the report's histogram PNGs (see 'dataset stats')")
    p.set_defaults(run=run_build)

    p = sub.add_parser(
        "stats", help="summary and histogram plots of a built dataset",
        formatter_class=fmt,
        epilog=example_epilog("sonicmotion dataset stats data", "sonicmotion dataset stats data --plots stats/"),
    )
    p.add_argument("dir", help="dataset folder (with index.parquet)")
    p.add_argument("--plots", help="folder for the PNG histograms (default DIR/report)")
    p.set_defaults(run=run_stats)

    p = sub.add_parser(
        "verify", help="re-analyse every sample's audio and check it against its metadata",
        description="Estimates each sample's direction of arrival (frame resolution) and compares it with "
        "the trajectory in its metadata; checks the metadata against the sampling rules and the index "
        "against the shards. Exit status 1 if any sample is an outlier.",
        formatter_class=fmt,
        epilog=example_epilog(
            "sonicmotion dataset verify data", "sonicmotion dataset verify data --workers 8 --tolerance 1"
        ),
    )
    p.add_argument("dir", help="dataset folder")
    p.add_argument("--tolerance", type=positive_float, default=2.0, help="max mean delta angle per sample, degrees (default 2)")
    p.add_argument("--workers", type=positive_int, default=1, help="worker processes (default 1)")
    p.add_argument("--max-shards", type=positive_int, help="check only the first N shards")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run_verify)

    p = sub.add_parser(
        "materialize", help="write the FOA of a --store sources dataset: as --store foa shards, or as files",
        description="Encode every sample of a --store sources dataset as its readers do and write it out: "
        "by default as a --store foa dataset (shards of the same names, the same index and report); with "
        "--files LAYOUT as one FOA file per sample (OUT/{split}/{key}.flac, layout recorded, metadata in "
        "{key}.json beside it) for DAWs and other tools. Interrupted runs continue where they stopped when "
        "run again.",
        formatter_class=fmt,
        epilog=example_epilog(
            "sonicmotion dataset materialize data --out data-foa",
            "sonicmotion dataset materialize data --out clips --files ambix",
        ),
    )
    p.add_argument("dir", help="a --store sources dataset folder")
    p.add_argument("--out", required=True, help="output folder (new, or the folder of an interrupted run)")
    p.add_argument("--files", choices=FILE_LAYOUTS, help="one file per sample in this layout instead of shards")
    p.add_argument("--format", dest="audio_format", choices=FILE_FORMATS, default="flac",
                   help="with --files: flac (24-bit, default) or wav (32-bit float)")
    p.add_argument("--workers", type=positive_int, default=1, help="worker processes (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run_materialize)

    p = sub.add_parser(
        "merge", help="join the parts of a --shard i/N build into one index and report",
        formatter_class=fmt,
        epilog=example_epilog(
            "sonicmotion dataset merge data                      # parts built into one shared folder",
            "sonicmotion dataset merge data --from node1/data --from node2/data",
        ),
    )
    p.add_argument("dir", help="dataset folder that receives the merged index")
    p.add_argument("--from", dest="others", action="append", default=[],
                   help="another folder holding parts of the same build (shards are copied in)")
    p.set_defaults(run=run_merge)


def run_build(args: argparse.Namespace) -> int:
    from sonicmotion.data.builder import BuildConfig, build_from_corpora
    from sonicmotion.data.preprocess import PreprocessConfig

    if args.min_seconds <= 0 or args.min_seconds > 10:
        raise SonicMotionError(f"--min-seconds must lie in (0, 10], got {args.min_seconds:g}")
    rephraser = None
    if args.rephraser:
        from sonicmotion.data.rephrase import RephraserSpec

        cache = args.rephrase_cache or os.path.join(args.out, ".build", "rephrase")
        rephraser = RephraserSpec.parse(args.rephraser, os.path.abspath(cache))
    config = BuildConfig(
        seed=args.seed, shard_size=args.shard_size, limit=args.limit,
        preprocess=PreprocessConfig(min_seconds=args.min_seconds), rephraser=rephraser,
        workers=args.workers, part=args.shard, progress=not args.no_progress, plots=not args.no_plots,
        store=args.store, motions=args.motions,
    )
    build_from_corpora(args.source, args.out, config, resume=args.resume)
    if config.part[1] > 1:
        print(f"part {config.part[0]}/{config.part[1]} done; when all parts are, run: "
              f"sonicmotion dataset merge {args.out}")
    return 0


def run_stats(args: argparse.Namespace) -> int:

    from sonicmotion.data.build_report import ReportAccumulator, plot_report, summary_text
    from sonicmotion.data.index import iter_index

    root = Path(args.dir)
    accumulator = ReportAccumulator()
    for rows in iter_index(root / "index.parquet"):
        accumulator.add_rows(rows)
    built = root / "report" / "report.json"
    if built.is_file():  # skipped sources are known only to the build
        from sonicmotion.files import read_json

        saved = read_json(built, "build report")
        if not isinstance(saved, dict) or not isinstance(saved.get("skipped"), list):
            raise SonicMotionError(f"build report {str(built)!r}: expected an object with a 'skipped' list")
        accumulator.add_skipped(saved["skipped"])
    report = accumulator.as_dict()
    print(summary_text(report))
    written = plot_report(report, args.plots or root / "report")
    print("plots: " + ", ".join(str(p) for p in written))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from sonicmotion.data.verify import verify_dataset

    result = verify_dataset(args.dir, tolerance=args.tolerance, workers=args.workers,
                            max_shards=args.max_shards, progress=not args.no_progress)
    print(result.summary())
    print("OK" if result.ok else "FAILED")
    return 0 if result.ok else 1


def run_materialize(args: argparse.Namespace) -> int:
    from sonicmotion.data.materialize import materialize_dataset
    from sonicmotion.files import check_output_folder

    check_output_folder(args.out)
    written = materialize_dataset(args.dir, args.out, args.files, args.audio_format, args.workers,
                                  progress=not args.no_progress)
    what = f"{args.files} files" if args.files else "--store foa shards"
    print(f"wrote {written['samples']} samples ({what}) from {written['shards']} shard(s) into {args.out}")
    return 0


def run_merge(args: argparse.Namespace) -> int:
    from sonicmotion.data.builder import merge_parts
    from sonicmotion.data.build_report import summary_text

    result = merge_parts(args.dir, args.others)
    print(summary_text(result.report))
    print(f"merged {result.report['merged_parts']} parts, {result.kept_shards} shards -> {result.index_path}")
    return 0
