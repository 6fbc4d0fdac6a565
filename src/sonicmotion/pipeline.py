"""Text (+ trajectory) -> FOA generation with a diffusion model: :class:`SonicMotionPipeline`.

A pipeline folder holds everything needed to generate, and nothing else (no optimiser or
discriminator state, no path outside itself), so it can be moved or shared as it is:

- ``pipeline.json``: format version, the model config, the pretransform description and
  the text encoder's name (its weights are referenced, never copied);
- ``diffusion.safetensors``: conditioner + DiT weights (EMA weights after training);
- ``autoencoder.safetensors``: the autoencoder's inference weights, when the pretransform is one;
- ``README.md`` (from ``model_card.json``): the model card: config, training data, measured figures.

The pipeline is a :class:`~sonicmotion.generation.Generator`: ``pipe.generate(requests)``
with its :class:`~sonicmotion.generation.SamplingSettings` (``with_sampling`` for others);
``pipe(prompt, trajectory=None, seconds=10, steps=50, guidance=7, seed=0)`` returns
:class:`~sonicmotion.spatial.FoaAudio` (4, n) FuMa at 16 kHz (a list for a list of prompts).
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from sonicmotion import __version__
from sonicmotion.audio import CLIP_SECONDS
from sonicmotion.devices import AUTO, resolve_device
from sonicmotion.errors import SonicMotionError
from sonicmotion.generation import (
    Generated,
    GenerationRequest,
    Progress,
    Sampled,
    SamplingSettings,
    check_requests,
    step_bar,
)
from sonicmotion.models.config import DiffusionModelConfig
from sonicmotion.models.pretransform import Pretransform, PretransformDescription, latent_frames
from sonicmotion.spatial import FUMA, FoaAudio, Trajectory
from sonicmotion.yaml_config import config_from_dict, config_to_dict

FORMAT = "sonicmotion-diffusion-pipeline"
FORMAT_VERSION = 1
CONFIG_FILE = "pipeline.json"
WEIGHTS_FILE = "diffusion.safetensors"
AUTOENCODER_FILE = "autoencoder.safetensors"
CARD_FILE = "model_card.json"
README_FILE = "README.md"

# callback(step, total, latents): after denoising step ``step`` (1..total) of a batch, its latents [B, C, F].
StepCallback = Callable[[int, int, torch.Tensor], None]


def pipeline_dir(path: str | Path) -> Path:
    """The pipeline folder at ``path``, or ``path/model`` for a training run folder."""
    path = Path(path)
    for candidate in (path, path / "model"):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    if not path.exists():
        raise SonicMotionError(f"model folder {str(path)!r} does not exist")
    raise SonicMotionError(
        f"{str(path)!r} is not a SonicMotion diffusion model: no {CONFIG_FILE} in it (or in its model/ folder)"
    )


def load_pipeline(model: str | Path, device: str = AUTO,
                  sampling: SamplingSettings = SamplingSettings()) -> "SonicMotionPipeline":
    """The pipeline in ``model`` on ``device`` (:func:`sonicmotion.devices.resolve_device`), sampling with ``sampling``."""
    pipeline_dir(model)  # a clear error before loading anything heavy
    pipe = SonicMotionPipeline.from_pretrained(model, device=resolve_device(device))
    pipe.sampling = sampling
    return pipe


class SonicMotionPipeline:
    """Frozen text encoder + pretransform + conditioned DiT, ready to sample (a ``Generator``)."""

    needs_path = False  # a parametric model without a path generates with the position withheld

    def __init__(self, model, text_encoder, pretransform: Pretransform,
                 pretransform_description: PretransformDescription, device: str | torch.device = "cpu",
                 sampling: SamplingSettings = SamplingSettings()):
        self.model = model.eval()
        self.text_encoder = text_encoder
        self.pretransform = pretransform
        self.pretransform_description = pretransform_description
        self.sampling = sampling
        self.folder: Path | None = None  # where it was loaded from (its identity)
        self._noted: set[str] = set()  # notes already printed (shared by with_sampling copies: said once)
        self.device = torch.device(device)
        self.to(self.device)

    @property
    def config(self) -> DiffusionModelConfig:
        return self.model.config

    @property
    def parametric(self) -> bool:
        """Whether the model takes a trajectory."""
        return self.config.parametric

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def max_seconds(self) -> float:
        return self.config.max_seconds

    @property
    def batch_size(self) -> int:
        return self.sampling.batch_size

    @property
    def progress_steps(self) -> int:
        return self.sampling.steps

    @property
    def can_pin_path(self) -> bool:
        """Whether sampling can fix the direction channels to the path (a parametric model on a parametric latent)."""
        return self.parametric and self.pretransform_description.trajectory_latents

    @property
    def follows_distance(self) -> bool:
        """Whether the model is given a path's distance (state-matrix distance rows,
        ``position.distance_bins``); other parametric models follow its direction only."""
        return self.parametric and self.config.position.distance_bins > 0

    def with_sampling(self, **changes: Any) -> "SonicMotionPipeline":
        """This pipeline (sharing its modules) with ``changes`` to its :class:`SamplingSettings`."""
        other = copy.copy(self)
        other.sampling = replace(self.sampling, **changes)
        return other

    def identity(self) -> dict[str, Any]:
        """The model folder and a sha256 over its files (the model card aside), for scene sidecars."""
        if self.folder is None:
            raise SonicMotionError("this pipeline was not loaded from a folder: save_pretrained it, then load it")
        digest = hashlib.sha256()
        for path in sorted(p for p in self.folder.rglob("*") if p.is_file() and p.name not in (README_FILE, CARD_FILE)):
            digest.update(path.relative_to(self.folder).as_posix().encode() + b"\0")
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        return {"model": str(self.folder), "sha256": digest.hexdigest(), "parametric": self.parametric}

    def to(self, device: str | torch.device) -> "SonicMotionPipeline":
        self.device = torch.device(device)
        for module in (self.model, self.text_encoder, self.pretransform):
            module.to(self.device)
        return self

    # -- persistence ----------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> Path:
        """Write the pipeline folder (created or replaced as a whole, never half-written): inference
        weights only, paths relative to the folder, and a model card (see the module docstring)."""
        from sonicmotion.files import write_safetensors
        from sonicmotion.models.pretransform import save_pretransform_weights

        path = Path(path)
        if not path.parent.is_dir():
            raise SonicMotionError(f"output folder {str(path.parent)!r} does not exist")
        description = self.pretransform_description
        if description.source is None:
            raise SonicMotionError("this pretransform has no spec string to save it by (a parametric latent with "
                                   "bands or subframes needs a trained transport run: configs/autoencoder/parametric*.yaml)")
        staging = path.with_name(f".{path.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            if description.path is not None:  # an autoencoder: its weights travel with the pipeline
                save_pretransform_weights(self.pretransform, staging / AUTOENCODER_FILE)
                description = replace(description, path=AUTOENCODER_FILE)
            state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
            write_safetensors(staging / WEIGHTS_FILE, state, {"format": FORMAT})
            saved = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "sonicmotion_version": __version__,
                "model": config_to_dict(replace(self.config, pretransform=description.source)),
                "text_dim": self.model.text_dim,
                "latent_channels": self.model.latent_channels,
                "pretransform": description.to_json(),
            }
            (staging / CONFIG_FILE).write_text(json.dumps(saved, indent=2) + "\n")
            write_model_card(staging)
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            if path.exists():
                path.rename(old)
            staging.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return path

    @classmethod
    def from_pretrained(
        cls, path: str | Path, device: str | torch.device = "cpu", text_encoder=None
    ) -> "SonicMotionPipeline":
        """Load a pipeline folder (or a training run folder holding ``model/``)."""
        from sonicmotion.files import read_safetensors
        from sonicmotion.models.diffusion_model import ConditionedDiffusionModel
        from sonicmotion.models.pretransform import load_pretransform
        from sonicmotion.models.text import load_text_encoder

        folder = pipeline_dir(path).resolve()
        description = _read_description(folder)
        config = config_from_dict(DiffusionModelConfig, description["model"], f"{folder / CONFIG_FILE}: model")
        info = description["pretransform"]
        # A path is relative to the folder (older folders hold a copy of the autoencoder run in autoencoder/).
        pretransform, pretransform_description = load_pretransform(
            info["spec"] if "spec" in info else str(folder / info["path"]))
        if pretransform.latent_channels != description["latent_channels"]:
            raise SonicMotionError(
                f"{folder}: pretransform has {pretransform.latent_channels} latent channels, "
                f"the model expects {description['latent_channels']}"
            )
        if text_encoder is None:
            text_encoder = load_text_encoder(config.text_encoder, config.text_max_length)
        if text_encoder.dim != description["text_dim"]:
            raise SonicMotionError(
                f"{folder}: text encoder {config.text_encoder!r} gives {text_encoder.dim}-dim tokens, "
                f"the model expects {description['text_dim']}"
            )
        model = ConditionedDiffusionModel(config, description["text_dim"], description["latent_channels"])
        weights = folder / WEIGHTS_FILE
        if not weights.is_file():
            raise SonicMotionError(f"{folder}: missing {WEIGHTS_FILE}")
        missing, unexpected = model.load_state_dict(read_safetensors(weights, "diffusion weights")[0], strict=False)
        if missing or unexpected:
            raise SonicMotionError(
                f"{weights}: weights do not match the config (missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        pipe = cls(model, text_encoder, pretransform, pretransform_description, device)
        pipe.folder = folder
        return pipe

    # -- generation -----------------------------------------------------------------
    @torch.no_grad()
    def generate_latents(
        self,
        prompts: Sequence[str],
        trajectories: Sequence[Trajectory | None],
        seconds: float,
        seeds: Sequence[int],
        pin_path: bool = False,
        callback: StepCallback | None = None,
    ) -> torch.Tensor:
        """Latents [B, C, F] for one batch with :attr:`sampling`; clip i starts from noise seeded by ``seeds[i]``.

        ``pin_path``: the direction channels of a parametric latent are fixed to the
        trajectories at every step (inpainting), so the model generates the sound only.
        ``callback(step, total, latents)`` runs after every denoising step.
        """
        from sonicmotion.diffusion.objective import time_grid
        from sonicmotion.diffusion.sampling import get_sampler, pinned_denoiser
        from sonicmotion.models.diffusion_model import condition_inputs, guided_denoiser

        settings = self.sampling
        ratio = self.pretransform.downsampling_ratio
        frames = latent_frames(round(seconds * self.sample_rate), ratio, self.config.frame_multiple)
        text, mask = self.text_encoder(list(prompts))
        inputs = condition_inputs(
            self.config, text.to(self.device), mask.to(self.device), frames, trajectories,
            seconds_start=[0.0] * len(prompts), seconds_total=[float(seconds)] * len(prompts),
            downsampling_ratio=ratio,
        )
        noise = torch.stack([
            torch.randn(self.model.latent_channels, frames, generator=torch.Generator().manual_seed(int(s)))
            for s in seeds
        ]).to(self.device)
        denoise = guided_denoiser(self.model, inputs, settings.guidance)
        if pin_path:
            known = torch.stack([self.pretransform.trajectory_latents(t, frames) for t in trajectories])
            denoise = pinned_denoiser(denoise, known.to(self.device), self.pretransform.direction_slice)
        step = None if callback is None else (lambda i, x: callback(i + 1, settings.steps, x))
        return get_sampler(settings.sampler)(denoise, noise, time_grid(settings.steps), step)

    def generate(self, requests: Sequence[GenerationRequest], progress: Progress | None = None,
                 callback: StepCallback | None = None) -> list[Generated]:
        """One clip per request (FuMa, ``sample_rate`` Hz, round(seconds * rate) samples), in order.

        Requests of one length and ``pin_path`` are sampled together, ``sampling.batch_size`` at
        a time; a clip depends on its seed, not on its batch. ``progress(n)`` counts denoising
        steps times clips; ``callback(step, total, latents)`` sees every step of every batch.
        """
        check_requests(self, requests)
        if not self.follows_distance and "distance" not in self._noted and \
                any(r.trajectory is not None and r.trajectory.has_distance for r in requests):
            self._noted.add("distance")
            print("note: this model has no distance rows (position.distance_bins 0): it follows the path's "
                  "direction; the distance is ignored", file=sys.stderr)
        by_index: dict[int, Generated] = {}
        groups: dict[tuple[float, bool], list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault((float(request.seconds), request.pin_path), []).append(i)
        provenance = Sampled(str(self.folder) if self.folder is not None else "unsaved", self.sampling)
        for (seconds, pin_path), indices in groups.items():
            n = round(seconds * self.sample_rate)
            for start in range(0, len(indices), self.batch_size):
                batch = indices[start : start + self.batch_size]

                def step(done: int, total: int, latents: torch.Tensor, size: int = len(batch)) -> None:
                    if progress is not None:
                        progress(size)
                    if callback is not None:
                        callback(done, total, latents)

                latents = self.generate_latents([requests[i].text for i in batch],
                                                [requests[i].trajectory for i in batch], seconds,
                                                [requests[i].seed for i in batch], pin_path, step)
                audio = self.pretransform.decode(latents, n).float().cpu().numpy()
                for i, clip in zip(batch, audio):
                    foa = FoaAudio(np.ascontiguousarray(clip[:, :n], dtype=np.float32), self.sample_rate, FUMA)
                    by_index[i] = Generated(foa, requests[i], requests[i].trajectory, provenance)
        return [by_index[i] for i in range(len(requests))]

    def __call__(
        self,
        prompt: str | Sequence[str],
        trajectory: Trajectory | dict | None | Sequence[Trajectory | dict | None] = None,
        seconds: float = CLIP_SECONDS,
        steps: int = 50,
        guidance: float = 7.0,
        seed: int | Sequence[int] = 0,
        sampler: str = "dpmpp-2m",
        batch_size: int = 8,
        progress: bool = False,
        pin_path: bool = False,
        callback: StepCallback | None = None,
    ) -> FoaAudio | list[FoaAudio]:
        """:meth:`generate` for library users: FOA per prompt (a list for a list of prompts).

        Clip i uses seed ``seed + i`` (or ``seed[i]`` for a list of seeds). ``trajectory`` is one
        path for all prompts or one per prompt; None on a parametric model withholds the position.
        ``pin_path`` (parametric latents only) fixes the generated direction to the path;
        ``progress`` shows a bar of denoising steps; ``callback(step, total, latents)`` runs
        after every step (as diffusers' ``callback_on_step_end``).
        """
        single = isinstance(prompt, str)
        prompts = [prompt] if single else list(prompt)
        if trajectory is None or isinstance(trajectory, (Trajectory, dict)):
            trajectories = [trajectory] * len(prompts)
        else:
            trajectories = list(trajectory)
            if len(trajectories) != len(prompts):
                raise SonicMotionError(f"got {len(trajectories)} trajectories for {len(prompts)} prompts")
        seeds = [seed + i for i in range(len(prompts))] if isinstance(seed, int) else [int(s) for s in seed]
        if len(seeds) != len(prompts):
            raise SonicMotionError(f"got {len(seeds)} seeds for {len(prompts)} prompts")
        requests = [GenerationRequest(text, seconds, Trajectory.from_dict(path) if isinstance(path, dict) else path,
                                      s, pin_path) for text, path, s in zip(prompts, trajectories, seeds)]
        pipe = self.with_sampling(steps=steps, guidance=guidance, sampler=sampler, batch_size=batch_size)
        if progress:
            check_requests(pipe, requests)  # before the bar is drawn
            with step_bar(len(requests) * pipe.progress_steps) as bar:
                clips = pipe.generate(requests, bar.update, callback)
        else:
            clips = pipe.generate(requests, callback=callback)
        audio = [clip.audio for clip in clips]
        return audio[0] if single else audio


def write_model_card(folder: str | Path, **sections: dict[str, Any] | None) -> Path:
    """Add ``sections`` (e.g. ``training``: data and steps; ``figures``: measured metrics and how)
    to the pipeline folder's ``model_card.json`` and write ``README.md`` from it and ``pipeline.json``.

    The card names files by their folder name only, so it stays true when the folder moves.
    """
    from sonicmotion.files import atomic_path, read_json

    folder = Path(folder)
    description = _read_description(folder)
    card = read_json(folder / CARD_FILE, "model card") if (folder / CARD_FILE).is_file() else {}
    for name, value in sections.items():
        if value is not None:
            card[name] = {**card.get(name, {}), **value}
    with atomic_path(folder / CARD_FILE) as tmp:
        tmp.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    model = description["model"]
    pretransform = description["pretransform"]
    variant = {"parametric": "parametric (SM-P: text + trajectory)", "descriptive": "descriptive (SM-D: text only)"}
    lines = [
        f"# SonicMotion diffusion model: {model['variant']}", "",
        "Generates first-order Ambisonics (FuMa WXYZ, "
        f"{model['sample_rate']} Hz, up to {model['max_seconds']:g} s) from a text prompt"
        + (" and a trajectory." if model["variant"] == "parametric" else "; the position comes from the words."),
        "Everything it needs is in this folder except the text encoder, loaded by name "
        f"({model['text_encoder']!r}); move or copy the folder as it is.", "",
        "```",
        "sonicmotion generate \"a dog barks\" --model THIS_FOLDER -o dog.wav"
        + (" --azimuth 90 --to-azimuth -90 --direction cw" if model["variant"] == "parametric" else ""),
        "```", "",
        "## Model", "",
        f"- variant: {variant.get(model['variant'], model['variant'])}",
        f"- latent: {pretransform['type']} pretransform ({pretransform.get('spec') or pretransform.get('path')}), "
        f"{description['latent_channels']} latent channels",
        f"- text tokens: {description['text_dim']}-dim, at most {model['text_max_length']}",
        f"- written by SonicMotion {description.get('sonicmotion_version', '?')}", "",
    ]
    for name, title, missing in (("training", "Training", "Not recorded."),
                                 ("figures", "Measured", "No figures recorded for this folder.")):
        lines += [f"## {title}", ""]
        lines += [f"- {key}: {value}" for key, value in card.get(name, {}).items()] or [missing]
        lines.append("")
    lines += ["## Configuration (pipeline.json)", "", "```json", json.dumps(model, indent=2), "```", ""]
    with atomic_path(folder / README_FILE) as tmp:
        tmp.write_text("\n".join(lines))
    return folder / README_FILE


def _read_description(folder: Path) -> dict[str, Any]:
    """``pipeline.json`` of ``folder``, checked: a JSON object of this format and version."""
    from sonicmotion.files import read_json

    description = read_json(folder / CONFIG_FILE, "pipeline file")
    if not isinstance(description, dict):
        raise SonicMotionError(f"{folder / CONFIG_FILE}: expected a JSON object, got {type(description).__name__}")
    for key in ("model", "pretransform", "latent_channels"):
        if key not in description:
            raise SonicMotionError(f"{folder / CONFIG_FILE}: lacks {key!r}; re-save the pipeline")
    if description.get("format") != FORMAT:
        raise SonicMotionError(f"{folder}: not a SonicMotion diffusion pipeline (format {description.get('format')!r})")
    if description.get("format_version") != FORMAT_VERSION:
        raise SonicMotionError(
            f"{folder}: pipeline format version {description.get('format_version')} is not supported "
            f"(this SonicMotion reads version {FORMAT_VERSION})"
        )
    return description
