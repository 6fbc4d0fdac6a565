"""Table 2's baseline rows: AudioLDM 2 and Stable Audio Open clips from a prompts file,
through diffusers' own pipelines and local weights (``sonicmotion baseline``).

The clips are what each model makes, not FOA: AudioLDM 2 writes mono at 16 kHz, Stable Audio
Open stereo (L, R) at 44.1 kHz, each as the model's VAE/vocoder gives it (rate recorded in the
file and in ``prompts.jsonl``). ``evaluate generation`` reads them for the semantic columns
(the mono signal, or the mid (L + R) / 2) and marks their spatial columns n/a.

Like ``generate --prompts``: clip i (file order) uses seed ``seed + i`` (its own CPU
``torch.Generator``), one clip per pipeline call so a clip's bytes never depend on the clips
generated beside it; clips already on disk are kept, so an interrupted run resumes; the folder
gets ``{id}.wav`` per prompt, ``prompts.jsonl`` (the format of :mod:`sonicmotion.prompts`) and
``baseline.json`` (model, weights, settings, versions).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from sonicmotion.audio import CLIP_SECONDS
from sonicmotion.errors import SonicMotionError, WeightsMissing
from sonicmotion.prompts import PROMPTS_FILE, Prompt, write_prompts

SETTINGS_FILE = "baseline.json"
DOWNLOAD = ("python -c \"from huggingface_hub import snapshot_download; snapshot_download('{repo}', "
            "local_dir='{folder}', allow_patterns=['*.json', '*.safetensors', '*.txt', '*.model'])\"")


@dataclass(frozen=True)
class BaselineModel:
    """One baseline: its diffusers pipeline, weights and the documented sampling settings."""

    key: str  # the --model name
    name: str  # the Table 2 row
    repo: str  # Hugging Face id of the weights (diffusers format)
    pipeline: str  # diffusers class
    steps: int
    guidance: float
    channels: str  # what the model writes: "mono" or "stereo"
    note: str  # where the settings come from


BASELINES = {
    "audioldm2": BaselineModel(
        "audioldm2", "AudioLDM 2", "cvssp/audioldm2", "AudioLDM2Pipeline", steps=200, guidance=3.5, channels="mono",
        note="diffusers' documented AudioLDM 2 settings: 200 DDIM steps, guidance 3.5 (its default), no negative "
             "prompt; 16 kHz mono from its HiFi-GAN vocoder"),
    "stable-audio-open": BaselineModel(
        "stable-audio-open", "Stable Audio Open", "stabilityai/stable-audio-open-1.0", "StableAudioPipeline",
        steps=100, guidance=7.0, channels="stereo",
        note="the model card's settings: 100 steps, guidance 7, no negative prompt, the shipped scheduler "
             "(CosineDPMSolverMultistepScheduler, needs torchsde); 44.1 kHz stereo from its VAE"),
}


@dataclass(frozen=True)
class BaselineSettings:
    """How every clip is made; None: the model's documented value (``BASELINES``)."""

    steps: int | None = None
    guidance: float | None = None
    seconds: float = CLIP_SECONDS  # for prompts that give none
    seed: int = 0
    device: str = "cpu"


def baseline_model(key: str) -> BaselineModel:
    if key not in BASELINES:
        raise SonicMotionError(f"unknown baseline {key!r}; choose from {', '.join(BASELINES)}")
    return BASELINES[key]


def default_weights(key: str) -> Path:
    """MODELS_DIR/{key}: where ``baseline`` and ``weights check`` look without --weights."""
    from sonicmotion.evaluation.embeddings import DEFAULT_MODELS_DIR

    return DEFAULT_MODELS_DIR / key


