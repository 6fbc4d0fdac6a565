"""Text (+ trajectory) -> FOA generation: :class:`SonicMotionPipeline`.

A pipeline folder holds everything needed to generate:

- ``pipeline.json``: format version, the model config, the pretransform description and
  the text encoder's name (its weights are referenced, never copied);
- ``diffusion.safetensors``: conditioner + DiT weights (EMA weights after training);
- ``autoencoder/``: a copy of the autoencoder run folder, when the pretransform is one.

``pipe(prompt, trajectory=None, seconds=10, steps=50, guidance=7, seed=0)`` returns
:class:`~sonicmotion.spatial.FoaAudio` (4, n) FuMa at 16 kHz (a list for a list of prompts).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from sonicmotion import __version__
from sonicmotion.audio import CLIP_SECONDS
from sonicmotion.devices import AUTO, resolve_device
from sonicmotion.errors import SonicMotionError
from sonicmotion.models.config import DiffusionModelConfig
from sonicmotion.models.pretransform import latent_frames
from sonicmotion.spatial import FUMA, FoaAudio, Trajectory
from sonicmotion.yaml_config import config_from_dict, config_to_dict

FORMAT = "sonicmotion-diffusion-pipeline"
FORMAT_VERSION = 1
CONFIG_FILE = "pipeline.json"
WEIGHTS_FILE = "diffusion.safetensors"
AUTOENCODER_DIR = "autoencoder"


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


def load_pipeline(model: str | Path, device: str = AUTO, pin_path: bool = False) -> "SonicMotionPipeline":
    """The pipeline in ``model`` on ``device`` (:func:`sonicmotion.devices.resolve_device`);
    ``pin_path``: refuse a model that cannot pin the direction to a path."""
    pipeline_dir(model)  # a clear error before loading anything heavy
    pipe = SonicMotionPipeline.from_pretrained(model, device=resolve_device(device))
    if pin_path and not pipe.can_pin_path:
        raise SonicMotionError(f"--pin-path: {model} is not a parametric model on a parametric latent")
    return pipe


class SonicMotionPipeline:
    """Frozen text encoder + pretransform + conditioned DiT, ready to sample."""

    def __init__(self, model, text_encoder, pretransform, pretransform_info: dict, device: str | torch.device = "cpu"):
        self.model = model.eval()
        self.text_encoder = text_encoder
        self.pretransform = pretransform
        self.pretransform_info = dict(pretransform_info)
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
    def can_pin_path(self) -> bool:
        """Whether sampling can fix the direction channels to the path (a parametric model on a parametric latent)."""
        return self.parametric and hasattr(self.pretransform, "trajectory_latents")

    def to(self, device: str | torch.device) -> "SonicMotionPipeline":
        self.device = torch.device(device)
        for module in (self.model, self.text_encoder, self.pretransform):
            module.to(self.device)
        return self

    # -- persistence ----------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> Path:
        """Write the pipeline folder (created or replaced as a whole, never half-written)."""
        from sonicmotion.files import write_safetensors

        path = Path(path)
        if not path.parent.is_dir():
            raise SonicMotionError(f"output folder {str(path.parent)!r} does not exist")
        if "spec" in self.pretransform_info and not self.pretransform_info["spec"]:
            raise SonicMotionError("this pretransform has no spec string to save it by (a parametric latent with "
                                   "bands or subframes needs a trained transport run: configs/autoencoder/parametric*.yaml)")
        staging = path.with_name(f".{path.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            info = dict(self.pretransform_info)
            if info["type"] == "autoencoder":
                source = Path(info["path"])
                target = staging / AUTOENCODER_DIR
                if source.is_dir():
                    shutil.copytree(source, target)
                else:
                    target.mkdir()
                    shutil.copy2(source, target / source.name)
                info = {"type": "autoencoder", "path": AUTOENCODER_DIR + ("" if source.is_dir() else f"/{source.name}")}
            state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
            write_safetensors(staging / WEIGHTS_FILE, state, {"format": FORMAT})
            description = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "sonicmotion_version": __version__,
                "model": config_to_dict(self.config),
                "text_dim": self.model.text_dim,
                "latent_channels": self.model.latent_channels,
                "pretransform": info,
            }
            (staging / CONFIG_FILE).write_text(json.dumps(description, indent=2) + "\n")
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

        folder = pipeline_dir(path)
        from sonicmotion.files import read_text

        try:
            description = json.loads(read_text(folder / CONFIG_FILE, "pipeline file"))
        except json.JSONDecodeError as err:
            raise SonicMotionError(f"{folder / CONFIG_FILE}: not valid JSON ({err})") from None
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
        config = config_from_dict(DiffusionModelConfig, description["model"], f"{folder / CONFIG_FILE}: model")
        info = description["pretransform"]
        spec = info["spec"] if "spec" in info else str(folder / info["path"])
        pretransform, _ = load_pretransform(spec)
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
        return cls(model, text_encoder, pretransform, info if "spec" in info else
                   {"type": "autoencoder", "path": spec}, device)

    # -- generation -----------------------------------------------------------------
    @torch.no_grad()
    def generate_latents(
        self,
        prompts: Sequence[str],
        trajectories: Sequence[Trajectory | None] | None,
        seconds: float,
        steps: int,
        guidance: float,
        seeds: Sequence[int],
        sampler: str = "dpmpp-2m",
        pin_path: bool = False,
    ) -> torch.Tensor:
        """Latents [B, C, F] for one batch; clip i starts from noise seeded by ``seeds[i]``.

        ``pin_path``: the direction channels of a parametric latent are fixed to the
        trajectories at every step (inpainting), so the model generates the sound only.
        """
        from sonicmotion.diffusion.objective import time_grid
        from sonicmotion.diffusion.sampling import get_sampler, pinned_denoiser
        from sonicmotion.models.diffusion_model import condition_inputs, guided_denoiser

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
        denoise = guided_denoiser(self.model, inputs, guidance)
        if pin_path:
            known = torch.stack([self.pretransform.trajectory_latents(t, frames) for t in trajectories])
            denoise = pinned_denoiser(denoise, known.to(self.device), self.pretransform.direction_slice)
        return get_sampler(sampler)(denoise, noise, time_grid(steps))

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
    ) -> FoaAudio | list[FoaAudio]:
        """Generate FOA (FuMa, ``sample_rate`` Hz, round(seconds * rate) samples) per prompt.

        A list of prompts gives a list of clips; clip i uses seed ``seed + i`` (or
        ``seed[i]`` for a list of seeds), so a clip does not depend on how prompts are batched. ``trajectory`` is one path for all
        prompts or one per prompt; None on a parametric model withholds the position.
        ``pin_path`` (parametric latents only) fixes the generated direction to the path.
        """
        single = isinstance(prompt, str)
        prompts = [prompt] if single else list(prompt)
        trajectories = self._check_request(prompts, trajectory, seconds, steps, guidance)
        if pin_path:
            if not self.can_pin_path:
                raise SonicMotionError(
                    "--pin-path needs a parametric model trained on a parametric latent "
                    "(parametric:patch:N or a parametric autoencoder run)"
                )
            if trajectories is None or any(t is None for t in trajectories):
                raise SonicMotionError("--pin-path needs a trajectory for every prompt")
        seeds = [seed + i for i in range(len(prompts))] if isinstance(seed, int) else [int(s) for s in seed]
        if len(seeds) != len(prompts):
            raise SonicMotionError(f"got {len(seeds)} seeds for {len(prompts)} prompts")
        results: list[FoaAudio] = []
        n = round(seconds * self.sample_rate)
        batches = range(0, len(prompts), batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="generate", unit="batch")
        for start in batches:
            stop = min(start + batch_size, len(prompts))
            latents = self.generate_latents(
                prompts[start:stop], trajectories[start:stop] if trajectories else None, seconds, steps,
                guidance, seeds[start:stop], sampler, pin_path,
            )
            audio = self.pretransform.decode(latents, n).float().cpu().numpy()
            for clip in audio:
                results.append(FoaAudio(np.ascontiguousarray(clip[:, :n], dtype=np.float32), self.sample_rate, FUMA))
        return results[0] if single else results

    def _check_request(self, prompts, trajectory, seconds, steps, guidance) -> list | None:
        if not prompts:
            raise SonicMotionError("no prompts given")
        for i, p in enumerate(prompts):
            if not isinstance(p, str) or not p.strip():
                raise SonicMotionError(f"prompt {i + 1} is empty; describe the sound, e.g. 'a police siren'")
        if not (0 < seconds <= self.config.max_seconds):
            raise SonicMotionError(f"seconds must lie in (0, {self.config.max_seconds:g}], got {seconds:g}")
        if steps < 1:
            raise SonicMotionError(f"steps must be >= 1, got {steps}")
        if not np.isfinite(guidance) or guidance < 0:
            raise SonicMotionError(f"guidance must be a number >= 0, got {guidance}")
        if trajectory is None or isinstance(trajectory, (Trajectory, dict)):
            trajectories = [trajectory] * len(prompts) if trajectory is not None else None
        else:
            trajectories = list(trajectory)
            if len(trajectories) != len(prompts):
                raise SonicMotionError(f"got {len(trajectories)} trajectories for {len(prompts)} prompts")
        if trajectories is not None:
            trajectories = [Trajectory.from_dict(t) if isinstance(t, dict) else t for t in trajectories]
        return trajectories
