"""generate: text (+ trajectory) -> FOA clips with a trained diffusion model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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

PROMPTS_FILE = "prompts.jsonl"


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
    p.add_argument("--seconds", type=positive_float, default=10.0, help="clip length in seconds (default 10)")
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


def _read_prompts(path: Path) -> list[dict]:
    if not path.is_file():
        raise SonicMotionError(f"prompts file {str(path)!r} not found")
    rows = []
    from sonicmotion.files import read_text

    for number, line in enumerate(read_text(path, "prompts file").splitlines(), 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise SonicMotionError(f"{path}:{number}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
                raise SonicMotionError(f"{path}:{number}: needs a \"prompt\" string")
            seconds = row.get("seconds")
            if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                        or not 0 < seconds <= 600):
                raise SonicMotionError(f"{path}:{number}: \"seconds\" must be a number in (0, 600], got {seconds!r}")
            if row.get("trajectory") is not None and not isinstance(row["trajectory"], dict):
                raise SonicMotionError(f"{path}:{number}: \"trajectory\" must be an object (Trajectory.to_dict()), "
                                       f"got {row['trajectory']!r}")
        else:
            row = {"prompt": line.strip()}
        row.setdefault("id", f"{len(rows):06d}")
        if not str(row["id"]).replace("-", "").replace("_", "").isalnum():
            raise SonicMotionError(f"{path}:{number}: id {row['id']!r} must be letters, digits, - or _")
        rows.append(row)
    if not rows:
        raise SonicMotionError(f"prompts file {path} holds no prompts")
    return rows


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from sonicmotion.spatial import convert_layout, write_foa

    if (args.prompt is None) == (args.prompts is None):
        raise SonicMotionError("give a prompt or --prompts FILE (not both)")
    if args.prompt is not None and not args.prompt.strip():
        raise SonicMotionError("the prompt is empty; describe the sound, e.g. 'a police siren'")
    if not (np.isfinite(args.seconds) and args.seconds > 0):
        raise SonicMotionError(f"--seconds must be a positive number, got {args.seconds:g}")
    trajectory = trajectory_from_args(args, args.seconds)
    if args.device is not None:
        from sonicmotion.evaluation.embeddings import check_device

        check_device(args.device)
    from sonicmotion.files import check_output_file, check_output_folder

    out = Path(args.out)
    if args.prompts is None:
        check_output_file(out, (".wav", ".flac"))
        rows = [{"id": out.stem, "prompt": args.prompt}]
    else:
        if has_trajectory(args):
            raise SonicMotionError("with --prompts, give trajectories per line in the file, not as flags")
        check_output_folder(out)
        rows = _read_prompts(Path(args.prompts))
        out.mkdir(exist_ok=True)
    if args.library:
        from sonicmotion.retrieval import RetrieveAndPlace, SoundLibrary

        if args.pin_path:
            raise SonicMotionError("--pin-path is for --model; retrieve-and-place always places exactly")
        pipe = RetrieveAndPlace(SoundLibrary.open(args.library))
    else:
        from sonicmotion.pipeline import SonicMotionPipeline, pipeline_dir

        pipeline_dir(args.model)  # a clear error before loading anything heavy
        import torch

        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        pipe = SonicMotionPipeline.from_pretrained(args.model, device=device)
        if args.pin_path and not pipe.can_pin_path:
            raise SonicMotionError(f"--pin-path: {args.model} is not a parametric model on a parametric latent")
    options = {"pin_path": True} if args.pin_path else {}
    for row in rows:
        row_trajectory = row.get("trajectory", trajectory.to_dict() if trajectory is not None else None)
        if row_trajectory is not None and not pipe.parametric:
            raise SonicMotionError(
                f"{args.model} is a descriptive model: it takes no trajectory (describe the position in the "
                "prompt, or use a parametric model)"
            )
        if not row["prompt"].strip():
            raise SonicMotionError(f"prompt {row['id']!r} is empty")
        if args.pin_path and row_trajectory is None:
            raise SonicMotionError(f"--pin-path: prompt {row['id']!r} has no trajectory to pin")
    if args.prompts is None:
        audio = pipe(args.prompt, trajectory, seconds=args.seconds, steps=args.steps, guidance=args.guidance,
                     seed=args.seed, sampler=args.sampler, **options)
        samples = audio.samples if args.layout == "fuma" else convert_layout(audio.samples, "fuma", args.layout)
        write_foa(out, samples.astype(np.float32), audio.sample_rate, args.layout)
        if args.library:
            match = pipe.last_matches[0]
            print(f"wrote {out} ({args.seconds:g} s, {args.layout}): retrieved {match.entry.id} "
                  f"(\"{match.caption}\", similarity {match.score:.2f})")
        else:
            print(f"wrote {out} ({args.seconds:g} s, {args.layout}, {args.steps} steps, guidance {args.guidance:g}"
                  f"{', path pinned' if args.pin_path else ''})")
        return 0
    return _generate_many(pipe, rows, out, args, options)


def _generate_many(pipe, rows: list[dict], out: Path, args: argparse.Namespace, options: dict) -> int:
    """Generate every row not already on disk (so an interrupted run resumes), then write prompts.jsonl."""
    import numpy as np
    from tqdm import tqdm

    from sonicmotion.files import atomic_path
    from sonicmotion.spatial import convert_layout, write_foa

    todo = [(i, row) for i, row in enumerate(rows) if not (out / f"{row['id']}.wav").is_file()]
    bar = tqdm(total=len(rows), initial=len(rows) - len(todo), desc="generate", unit="clip")
    # Batch clips of equal length; clip i always uses seed + i, whatever the batching.
    for start in range(0, len(todo), args.batch_size):
        chunk = todo[start : start + args.batch_size]
        by_seconds: dict[float, list] = {}
        for i, row in chunk:
            by_seconds.setdefault(float(row.get("seconds", args.seconds)), []).append((i, row))
        for seconds, items in by_seconds.items():
            clips = pipe([row["prompt"] for _, row in items], [row.get("trajectory") for _, row in items],
                         seconds=seconds, steps=args.steps, guidance=args.guidance,
                         seed=[args.seed + i for i, _ in items], sampler=args.sampler, batch_size=args.batch_size,
                         **options)
            for index, ((_, row), audio) in enumerate(zip(items, clips)):
                if args.library:
                    row["retrieved"] = pipe.last_matches[index].entry.id
                samples = audio.samples if args.layout == "fuma" else convert_layout(audio.samples, "fuma", args.layout)
                write_foa(out / f"{row['id']}.wav", samples.astype(np.float32), audio.sample_rate, args.layout)
                bar.update(1)
    bar.close()
    with atomic_path(out / PROMPTS_FILE) as tmp:
        with open(tmp, "w") as f:
            for row in rows:
                record = {"id": row["id"], "prompt": row["prompt"], "caption": row.get("caption", row["prompt"]),
                          "seconds": float(row.get("seconds", args.seconds))}
                if row.get("trajectory") is not None:
                    record["trajectory"] = row["trajectory"]
                if row.get("retrieved"):
                    record["retrieved"] = row["retrieved"]
                f.write(json.dumps(record) + "\n")
    print(f"wrote {len(rows)} clips and {PROMPTS_FILE} to {out}")
    return 0
