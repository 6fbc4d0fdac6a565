"""``sonicmotion evaluate generation``, ``evaluate table`` and ``evaluate prompts``.

Exposes :func:`register_evaluate`, which adds them under the ``evaluate`` command's
subparsers (the ``evaluate`` parent lives in :mod:`sonicmotion.cli.evaluate`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sonicmotion.cli.options import example_epilog, positive_int
from sonicmotion.devices import AUTO, DEVICE_HELP

MODELS_HELP = """\
embedding models (local files only; nothing is downloaded), under --models-dir:
  clap/     a Hugging Face CLAP folder (else laion/clap-htsat-unfused from the
            Hugging Face cache)                                  -> clap, fd
  vggish/   vggish.pth (torchvggish vggish-10086976.pth)          -> fad
  panns/    Cnn14_16k_mAP=0.438.pth (PANNs, 16 kHz)                -> kl
A metric whose model is missing is reported as not computed, with the file it
looked for; spatial errors need no model.

proxies (--embeddings): "FD proxy (aisfx)" and "KL proxy (aisfx)" use the aiSFX
sound-effects network whose CC BY 4.0 weights ship in the aisfx wheel
(pip install --no-deps aisfx==0.1.2): a Frechet distance of its block embeddings
and KL(reference || generated) of its category distribution, on the same pressure
signal. They are labelled as proxies and never fill the paper's columns. Default
(auto): computed when a model FD or KL needs is missing."""


def register_evaluate(evaluate_subcommands: argparse._SubParsersAction) -> None:
    """Add ``generation``, ``table`` and ``prompts`` to the ``evaluate`` command's subparsers."""
    register_prompts(evaluate_subcommands)
    fmt = argparse.RawDescriptionHelpFormatter
    p = evaluate_subcommands.add_parser(
        "generation", help="Table 2 metrics of a folder of generated FOA clips",
        description="The paper's Table 2 metrics for generated FOA clips {id}.wav (W channel as pressure):\n"
        "  CLAP score  cosine of CLAP audio and original-caption text embeddings\n"
        "  FD          Frechet distance of CLAP audio embeddings, reference vs generated\n"
        "  FAD         Frechet distance of VGGish embeddings (0.96 s examples, pooled)\n"
        "  KL          KL(reference || generated) of CNN14 tagger softmax, paired by id\n"
        "  spatial     L1 azimuth, L1 elevation, delta angle against each clip's requested\n"
        "              path (prompts file, else reference metadata); frame and sample\n"
        "              resolution; all, static and moving clips (n/a for mono or stereo\n"
        "              clips: CLAP, FD, FAD and KL then read the mono signal or the mid)\n"
        "Writes JSON (see docs/evaluation.md) and prints a summary.\n\n" + MODELS_HELP,
        formatter_class=fmt,
        epilog=example_epilog(
            "sonicmotion evaluate generation --generated out/sm-p --reference data/test --prompts out/sm-p/prompts.jsonl "
            "--out sm-p.json",
            "sonicmotion evaluate generation --generated out/sm-p --prompts prompts.jsonl --metrics spatial --out s.json",
            "sonicmotion evaluate generation --generated gen --reference ref_wavs --prompts p.jsonl --out m.json "
            "--models-dir /data/models --workers 8",
        ),
    )
    p.add_argument("--generated", required=True, help="folder of generated clips {id}.wav / {id}.flac: FOA, or mono "
                   "or stereo (e.g. AudioLDM 2 or Stable Audio Open, 'sonicmotion baseline') for the semantic columns only")
    p.add_argument("--reference", help="reference set: a folder of FOA files or dataset shards (a .tar or a folder of them)")
    p.add_argument("--prompts", required=True, help="JSONL: id, prompt, caption, optional trajectory, seconds")
    p.add_argument("--out", required=True, help="metrics JSON to write")
    p.add_argument("--metrics", default=",".join(_metric_names()), help="comma-separated subset of "
                   f"{','.join(_metric_names())} (default: all)")
    p.add_argument("--models-dir", help="folder of embedding models (default ~/.cache/sonicmotion/models)")
    p.add_argument("--clap", help="CLAP model folder, or a Hugging Face id already in the local cache")
    p.add_argument("--cache-dir", help="embedding cache (default ~/.cache/sonicmotion/embeddings)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    p.add_argument("--layout", choices=["fuma", "ambix"], help="layout of files that do not record one")
    p.add_argument("--workers", type=positive_int, help="processes for the spatial errors (default: CPU count, at most 8)")
    p.add_argument("--seed", type=int, default=0, help="torch seed set before each model loads (default 0)")
    p.add_argument("--device", default=AUTO, help=f"for the embedding models: {DEVICE_HELP}")
    p.add_argument("--name", help="row name in tables (default: the generated folder's name)")
    p.add_argument("--embeddings", choices=_embedding_choices(), default="auto",
                   help="auto (default): the paper's models, plus the aisfx proxies when a model FD or KL needs is "
                   "missing; paper: only the paper's; aisfx: only the proxies; all: both")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run_generation)

    p = evaluate_subcommands.add_parser(
        "table", help="the paper's Table 2 (markdown) for several metrics files",
        description="Print Table 2 (CLAP, FD, FAD, KL, L1(theta), L1(phi), delta angle at sample resolution as the "
        "paper computes them, the frame-resolution figures beside them) for metrics files "
        "written by 'sonicmotion evaluate generation', one row per --name (files of the same name share a row: "
        "semantic columns from clips made from original captions, spatial ones from clips made from spatial "
        "captions or paths); gaps carry a footnote with the reason.",
        formatter_class=fmt,
        epilog=example_epilog(
            "sonicmotion evaluate table sm-d.json sm-p.json",
            "sonicmotion evaluate table sm-p.json --resolution frame --group moving --out table2.md",
        ),
    )
    p.add_argument("runs", nargs="+", help="metrics JSON files")
    p.add_argument("--resolution", choices=["paper", "sample", "frame"], default="paper",
                   help="paper (default): the spatial columns at sample resolution, as the paper computes them, with "
                   "the frame figures beside them; sample or frame: that resolution alone")
    p.add_argument("--group", choices=["all", "static", "moving"], default="all", help="spatial clips (default all)")
    p.add_argument("--out", help="also write the table to this markdown file")
    p.set_defaults(run=run_table)


