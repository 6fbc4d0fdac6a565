"""Generating a prompts file into a folder of FOA clips, resumably (``sonicmotion generate --prompts``).

The folder gets ``{id}.wav`` per prompt and ``prompts.jsonl`` (the format of
:mod:`sonicmotion.prompts`) that the evaluation reads. Clips already on disk are kept, so an
interrupted run resumes; clip i (file order) always uses seed ``seed + i``, whatever the batching.
The generator is passed in (``pipeline.load_pipeline`` or ``retrieval.RetrieveAndPlace``), so
this module imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sonicmotion.audio import CLIP_SECONDS, MAX_GENERATED_SECONDS
from sonicmotion.errors import SonicMotionError
from sonicmotion.prompts import PROMPTS_FILE, Prompt, write_prompts


@dataclass(frozen=True)
class GenerationSettings:
    """How every clip is generated; ``seconds`` (s) for prompts that give none."""

    seconds: float = CLIP_SECONDS
    steps: int = 50
    guidance: float = 7.0
    sampler: str = "dpmpp-2m"
    seed: int = 0
    batch_size: int = 8
    layout: str = "fuma"  # of the written files
    pin_path: bool = False


def check_prompts(prompts: list[Prompt], pin_path: bool = False) -> None:
    """Refuse what would fail after some clips were made: ids that are no file name, lengths, paths to pin."""
    for p in prompts:
        if not p.id.replace("-", "").replace("_", "").isalnum():
            raise SonicMotionError(f"prompt id {p.id!r} must be letters, digits, - or _")
        if p.seconds is not None and p.seconds > MAX_GENERATED_SECONDS:
            raise SonicMotionError(f"prompt {p.id!r}: \"seconds\" must be a number in (0, {MAX_GENERATED_SECONDS:g}], "
                                   f"got {p.seconds:g}")
        if pin_path and p.trajectory is None:
            raise SonicMotionError(f"--pin-path: prompt {p.id!r} has no trajectory to pin")


def write_clip(path: Path, audio: Any, layout: str) -> None:
    """Write one generated clip (FuMa ``FoaAudio``) as float32 in ``layout``."""
    import numpy as np

    from sonicmotion.spatial import convert_layout, write_foa

    samples = audio.samples if layout == "fuma" else convert_layout(audio.samples, "fuma", layout)
    write_foa(path, samples.astype(np.float32), audio.sample_rate, layout)


def generate_prompts(pipe: Any, prompts: list[Prompt], out: str | Path, settings: GenerationSettings,
                     retrieval: bool = False) -> None:
    """Generate every prompt without a clip in ``out`` yet, then write ``out/prompts.jsonl``.

    ``pipe``: a ``SonicMotionPipeline`` or ``RetrieveAndPlace`` (``retrieval``: record the
    retrieved entry's id per clip).
    """
    from tqdm import tqdm

    out = Path(out)
    check_prompts(prompts, settings.pin_path)
    options = {"pin_path": True} if settings.pin_path else {}
    retrieved: dict[str, str] = {}
    todo = [(i, p) for i, p in enumerate(prompts) if not (out / f"{p.id}.wav").is_file()]
    bar = tqdm(total=len(prompts), initial=len(prompts) - len(todo), desc="generate", unit="clip")
    for start in range(0, len(todo), settings.batch_size):
        by_seconds: dict[float, list[tuple[int, Prompt]]] = {}
        for i, p in todo[start : start + settings.batch_size]:
            by_seconds.setdefault(p.seconds or settings.seconds, []).append((i, p))
        for seconds, items in by_seconds.items():
            clips = pipe([p.prompt for _, p in items], [p.trajectory for _, p in items], seconds=seconds,
                         steps=settings.steps, guidance=settings.guidance, seed=[settings.seed + i for i, _ in items],
                         sampler=settings.sampler, batch_size=settings.batch_size, **options)
            for index, ((_, p), audio) in enumerate(zip(items, clips)):
                if retrieval:
                    retrieved[p.id] = pipe.last_matches[index].entry.id
                write_clip(out / f"{p.id}.wav", audio, settings.layout)
                bar.update(1)
    bar.close()
    rows = []
    for p in prompts:
        row = {"id": p.id, "prompt": p.prompt, "caption": p.caption, "seconds": float(p.seconds or settings.seconds)}
        if p.row.get("trajectory") is not None:
            row["trajectory"] = p.row["trajectory"]
        if retrieved.get(p.id, p.row.get("retrieved")):
            row["retrieved"] = retrieved.get(p.id, p.row.get("retrieved"))
        rows.append(row)
    write_prompts(out / PROMPTS_FILE, rows)
    print(f"wrote {len(prompts)} clips and {PROMPTS_FILE} to {out}")