def baseline_weights(key: str, weights: str | os.PathLike | None = None) -> Path:
    """The diffusers folder of baseline ``key`` (``weights``, default MODELS_DIR/{key}) with
    ``model_index.json`` and a folder for each component it names; :class:`WeightsMissing` otherwise."""
    model = baseline_model(key)
    folder = Path(weights) if weights is not None else default_weights(key)
    missing = []
    index = folder / "model_index.json"
    if not index.is_file():
        missing.append("model_index.json")
    else:
        try:
            components = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise WeightsMissing(f"{model.name} weights (Table 2 baseline)", [folder],
                                 DOWNLOAD.format(repo=model.repo, folder=folder), f"unreadable model_index.json ({err})")
        if components.get("_class_name") != model.pipeline:
            raise WeightsMissing(f"{model.name} weights (Table 2 baseline)", [folder],
                                 DOWNLOAD.format(repo=model.repo, folder=folder),
                                 f"model_index.json names {components.get('_class_name')!r}, not {model.pipeline}")
        missing += [f"{name}/" for name, value in components.items()
                    if not name.startswith("_") and isinstance(value, list) and value[0] is not None
                    and not (folder / name).is_dir()]
    if missing:
        gated = " (gated on the Hub: accept its licence on the model page and log in first)" \
            if key == "stable-audio-open" else ""
        raise WeightsMissing(f"{model.name} weights (Table 2 baseline){gated}", [folder],
                             DOWNLOAD.format(repo=model.repo, folder=folder), f"missing {', '.join(missing)}")
    return folder


def load_baseline(key: str, weights: str | os.PathLike | None, device: str = "cpu") -> Any:
    """The diffusers pipeline of baseline ``key`` from local files only, on ``device``."""
    import diffusers

    model = baseline_model(key)
    folder = baseline_weights(key, weights)
    components = {}
    try:
        if model.key == "audioldm2":
            # The weights name transformers' GPT2Model, which (since transformers 5) lacks the generation
            # helpers the pipeline's language-model step calls; GPT2LMHeadModel holds the same weights
            # (its head is tied to the embeddings) and gives the same hidden states.
            from transformers import GPT2LMHeadModel

            components["language_model"] = GPT2LMHeadModel.from_pretrained(folder / "language_model",
                                                                           local_files_only=True)
        pipe = getattr(diffusers, model.pipeline).from_pretrained(folder, local_files_only=True, **components)
    except ImportError as err:  # e.g. Stable Audio Open's scheduler without torchsde
        raise SonicMotionError(f"{model.name}: {str(err).splitlines()[0]} (pip install 'sonicmotion[baselines]')") \
            from None
    except (OSError, ValueError) as err:
        raise WeightsMissing(f"{model.name} weights (Table 2 baseline)", [folder],
                             DOWNLOAD.format(repo=model.repo, folder=folder),
                             f"unreadable ({str(err).splitlines()[0][:160]})") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def sample_rate_of(pipe: Any) -> int:
    """The rate (Hz) the pipeline's audio comes out at: the vocoder's (AudioLDM 2) or the VAE's (Stable Audio)."""
    vocoder = getattr(pipe, "vocoder", None)
    rate = vocoder.config.sampling_rate if vocoder is not None else pipe.vae.config.sampling_rate
    return int(rate)


def make_clip(pipe: Any, model: BaselineModel, prompt: str, seconds: float, steps: int, guidance: float,
              seed: int) -> np.ndarray:
    """One clip (channels, samples) float32, with its own CPU generator seeded ``seed``."""
    import torch

    generator = torch.Generator("cpu").manual_seed(seed)
    with torch.inference_mode():
        if model.key == "audioldm2":
            audio = pipe(prompt, audio_length_in_s=seconds, num_inference_steps=steps, guidance_scale=guidance,
                         generator=generator, output_type="np").audios[0]
        else:
            audio = pipe(prompt, audio_end_in_s=seconds, num_inference_steps=steps, guidance_scale=guidance,
                         generator=generator, output_type="np").audios[0]
    audio = np.asarray(audio, dtype=np.float32)
    return audio[None] if audio.ndim == 1 else audio