def register_prompts(evaluate_subcommands: argparse._SubParsersAction) -> None:
    p = evaluate_subcommands.add_parser(
        "prompts", help="the prompt files of the paper's evaluation protocol, from a built dataset",
        description="Write OUT/semantic.jsonl (original captions, no path: the semantic columns of every model and "
        "of mono/stereo baselines), OUT/descriptive.jsonl (spatial captions: SM-D's spatial columns) and "
        "OUT/parametric.jsonl (original captions + trajectories: SM-P) for every sample of one split. "
        "docs/evaluation.md lists the whole sequence that reproduces Tables 2 and 3.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=example_epilog(
            "sonicmotion evaluate prompts --data dataset --split test --out prompts",
            "sonicmotion evaluate prompts --data dataset --limit 100 --out prompts-100",
        ),
    )
    p.add_argument("--data", required=True, help="built dataset folder (index.parquet)")
    p.add_argument("--split", default="test", help="split to take samples from (default test)")
    p.add_argument("--limit", type=positive_int, help="only the first N samples (by key)")
    p.add_argument("--out", required=True, help="folder for the three prompt files (created)")
    p.set_defaults(run=run_prompts)


def run_prompts(args: argparse.Namespace) -> int:
    from sonicmotion.evaluation.protocol import write_protocol_prompts
    from sonicmotion.files import check_output_folder

    check_output_folder(args.out)  # a file or an unwritable folder: one line, before any work
    paths = write_protocol_prompts(args.data, args.out, args.split, args.limit)
    count = sum(1 for _ in open(paths["semantic"], encoding="utf-8"))
    print(f"{count} {args.split} samples: " + ", ".join(str(p) for p in paths.values()))
    return 0


def _embedding_choices() -> tuple[str, ...]:
    from sonicmotion.evaluation.generation import EMBEDDINGS

    return EMBEDDINGS


def _metric_names() -> tuple[str, ...]:
    from sonicmotion.evaluation.generation import METRICS

    return METRICS


def run_generation(args: argparse.Namespace) -> int:
    from sonicmotion.evaluation.cache import DEFAULT_CACHE_DIR
    from sonicmotion.evaluation.generation import GenerationOptions, parse_metrics, run_evaluation
    from sonicmotion.optional import require

    model_metrics = [m for m in parse_metrics(args.metrics) if m != "spatial"]
    if model_metrics:  # CLAP, FD, FAD and KL run embedding models; spatial is numpy only
        require("ml", f"evaluate generation --metrics {','.join(model_metrics)} (without it: --metrics spatial)")
    from sonicmotion.files import check_output_file

    options = GenerationOptions(
        generated=args.generated, prompts=args.prompts, reference=args.reference, metrics=parse_metrics(args.metrics),
        models_dir=args.models_dir, clap=args.clap,
        cache_dir=None if args.no_cache else (args.cache_dir or str(DEFAULT_CACHE_DIR)),
        layout=args.layout, workers=args.workers, seed=args.seed, device=args.device, name=args.name,
        progress=not args.quiet, embeddings=args.embeddings,
    )
    check_output_file(args.out, None, _input_files(args.prompts, args.generated, args.reference))
    run_evaluation(options, args.out)
    return 0


def _input_files(*paths: str | None) -> list[Path]:
    """The files an evaluation reads: the prompts file, and every file of the clip folders or shards."""
    files = []
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        if path.is_dir():
            files.extend(p for p in path.rglob("*") if p.is_file())
        else:
            files.append(path)
    return files


def run_table(args: argparse.Namespace) -> int:
    from sonicmotion.evaluation.generation import load_metrics_file
    from sonicmotion.evaluation.table import markdown_table

    table = markdown_table([load_metrics_file(p) for p in args.runs], args.resolution, args.group)
    if args.out:
        from sonicmotion.files import atomic_path

        with atomic_path(args.out) as tmp:
            tmp.write_text(table + "\n")
    sys.stdout.write(table + "\n")
    return 0
