"""generate: text (+ trajectory) -> FOA clips with a trained diffusion model."""

from __future__ import annotations

import argparse
from pathlib import Path

from sonicmotion.audio import CLIP_SECONDS, MAX_GENERATED_SECONDS
from sonicmotion.cli.options import (
    TRAJECTORY_HELP,
    add_trajectory_arguments,
    example_epilog,
    finite_float,
    has_trajectory,
    positive_float,
    positive_int,
    trajectory_from_args,
)
from sonicmotion.errors import SonicMotionError


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "generate", help="generate FOA audio from a text prompt (and a path, for parametric models)",
        description=(
            "Generate first-order Ambisonics clips with a trained SonicMotion diffusion model.\n"
            "A parametric model follows the trajectory flags; without them it generates with the\n"
            "position withheld. A descriptive model takes the position from the prompt only.\n\n"
            + TRAJECTORY_HELP
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=example_epilog(
            'sonicmotion generate "a police siren" --model runs/sm-p -o siren.wav --azimuth 90 --to-azimuth -90 --direction cw',
            'sonicmotion generate "a dog barks on the left, moving to the back slowly" --model runs/sm-d -o dog.wav',
            'sonicmotion generate "footsteps" --model runs/sm-p -o steps.wav --keyframes "0:0:0;5:120:20:ccw" --layout ambix',
            "sonicmotion generate --prompts prompts.jsonl --model runs/sm-p -o generated/  # one clip per line",
            'sonicmotion generate "a dog barks" --library data/ -o dog.wav --azimuth 90 --to-azimuth 180 --direction ccw',
        ),
    )
    p.add_argument("prompt", nargs="?", help="text prompt (or give --prompts)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="pipeline folder, or a training run folder holding model/")
    source.add_argument("--library", help="retrieve and place instead of a model: a built dataset folder or a "
                        "manifest (path,caption) of recordings; the best-matching sound is put on the path")
    p.add_argument("-o", "--out", required=True, help="output .wav/.flac (with --prompts: an output folder)")
    p.add_argument(
        "--prompts",
        help="file of prompts: JSONL objects {id, prompt, [caption], [trajectory], [seconds]} or one prompt per line",
    )
    p.add_argument("--layout", choices=["fuma", "ambix"], default="fuma", help="output channel layout (default fuma)")
    p.add_argument("--seconds", type=positive_float, default=CLIP_SECONDS,
                   help=f"clip length in seconds (default {CLIP_SECONDS:g}, at most {MAX_GENERATED_SECONDS:g})")
    p.add_argument("--steps", type=positive_int, default=50, help="sampling steps (default 50)")
    p.add_argument("--guidance", type=finite_float, default=7.0, help="classifier-free guidance scale (default 7; 1 = off)")
    p.add_argument("--sampler", choices=["dpmpp-2m", "ddim"], default="dpmpp-2m", help="sampler (default dpmpp-2m)")
    p.add_argument("--seed", type=int, default=0, help="random seed (clip i of --prompts uses seed + i)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="clips generated together (default 8)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--pin-path", action="store_true",
                   help="parametric latent only: fix the generated direction to the requested path at every "
                        "sampling step, so the model generates the sound only")
    add_trajectory_arguments(p, required=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from sonicmotion.generation import GenerationSettings, generate_prompts, write_clip
    from sonicmotion.audio import SAMPLE_RATE
    from sonicmotion.prompts import PROMPTS_FILE

    if (args.prompt is None) == (args.prompts is None):
        raise SonicMotionError("give a prompt or --prompts FILE (not both)")
    if args.prompt is not None and not args.prompt.strip():
        raise SonicMotionError("the prompt is empty; describe the sound, e.g. 'a police siren'")
    if not (np.isfinite(args.seconds) and args.seconds > 0):
        raise SonicMotionError(f"--seconds must be a positive number, got {args.seconds:g}")
    if args.seconds > MAX_GENERATED_SECONDS:  # the clip's FOA is held in memory: refused before any work
        raise SonicMotionError(
            f"--seconds {args.seconds:g}: at most {MAX_GENERATED_SECONDS:g} s per clip "
            f"({MAX_GENERATED_SECONDS * SAMPLE_RATE:,.0f} samples of 4-channel float32); generate parts and join them")
    trajectory = trajectory_from_args(args, args.seconds)
    if args.device is not None:
        from sonicmotion.evaluation.embeddings import check_device

        check_device(args.device)
    from sonicmotion.files import check_output_file, check_output_folder

    out = Path(args.out)
    if args.prompts is None:
        check_output_file(out, (".wav", ".flac"))
        if args.pin_path and trajectory is None:
            raise SonicMotionError(f"--pin-path: prompt {out.stem!r} has no trajectory to pin")
    else:
        from sonicmotion.generation import check_prompts
        from sonicmotion.prompts import read_prompts

        if has_trajectory(args):
            raise SonicMotionError("with --prompts, give trajectories per line in the file, not as flags")
        check_output_folder(out)
        prompts = read_prompts(args.prompts)
        check_prompts(prompts, args.pin_path)  # each line's seconds too
        out.mkdir(exist_ok=True)
    if args.library and args.pin_path:
        raise SonicMotionError("--pin-path is for --model; retrieve-and-place always places exactly")
    if args.library:
        from sonicmotion.retrieval import RetrieveAndPlace, SoundLibrary

        pipe = RetrieveAndPlace(SoundLibrary.open(args.library))
        # The output must not replace what the library reads (its manifest, a listed recording).
        library_files = pipe.library.input_files()
        if args.prompts is None:
            check_output_file(out, (".wav", ".flac"), library_files)
        else:
            check_output_file(out / PROMPTS_FILE, None, library_files)
            for prompt in prompts:
                check_output_file(out / f"{prompt.id}.wav", None, library_files)
    else:
        from sonicmotion.pipeline import load_pipeline

        pipe = load_pipeline(args.model, args.device, args.pin_path)
    settings = GenerationSettings(seconds=args.seconds, steps=args.steps, guidance=args.guidance,
                                  sampler=args.sampler, seed=args.seed, batch_size=args.batch_size,
                                  layout=args.layout, pin_path=args.pin_path)
    if args.prompts is not None:
        generate_prompts(pipe, prompts, out, settings, retrieval=bool(args.library))
        return 0
    options = {"pin_path": True} if args.pin_path else {}
    audio = pipe(args.prompt, trajectory, seconds=args.seconds, steps=args.steps, guidance=args.guidance,
                 seed=args.seed, sampler=args.sampler, **options)
    write_clip(out, audio, args.layout)
    if args.library:
        match = pipe.last_matches[0]
        print(f"wrote {out} ({args.seconds:g} s, {args.layout}): retrieved {match.entry.id} "
              f"(\"{match.caption}\", similarity {match.score:.2f})")
    else:
        print(f"wrote {out} ({args.seconds:g} s, {args.layout}, {args.steps} steps, guidance {args.guidance:g}"
              f"{', path pinned' if args.pin_path else ''})")
    return 0
