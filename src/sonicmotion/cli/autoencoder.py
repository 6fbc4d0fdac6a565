"""The autoencoder on the command line: ``train autoencoder``, ``evaluate autoencoder``, ``encode-latents``."""

from __future__ import annotations

import argparse

from sonicmotion.cli.options import add_batch_arguments, example_epilog, positive_int
from sonicmotion.data.corpora import SPLITS
from sonicmotion.devices import AUTO, DEVICE_HELP

FORMATTER = argparse.RawDescriptionHelpFormatter


# ---- train autoencoder -------------------------------------------------------------------------

def register_train(subcommands: argparse._SubParsersAction) -> None:
    p = subcommands.add_parser(
        "autoencoder", help="train the spatial autoencoder (paper §2.3, Eq. 2)",
        description="Train the 4-channel VAE and its discriminator on FOA dataset shards, or, with a "
        "configs/autoencoder/parametric*.yaml config, the 1-channel W codec of the parametric spatial latent "
        "(direction and diffuseness are analysed, not learned). Checkpoints, "
        "config.yaml, log.jsonl and validation.jsonl go to --out. Interrupt any time; --resume "
        "continues exactly from the last checkpoint; one run at a time per --out (a second is refused, naming the "
        "first's host and PID). Several processes (GPUs, nodes, or CPU processes): "
        "torchrun --nproc_per_node N -m sonicmotion train autoencoder ... (or accelerate launch); the batch "
        "is global and split over them (docs/training.md).",
        formatter_class=FORMATTER,
        epilog=example_epilog(
            "sonicmotion train autoencoder --config configs/autoencoder/tiny.yaml --data dataset --out runs/ae-tiny",
            "sonicmotion train autoencoder --out runs/ae-tiny --data dataset --resume",
            "sonicmotion train autoencoder --config configs/autoencoder/parametric-tiny.yaml --data dataset "
            "--out runs/w-tiny",
            "accelerate launch --num_processes 4 -m sonicmotion train autoencoder "
            "--config configs/autoencoder/paper.yaml --data dataset --validation dataset --out runs/ae",
        ),
    )
    p.add_argument("--config", help="run YAML or a shipped name (paper, paper-plus, parametric, tiny, ...); default on "
                   "--resume: the run's own")
    p.add_argument("--data", nargs="+", required=True, metavar="SHARDS",
                   help="training shards: .tar files, or dataset folders (their 'train' split)")
    p.add_argument("--validation", nargs="+", metavar="SHARDS",
                   help="validation shards or dataset folders (their 'validation' split); logged every validate_every steps")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    p.add_argument("--max-steps", type=positive_int, help="override training.max_steps")
    add_batch_arguments(p)
    p.add_argument("--strict-eq2", action="store_true", help="train by the paper's Eq. 2 only (no spatial term)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from sonicmotion.training.workflows import autoencoder_config, train_autoencoder

    config = autoencoder_config(args.out, args.config, args.resume, args.strict_eq2, max_steps=args.max_steps,
                                global_batch_size=args.batch_size,
                                gradient_accumulation_steps=args.gradient_accumulation_steps,
                                num_workers=args.num_workers, seed=args.seed, micro_batch=args.micro_batch)
    train_autoencoder(config, args.out, args.data, args.validation or [], args.resume, progress=not args.quiet,
                      gradient_checkpointing=args.gradient_checkpointing)
    return 0


# ---- evaluate autoencoder ----------------------------------------------------------------------

def register_evaluate(subcommands: argparse._SubParsersAction) -> None:
    p = subcommands.add_parser(
        "autoencoder", help="Table 3: STFT, MEL and spatial errors of reconstructions",
        description="Encode and decode every clip (posterior mean) and compare with the original: auraloss "
        "STFTLoss() and MelSTFTLoss(sr) on all four channels and on W alone, and L1(azimuth), L1(elevation), "
        "Δangle in degrees at sample and frame resolution. Means over clips. Takes 4-channel and parametric "
        "runs, and specs that need no training.",
        formatter_class=FORMATTER,
        epilog=example_epilog(
            "sonicmotion evaluate autoencoder --checkpoint runs/ae-tiny --data dataset --out metrics.json",
            "sonicmotion evaluate autoencoder --checkpoint runs/ae --data dataset --split validation --limit 200 "
            "--out validation.json",
            "sonicmotion evaluate autoencoder --checkpoint parametric:patch:64 --data dataset --out lossless-w.json",
        ),
    )
    p.add_argument("--checkpoint", required=True,
                   help="run folder, checkpoint folder or .safetensors file, or a spec that needs no training: "
                        "patch:N[:SCALE] or parametric:patch:N[:SCALE]")
    p.add_argument("--data", nargs="+", required=True, metavar="SHARDS", help=".tar shards or dataset folders")
    p.add_argument("--split", default="test", help="split folder to use in dataset folders (default test)")
    p.add_argument("--out", required=True, help="metrics JSON file")
    p.add_argument("--limit", type=positive_int, help="evaluate at most N clips")
    p.add_argument("--weights", choices=["ema", "generator"], default="ema", help="which weights of a run (default ema)")
    p.add_argument("--batch-size", type=positive_int, default=4)
    p.add_argument("--device", default=AUTO, help=DEVICE_HELP)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from sonicmotion.training.workflows import evaluate_autoencoder_run

    evaluate_autoencoder_run(args.checkpoint, args.data, args.out, args.split, args.limit, args.weights,
                             args.batch_size, args.device, progress=not args.quiet)
    return 0


# ---- encode-latents ----------------------------------------------------------------------------

def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "encode-latents", help="pre-encode dataset shards into latent shards for diffusion training",
        description="Encode every clip of the dataset shards with a trained autoencoder (posterior mean, "
        "float16) into OUT/{split}/{split}-NNNNNN.tar with the sample metadata. Finished shards are "
        "skipped on a re-run, so an interrupted job resumes.",
        formatter_class=FORMATTER,
        epilog=example_epilog(
            "sonicmotion encode-latents --autoencoder runs/ae --data dataset --out latents",
            "sonicmotion encode-latents --autoencoder runs/ae --data dataset --splits train validation --out latents",
        ),
    )
    p.add_argument("--autoencoder", required=True,
                   help="run folder, checkpoint folder or .safetensors file (4-channel or parametric), or "
                        "parametric:patch:N[:SCALE]")
    p.add_argument("--data", nargs="+", required=True, metavar="SHARDS", help=".tar shards or dataset folders")
    p.add_argument("--splits", nargs="+", default=list(SPLITS),
                   help="splits to encode from dataset folders (default train validation test; missing ones skipped)")
    p.add_argument("--out", required=True, help="latent dataset folder")
    p.add_argument("--weights", choices=["ema", "generator"], default="ema")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--frame-multiple", type=positive_int, default=16,
                   help="pad clips to a multiple of this many latent frames, as the diffusion config's "
                        "model.frame_multiple (default 16: 10 s at ratio 2048 -> 80 frames)")
    p.add_argument("--device", default=AUTO, help=DEVICE_HELP)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=run_encode_latents)


def run_encode_latents(args: argparse.Namespace) -> int:
    from sonicmotion.training.workflows import encode_latents

    encode_latents(args.autoencoder, args.data, args.out, args.splits, args.weights, args.batch_size,
                   args.frame_multiple, args.device, progress=not args.quiet)
    return 0
