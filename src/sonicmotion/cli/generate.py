"""generate: text (+ trajectory) -> FOA clips with a trained diffusion model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sonicmotion.audio import CLIP_SECONDS, MAX_GENERATED_SECONDS
from sonicmotion.devices import AUTO, DEVICE_HELP
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
            "A parametric model (or --library) follows the trajectory flags; without them the path is\n"
            "read from the words (\"from left to right behind me, slowly\"; see `sonicmotion motion`) and\n"
            "the sound alone (the words without the motion) is what is generated or retrieved; words\n"
            "that say nothing about position: a model withholds it, a library places the sound in front.\n"
            "A descriptive model takes the position from the prompt only.\n\n"
            + TRAJECTORY_HELP + "\n\n"
            "distance (metres): --distance / --to-distance, a last keyframe field, or --cartesian\n"
            "\"t,x,y,z; ...\" (x front, y left, z up; see `sonicmotion spatialize --help`). A model with\n"
            "distance rows (position.distance_bins) is given the distance along the path; other models\n"
            "follow its direction and note once that the distance is ignored; --library places the sound\n"
            "with its delay, 1/r level and air absorption."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=example_epilog(
            'sonicmotion generate "a police siren" --model runs/sm-p -o siren.wav --azimuth 90 --to-azimuth -90 --direction cw',
            "sonicmotion generate 'a car passes from left to right behind me, slowly' --model runs/sm-p -o car.wav",
            'sonicmotion generate "a dog barks on the left, moving to the back slowly" --model runs/sm-d -o dog.wav',
            'sonicmotion generate "footsteps" --model runs/sm-p -o steps.wav --keyframes "0:0:0;5:120:20:ccw" --layout ambix',
            'sonicmotion generate "a car approaches" --model runs/sm-p-distance -o car.wav --azimuth 30 --to-azimuth 10 '
            '--distance 40 --to-distance 2  # a model with distance rows follows the distance; others note it and ignore it',
            "sonicmotion generate --prompts prompts.jsonl --model runs/sm-p -o generated/  # one clip per line",
            "torchrun --nproc_per_node 4 -m sonicmotion generate --prompts prompts.jsonl --model runs/sm-p -o generated/"
            "  # the prompts dealt over 4 GPUs",
            'sonicmotion generate "a dog barks" --library data/ -o dog.wav --azimuth 90 --to-azimuth 180 --direction ccw',
            'sonicmotion generate "a dog barks on the left, moving to the back" --library data/ -o dog.wav',
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
    p.add_argument("--device", default=AUTO, help=DEVICE_HELP)
    p.add_argument("--pin-path", action="store_true",
                   help="parametric latent only: fix the generated direction to the requested path at every "
                        "sampling step, so the model generates the sound only")
    add_trajectory_arguments(p, required=False, distance=True)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sonicmotion.optional import require

    # Both ways embed the prompt with a text model (PyTorch); a dataset library's index is parquet.
    require("ml", "generate --library" if args.library else "generate --model")
    if args.library:
        require("dataset", "generate --library")
    from sonicmotion.files import check_output_file, check_output_folder
    from sonicmotion.generation import (
        FolderSettings,
        Retrieval,
        SamplingSettings,
        generate_prompts,
        generate_with_bar,
        request_from_words,
        write_clip,
    )
    from sonicmotion.spatial.io import FOA_SUFFIXES

    if (args.prompt is None) == (args.prompts is None):
        raise SonicMotionError("give a prompt or --prompts FILE (not both)")
    if args.seconds > MAX_GENERATED_SECONDS:  # the clip's FOA is held in memory: refused before any work
        from sonicmotion.audio import SAMPLE_RATE

        raise SonicMotionError(
            f"--seconds {args.seconds:g}: at most {MAX_GENERATED_SECONDS:g} s per clip "
            f"({MAX_GENERATED_SECONDS * SAMPLE_RATE:,.0f} samples of 4-channel float32); generate parts and join them")
    trajectory = trajectory_from_args(args, args.seconds)
    from sonicmotion.devices import resolve_device

    device = resolve_device(args.device)  # before any output is checked or model loaded
    out = Path(args.out)
    if args.prompts is None:
        check_output_file(out, FOA_SUFFIXES)
    else:
        from sonicmotion.prompts import read_prompts

        if has_trajectory(args):
            raise SonicMotionError("with --prompts, give trajectories per line in the file, not as flags")
        check_output_folder(out)
        prompts = read_prompts(args.prompts)
    if args.library:
        from sonicmotion.retrieval import open_library

        generator = open_library(args.library, args.batch_size)
        # The output must not replace what the library reads (its manifest, a listed recording).
        from sonicmotion.prompts import PROMPTS_FILE

        library_files = generator.library.input_files()
        if args.prompts is None:
            check_output_file(out, FOA_SUFFIXES, library_files)
        elif out.is_dir():  # a folder yet to be made holds no recording
            check_output_file(out / PROMPTS_FILE, None, library_files)
            for prompt in prompts:
                check_output_file(out / f"{prompt.id}.wav", None, library_files)
    else:
        from sonicmotion.pipeline import load_pipeline

        generator = load_pipeline(args.model, device, SamplingSettings(args.steps, args.guidance, args.sampler,
                                                                       args.batch_size))
    if args.prompts is not None:
        generate_prompts(generator, prompts, out, FolderSettings(args.seconds, args.seed, args.layout, args.pin_path))
        return 0
    request, prompt = request_from_words(generator, single_prompt(args.prompt, trajectory, args.seconds),
                                         args.seconds, args.seed, args.pin_path)
    print(path_line(prompt, generator.parametric, placed_in_front=bool(args.library)))
    clip = generate_with_bar(generator, [request])[0]
    write_clip(out, clip.audio, args.layout)
    if isinstance(clip.provenance, Retrieval):
        match = clip.provenance.match
        print(f"wrote {out} ({args.seconds:g} s, {args.layout}): retrieved {match.id} "
              f"(\"{match.caption}\", similarity {match.score:.2f})")
    else:
        settings = clip.provenance.settings
        print(f"wrote {out} ({args.seconds:g} s, {args.layout}, {settings.steps} steps, guidance {settings.guidance:g}"
              f"{', path pinned' if args.pin_path else ''})")
    return 0


def single_prompt(text: str, trajectory, seconds: float):
    """The command line's prompt as a prompts-file row (its path, if the flags gave one)."""
    from sonicmotion.prompts import Prompt

    row = {"prompt": text} if trajectory is None else {"prompt": text, "trajectory": trajectory.to_dict()}
    return Prompt("clip", text, text, trajectory, seconds, row)


def path_line(prompt, parametric: bool, placed_in_front: bool) -> str:
    """One line saying which path the clip is put on and where it came from (``placed_in_front``:
    what the generator does without one, retrieval; a model withholds the position)."""
    from sonicmotion.generation import path_source

    source = path_source(prompt, "the flags")
    if source is not None:
        return f"path from {source}: {json.dumps(prompt.row['trajectory'])}"
    if not parametric:
        return "path: none; the descriptive model reads the position from the words itself"
    if placed_in_front:
        return "no path: the words say nothing about where the sound is, so it is placed in front"
    return "no path: the words say nothing about where the sound is, so the model withholds the position"
