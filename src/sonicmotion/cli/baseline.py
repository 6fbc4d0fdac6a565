"""baseline: Table 2's AudioLDM 2 and Stable Audio Open clips from a prompts file (diffusers, local weights)."""

from __future__ import annotations

import argparse

from sonicmotion.audio import CLIP_SECONDS
from sonicmotion.devices import AUTO, DEVICE_HELP
from sonicmotion.cli.options import example_epilog, finite_float, positive_float, positive_int

MODELS = ("audioldm2", "stable-audio-open")  # sonicmotion.baselines.BASELINES (kept torch-free here)


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "baseline", help="Table 2's baseline clips: AudioLDM 2 or Stable Audio Open from local weights",
        description=(
            "Generate one clip per prompt with a text-to-audio baseline through diffusers' own pipeline\n"
            "(AudioLDM2Pipeline, StableAudioPipeline), reading the weights from a local diffusers folder only.\n"
            "Settings (docs/evaluation.md): audioldm2 200 steps, guidance 3.5, 16 kHz mono;\n"
            "stable-audio-open 100 steps, guidance 7, 44.1 kHz stereo (L, R); 10 s; clip i uses seed + i;\n"
            "no negative prompt. The clips are not FOA: 'evaluate generation' scores their semantic columns\n"
            "and marks the spatial ones n/a. Clips on disk are kept (resumable); prompts.jsonl and\n"
            "baseline.json are written beside them. Under torchrun --nproc_per_node N -m sonicmotion\n"
            "baseline ... (or accelerate launch) the prompts are dealt over the N processes, one GPU each."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=example_epilog(
            "sonicmotion baseline --model stable-audio-open --weights models/stable-audio-open "
            "--prompts prompts/semantic.jsonl --out baselines/stable-audio-open",
            "sonicmotion baseline --model audioldm2 --prompts prompts/semantic.jsonl --out baselines/audioldm2",
            "torchrun --nproc_per_node 4 -m sonicmotion baseline --model audioldm2 --prompts prompts/semantic.jsonl "
            "--out baselines/audioldm2",
        ),
    )
    p.add_argument("--model", required=True, choices=MODELS, help="which baseline")
    p.add_argument("--weights", help="the model's diffusers folder (model_index.json + components); default "
                   "~/.cache/sonicmotion/models/MODEL ('sonicmotion weights check' says how to fill it)")
    p.add_argument("--prompts", required=True, help="prompts file (JSONL or one prompt per line)")
    p.add_argument("--out", required=True, help="output folder (created; clips already there are kept)")
    p.add_argument("--steps", type=positive_int, help="sampling steps (default: the model's, see above)")
    p.add_argument("--guidance", type=finite_float, help="classifier-free guidance scale (default: the model's)")
    p.add_argument("--seconds", type=positive_float, default=CLIP_SECONDS,
                   help=f"clip length for prompts without 'seconds' (default {CLIP_SECONDS:g})")
    p.add_argument("--seed", type=int, default=0, help="clip i of the prompts file uses seed + i (default 0)")
    p.add_argument("--device", default=AUTO, help=DEVICE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sonicmotion.baselines import BaselineSettings, generate_baseline
    from sonicmotion.devices import resolve_device
    from sonicmotion.files import check_output_folder
    from sonicmotion.prompts import read_prompts

    device = resolve_device(args.device)
    prompts = read_prompts(args.prompts)
    check_output_folder(args.out)
    settings = BaselineSettings(steps=args.steps, guidance=args.guidance, seconds=args.seconds, seed=args.seed,
                                device=device)
    generate_baseline(args.model, args.weights, prompts, args.out, settings, progress=not args.quiet)
    return 0
