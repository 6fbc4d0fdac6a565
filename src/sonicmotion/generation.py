"""The generation contract: requests in, FOA clips with their provenance out.

A :class:`Generator` (``pipeline.SonicMotionPipeline``, a diffusion model, or
``retrieval.RetrieveAndPlace``, retrieve and place) answers :class:`GenerationRequest` s
with :class:`Generated` clips. It declares what it can do (``parametric``, ``can_pin_path``,
``needs_path``, ``max_seconds``); :func:`check_requests` is the one place a request meets
those capabilities, and every generator calls it before any work.

Where settings live: a request says *what* to generate (text, length, path, seed, whether
the direction must be the path exactly), which every generator can answer. *How* a
diffusion model samples (steps, guidance, sampler, batch size) belongs to that generator
(:class:`SamplingSettings`, ``with_sampling`` for another set): so retrieval never receives
settings it has no use for, a request means the same to every generator, and a folder of
clips is made with one set of settings that its provenance records.

:func:`request_from_words` is where requests are formed (single clips, folders, the demo): a
generator that takes a path and is given none reads it from the words (:mod:`sonicmotion.motion`).

:func:`generate_prompts` turns a prompts file into a folder of clips, resumably: the folder
gets ``{id}.wav`` per prompt and ``prompts.jsonl`` (the format of :mod:`sonicmotion.prompts`)
that the evaluation reads. Clips already on disk are kept, so an interrupted run resumes;
clip i (file order) always uses seed ``seed + i``, whatever the batching. Under ``torchrun``
or ``accelerate launch`` the prompts are dealt over the processes (:class:`ProcessShare`):
each makes and writes its own clips, and the first writes ``prompts.jsonl`` once all are
done. The generator is passed in, so this module imports neither generator (nor torch,
except ``torch.distributed`` under a launcher).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from sonicmotion.audio import CLIP_SECONDS
from sonicmotion.errors import SonicMotionError
from sonicmotion.prompts import PROMPTS_FILE, Prompt, write_prompts
from sonicmotion.spatial import FoaAudio, Trajectory

# progress(n): n more units of work (a model's denoising steps of one clip each; retrieval: clips) are done.
Progress = Callable[[int], None]


@dataclass(frozen=True)
class GenerationRequest:
    """One clip to generate: ``text``, ``seconds`` (s), the path it should follow (None: the
    generator decides: a parametric model withholds the position, retrieval places the sound
    in front), the noise ``seed``, and ``pin_path``: the direction must be the path exactly."""

    text: str
    seconds: float = CLIP_SECONDS
    trajectory: Trajectory | None = None
    seed: int = 0
    pin_path: bool = False


@dataclass(frozen=True)
class SamplingSettings:
    """How a diffusion model generates: denoising ``steps``, classifier-free ``guidance``
    (1 = off), ``sampler`` ("dpmpp-2m" or "ddim"), and ``batch_size`` clips at once."""

    steps: int = 50
    guidance: float = 7.0
    sampler: str = "dpmpp-2m"
    batch_size: int = 8

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise SonicMotionError(f"steps must be >= 1, got {self.steps}")
        if not (isinstance(self.guidance, (int, float)) and math.isfinite(self.guidance) and self.guidance >= 0):
            raise SonicMotionError(f"guidance must be a number >= 0, got {self.guidance}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise SonicMotionError(f"batch size must be >= 1, got {self.batch_size}")

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "guidance": self.guidance, "sampler": self.sampler, "batch_size": self.batch_size}


@dataclass(frozen=True)
class RetrievedSound:
    """A library sound a retrieval considered: its id, the caption that matched, its file, the
    cosine similarity of that caption to the prompt (in [-1, 1])."""

    id: str
    caption: str
    file: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "caption": self.caption, "file": self.file, "score": round(self.score, 4)}


@dataclass(frozen=True)
class Retrieval:
    """Provenance of a retrieved clip: the sound placed and the next-best matches, best first."""

    match: RetrievedSound
    alternatives: tuple[RetrievedSound, ...]

    def prompts_columns(self) -> dict[str, Any]:
        """What a prompts file row records of it (the ``retrieved`` column: the sound's id)."""
        return {"retrieved": self.match.id}

    def record(self, prompt: str) -> dict[str, Any]:
        """What a scene's sidecar records of it; the placed recording's (or dataset shard's)
        sha256 too, which re-rendering the sidecar checks."""
        from sonicmotion.files import file_sha256

        match = self.match.to_dict() | {"sha256": file_sha256(self.match.file.split("::", 1)[0])}
        return {"prompt": prompt, "match": match, "alternatives": [a.to_dict() for a in self.alternatives]}


@dataclass(frozen=True)
class Sampled:
    """Provenance of a diffusion model's clip: the model (its folder, or "unsaved") and its settings."""

    model: str
    settings: SamplingSettings

    def prompts_columns(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Generated:
    """One generated clip: ``audio`` (4, n) float32 FuMa at its ``sample_rate``, n = round(seconds
    * rate); the ``request`` it answers (its seed included); ``trajectory``, the path the sound
    was put on (None: the model placed it, from the words or with the position withheld); and
    its ``provenance``."""

    audio: FoaAudio
    request: GenerationRequest
    trajectory: Trajectory | None
    provenance: Retrieval | Sampled

    @property
    def seed(self) -> int:
        return self.request.seed


class Generator(Protocol):
    """Anything that answers generation requests (see the module docstring)."""

    parametric: bool  # takes a trajectory (a descriptive model takes the position from the words only)
    can_pin_path: bool  # can make the direction exactly the path (``GenerationRequest.pin_path``)
    needs_path: bool  # every request must carry a trajectory
    follows_distance: bool  # a path's distance shapes the sound (else only its direction is followed)
    max_seconds: float  # the longest clip, s
    sample_rate: int  # Hz of the audio it returns
    batch_size: int  # requests it generates at once (a folder run writes clips after each batch)
    progress_steps: int  # units of progress one clip takes (a model: its denoising steps; retrieval: 1)

    def identity(self) -> dict[str, Any]:
        """What a scene's sidecar records so a render can be checked against the same generator."""

    def generate(self, requests: Sequence[GenerationRequest], progress: Progress | None = None) -> list[Generated]:
        """One :class:`Generated` per request, in order; :func:`check_requests` first."""


class SamplingGenerator(Generator, Protocol):
    """A generator that samples (a diffusion model): its settings and a copy with others."""

    sampling: SamplingSettings

    def with_sampling(self, **changes: Any) -> "SamplingGenerator":
        """The same generator (sharing its weights) with ``changes`` to :attr:`sampling`."""


def check_requests(generator: Generator, requests: Sequence[GenerationRequest],
                   labels: Sequence[str] | None = None) -> None:
    """Refuse, before any work, a request that ``generator`` cannot answer; ``labels`` name the
    requests in messages (default: "request i" when there are several)."""
    if not requests:
        raise SonicMotionError("no prompts given")
    for i, request in enumerate(requests):
        label = labels[i] if labels is not None else (f"request {i + 1}" if len(requests) > 1 else "")
        where = f"{label}: " if label else ""
        if not isinstance(request.text, str) or not request.text.strip():
            raise SonicMotionError(f"{where}the prompt is empty; describe the sound, e.g. 'a police siren'")
        seconds = request.seconds
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise SonicMotionError(f"{where}seconds must be a number, got {seconds!r}")
        if not 0 < seconds <= generator.max_seconds:
            raise SonicMotionError(f"{where}seconds must lie in (0, {generator.max_seconds:g}], got {seconds:g}")
        if request.trajectory is not None and not generator.parametric:
            raise SonicMotionError(f"{where}this is a descriptive model: it takes no trajectory (describe the "
                                   "position in the prompt, or use a parametric model)")
        if request.pin_path and not generator.can_pin_path:
            raise SonicMotionError(
                "--pin-path needs a parametric model trained on a parametric latent (parametric:patch:N or a "
                "parametric autoencoder run); retrieve-and-place always places exactly")
        if request.trajectory is None and (request.pin_path or generator.needs_path):
            raise SonicMotionError(f"{where}{'--pin-path needs' if request.pin_path else 'this generator needs'} "
                                   "a trajectory for every prompt")


def step_bar(total: int | None, initial: int = 0, desc: str = "generate", disable: bool = False):
    """The progress bar of generation: units of :data:`Progress` (steps), with rate and ETA, on
    stderr; it draws its first line when made (before the first step); ``total`` may come later."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="step", mininterval=0.5, disable=disable)


# How long a process that has made its clips waits for the others (a resumed folder can
# leave one process with nothing to do while another makes hundreds of clips).
WAIT_FOR_OTHERS_SECONDS = 7 * 24 * 3600


@dataclass
class ProcessShare:
    """This process's share of a folder of clips: prompt i (file order) is made by process
    ``i % processes``, whatever is already on disk, so every clip has one maker however the
    processes' starts interleave. One process (``rank`` 0 of 1) outside a launcher."""

    rank: int = 0
    processes: int = 1
    started_group: bool = False  # this share joined the launcher's group itself (and leaves it)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mine(self, index: int) -> bool:
        return index % self.processes == self.rank

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value``, by rank (a collective: every process calls it)."""
        if self.processes == 1:
            return [value]
        import torch.distributed as dist

        values: list[Any] = [None] * self.processes
        dist.all_gather_object(values, value)
        return values

    def barrier(self) -> None:
        if self.processes > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.started_group:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.started_group = False


def process_share() -> ProcessShare:
    """The share of this process: under ``torchrun`` / ``accelerate launch`` (``WORLD_SIZE`` > 1
    in the environment) its rank in the ``torch.distributed`` group, which it joins (gloo: only
    small Python objects travel) unless something already did; else one process of one."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return ProcessShare()
    from datetime import timedelta

    import torch.distributed as dist

    started = False
    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=timedelta(seconds=WAIT_FOR_OTHERS_SECONDS))
        started = True
    return ProcessShare(dist.get_rank(), dist.get_world_size(), started)


def made_by(counts: list[int]) -> str:
    """``; made 3 by process 0, 2 by process 1`` under a launcher ('' for one process)."""
    if len(counts) == 1:
        return ""
    return "; made " + ", ".join(f"{n} by process {rank}" for rank, n in enumerate(counts))


def generate_with_bar(generator: Generator, requests: Sequence[GenerationRequest]) -> list[Generated]:
    """``generator.generate(requests)`` with a :func:`step_bar` over all their steps."""
    check_requests(generator, requests)  # before the bar is drawn
    with step_bar(len(requests) * generator.progress_steps) as bar:
        return generator.generate(requests, bar.update)


def write_clip(path: Path, audio: FoaAudio, layout: str) -> None:
    """Write one generated clip (FuMa ``FoaAudio``) as float32 in ``layout``."""
    import numpy as np

    from sonicmotion.spatial import convert_layout, write_foa

    samples = audio.samples if layout == "fuma" else convert_layout(audio.samples, "fuma", layout)
    write_foa(path, samples.astype(np.float32), audio.sample_rate, layout)


@dataclass(frozen=True)
class FolderSettings:
    """How a prompts file becomes a folder of clips: ``seconds`` (s) for prompts that give none,
    clip i's ``seed + i``, the files' ``layout``, and ``pin_path`` for every clip."""

    seconds: float = CLIP_SECONDS
    seed: int = 0
    layout: str = "fuma"
    pin_path: bool = False


PATH_FROM_WORDS = "words"  # a row's ``trajectory_from`` when its path was read from its words


def request_from_words(generator: Generator, prompt: Prompt, seconds: float, seed: int = 0, pin_path: bool = False,
                       label: str = "") -> tuple[GenerationRequest, Prompt]:
    """The request for ``prompt`` (a clip of ``seconds`` s), and the prompt as it is recorded.

    A path given (the flags, a row's ``trajectory``) wins. A generator that takes a path
    (``parametric``) given none reads it from the words
    (:func:`sonicmotion.motion.trajectory_from_words`): the returned prompt's row then records
    ``trajectory``, ``trajectory_from: "words"`` and ``content`` (the words without the motion),
    and the request's text is that content, the sound alone, which retrieval matches and a
    parametric model's text conditioner also learns from (original captions). A descriptive
    model reads the position from the words itself, so they go to it whole. Words that say
    nothing about position leave the path None, unless a path is needed (``needs_path``,
    ``pin_path``): then a one-line error names what to add; ``label`` names the prompt in it.
    """
    from sonicmotion.motion import trajectory_from_words

    where = f"{label}: " if label else ""
    if generator.parametric and prompt.trajectory is None and prompt.prompt.strip():  # (empty: check_requests)
        try:
            prompt = trajectory_from_words(prompt, seconds)
        except SonicMotionError as err:
            raise SonicMotionError(f"{where}{err}") from None
        # (pinning where the generator cannot pin is check_requests' refusal, not a missing path)
        if prompt.trajectory is None and ((pin_path and generator.can_pin_path) or generator.needs_path):
            raise SonicMotionError(
                f"{where}{'--pin-path needs' if pin_path else 'this generator needs'} a trajectory for every "
                f"prompt, and {prompt.prompt!r} says nothing about where the sound is: add it to the words (e.g. "
                "'on the left', 'from left to right behind me, slowly') or give a path (the trajectory flags, or "
                "a \"trajectory\" in the prompts file)")
    text = prompt.prompt
    if prompt.row.get("trajectory_from") == PATH_FROM_WORDS and isinstance(prompt.row.get("content"), str):
        text = prompt.row["content"]
        if not text.strip():
            raise SonicMotionError(f"{where}{prompt.prompt!r} says only where the sound is; say what it is too, "
                                   "e.g. 'a police siren passes from left to right'")
    return GenerationRequest(text, seconds, prompt.trajectory, seed, pin_path), prompt


def path_source(prompt: Prompt, given: str = "the prompts file") -> str | None:
    """Where ``prompt``'s path came from ("the words", or ``given`` for a path it came with); None: no path."""
    if prompt.trajectory is None:
        return None
    return "the words" if prompt.row.get("trajectory_from") == PATH_FROM_WORDS else given


def prompt_requests(generator: Generator, prompts: Sequence[Prompt],
                    settings: FolderSettings) -> tuple[list[GenerationRequest], list[Prompt]]:
    """The request of each prompt (clip i: seed ``settings.seed + i``), by :func:`request_from_words`,
    and the prompts as they are recorded (with the paths read from their words)."""
    formed = [request_from_words(generator, p, p.seconds or settings.seconds, settings.seed + i, settings.pin_path,
                                 f"prompt {p.id!r}") for i, p in enumerate(prompts)]
    return [request for request, _ in formed], [prompt for _, prompt in formed]


def check_prompt_ids(prompts: Sequence[Prompt]) -> None:
    """Refuse, before any clip is made, an id that is no file name (each clip is ``{id}.wav``)."""
    for p in prompts:
        if not p.id.replace("-", "").replace("_", "").isalnum():
            raise SonicMotionError(f"prompt id {p.id!r} must be letters, digits, - or _")


def generate_prompts(generator: Generator, prompts: list[Prompt], out: str | Path,
                     settings: FolderSettings) -> list[dict[str, Any]]:
    """Generate every prompt without a clip in ``out`` yet, then write ``out/prompts.jsonl``
    (its rows are returned): id, prompt, caption, seconds, the trajectory if any, and what the
    generator's provenance adds (retrieval: the ``retrieved`` sound's id)."""
    out = Path(out)
    check_prompt_ids(prompts)
    requests, prompts = prompt_requests(generator, prompts, settings)
    check_requests(generator, requests, [f"prompt {p.id!r}" for p in prompts])
    out.mkdir(exist_ok=True)
    share = process_share()
    try:
        columns, made = _make_clips(generator, prompts, requests, out, settings, share)
        rows = prompts_rows(prompts, requests, columns)
        if share.main:  # after every process's clips (the gather above waited for them)
            write_prompts(out / PROMPTS_FILE, rows)
            sources = [path_source(p) for p in prompts]
            counts = ", ".join(f"{sources.count(s)} from {s}" for s in ("the prompts file", "the words")
                               if s in sources)
            print(f"wrote {len(prompts)} clips and {PROMPTS_FILE} to {out}" + (f" (paths: {counts})" if counts else "")
                  + made_by(made))
        share.barrier()  # every process returns with the folder complete
    finally:
        share.close()
    return rows


def _make_clips(generator: Generator, prompts: list[Prompt], requests: list[GenerationRequest], out: Path,
                settings: FolderSettings, share: ProcessShare) -> tuple[dict[str, dict[str, Any]], list[int]]:
    """Make and write this process's clips not yet in ``out``; returns every process's
    provenance columns by prompt id, and how many clips each process made."""
    columns: dict[str, dict[str, Any]] = {}
    mine = [i for i in range(len(prompts)) if share.mine(i)]
    todo = [i for i in mine if not (out / f"{prompts[i].id}.wav").is_file()]
    steps = generator.progress_steps
    bar = step_bar(len(mine) * steps, (len(mine) - len(todo)) * steps, disable=not share.main)
    try:
        for start in range(0, len(todo), generator.batch_size):
            by_seconds: dict[float, list[int]] = {}
            for i in todo[start : start + generator.batch_size]:
                by_seconds.setdefault(requests[i].seconds, []).append(i)
            for batch in by_seconds.values():
                for i, clip in zip(batch, generator.generate([requests[i] for i in batch], bar.update)):
                    columns[prompts[i].id] = clip.provenance.prompts_columns()
                    write_clip(out / f"{prompts[i].id}.wav", clip.audio, settings.layout)
    finally:
        bar.close()
    parts = share.gather(columns)
    return {key: value for part in parts for key, value in part.items()}, [len(part) for part in parts]


def prompts_rows(prompts: list[Prompt], requests: list[GenerationRequest],
                 columns: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``prompts.jsonl`` rows of a folder: id, prompt, caption, seconds, the path if any,
    and the provenance of each clip made now (or what the prompts file says of an older one)."""
    rows = []
    for p, request in zip(prompts, requests):
        row = {"id": p.id, "prompt": p.prompt, "caption": p.caption, "seconds": float(request.seconds)}
        if p.row.get("trajectory") is not None:
            row["trajectory"] = p.row["trajectory"]
            if p.row.get("trajectory_from") == PATH_FROM_WORDS:
                row.update(trajectory_from=PATH_FROM_WORDS, content=p.row.get("content"))
        # A clip made by an earlier run keeps what the prompts file says of it.
        provenance = columns.get(p.id, {"retrieved": p.row.get("retrieved")})
        row.update({key: value for key, value in provenance.items() if value})
        rows.append(row)
    return rows