def generate_baseline(key: str, weights: str | os.PathLike | None, prompts: list[Prompt], out: str | os.PathLike,
                      settings: BaselineSettings, progress: bool = True) -> Path:
    """Make every prompt's clip not yet in ``out``; then write ``prompts.jsonl`` and ``baseline.json``.
    Under ``torchrun`` / ``accelerate launch`` each process makes its share of the prompts
    (``generation.ProcessShare``) and the first writes the two files once all are done."""
    from sonicmotion.generation import check_prompt_ids, made_by, process_share

    model = baseline_model(key)
    steps = settings.steps or model.steps
    guidance = model.guidance if settings.guidance is None else settings.guidance
    check_prompt_ids(prompts)
    folder = baseline_weights(key, weights)  # before any work: a missing model is one line
    out = Path(out)
    out.mkdir(exist_ok=True)
    share = process_share()
    try:
        made, rate = _make_clips(key, folder, prompts, out, settings, steps, guidance, share, progress)
        if share.main:  # every process's clips are written (the gather in _make_clips waited for them)
            _write_folder_files(model, folder, prompts, out, settings, steps, guidance)
            kept = len(prompts) - sum(made)
            print(f"{model.name}: {len(prompts)} clips in {out} ({sum(made)} made" + (f" at {rate} Hz" if rate else "")
                  + f", {kept} kept{made_by(made)}); {steps} steps, guidance {guidance:g}")
        share.barrier()  # every process returns with the folder complete
    finally:
        share.close()
    return out


def _make_clips(key: str, folder: Path, prompts: list[Prompt], out: Path, settings: BaselineSettings, steps: int,
                guidance: float, share, progress: bool) -> tuple[list[int], int | None]:
    """Make and write this process's clips not yet in ``out``; returns how many each process
    made and the model's sample rate (None when no process made one)."""
    from tqdm import tqdm

    from sonicmotion.audio import write_audio

    model = baseline_model(key)
    mine = [(i, p) for i, p in enumerate(prompts) if share.mine(i)]
    todo = [(i, p) for i, p in mine if not (out / f"{p.id}.wav").is_file()]
    rate = None
    if todo:
        pipe = load_baseline(key, folder, settings.device)
        rate = sample_rate_of(pipe)
        bar = tqdm(total=len(mine), initial=len(mine) - len(todo), desc=key, unit="clip",
                   disable=not (progress and share.main))
        for i, p in todo:
            audio = make_clip(pipe, model, p.prompt, p.seconds or settings.seconds, steps, guidance, settings.seed + i)
            write_audio(out / f"{p.id}.wav", audio, rate)
            bar.update(1)
        bar.close()
    parts = share.gather((len(todo), rate))
    return [n for n, _ in parts], next((r for _, r in parts if r), None)


def _write_folder_files(model: BaselineModel, folder: Path, prompts: list[Prompt], out: Path,
                        settings: BaselineSettings, steps: int, guidance: float) -> None:
    """``prompts.jsonl`` (rate and channels read from each clip) and ``baseline.json``."""
    import diffusers
    import torch

    from sonicmotion import __version__
    from sonicmotion.files import atomic_path

    rows = []
    for p in prompts:
        info = sf.info(out / f"{p.id}.wav")
        rows.append({"id": p.id, "prompt": p.prompt, "caption": p.caption, "seconds": float(p.seconds or settings.seconds),
                     "sample_rate": int(info.samplerate), "channels": int(info.channels), "baseline": model.key})
    write_prompts(out / PROMPTS_FILE, rows)
    record = {
        "format": "sonicmotion-baseline", "version": 1, "model": model.name, **asdict(model),
        "weights": str(folder), "steps": steps, "guidance": guidance, "seconds_default": settings.seconds,
        "seed": f"clip i (prompts file order) uses seed {settings.seed} + i, its own CPU torch.Generator",
        "negative_prompt": None,
        "layout": {"mono": "mono: not FOA (evaluation reads the signal as it is)",
                   "stereo": "stereo, channels L, R: not FOA (evaluation reads the mid (L + R) / 2)"}[model.channels],
        "software": {"sonicmotion": __version__, "diffusers": diffusers.__version__, "torch": torch.__version__},
    }
    with atomic_path(out / SETTINGS_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
