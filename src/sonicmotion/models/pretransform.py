"""Pretransforms: the invertible maps between FOA audio [B, 4, T] and diffusion latents.

Three kinds share one contract, :class:`Pretransform` (``encode``/``decode``,
``downsampling_ratio``, ``latent_channels``, ``io_channels``, ``sample_rate``):

- :class:`PatchPretransform` — a lossless reshape that folds ``patch_size`` consecutive
  samples of each of the 4 channels into latent channels (4 * patch_size), times a
  constant ``scale``. No training, exact inverse; good for fast experiments and for
  tests that must not depend on a trained autoencoder.
- the spatial autoencoder of ``sonicmotion.models.autoencoder`` (loaded from its run folder).
- :class:`ParametricPretransform` — W through a 1-channel codec (patching or a trained
  1-channel autoencoder) plus direction and diffuseness per latent frame
  (``sonicmotion.spatial.parametric``): direction is exact by construction.

:func:`load_pretransform` builds any of them from a spec string or a run folder, with its
:class:`PretransformDescription` (what it is, how to load it again, what it can do).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from sonicmotion.audio import SAMPLE_RATE
from sonicmotion.errors import SonicMotionError

FOA_CHANNELS = 4


class Pretransform(Protocol):
    """What the diffusion model, its trainer and the pipeline need of a pretransform."""

    downsampling_ratio: int  # audio samples per latent frame
    latent_channels: int
    io_channels: int  # audio channels (4: FOA)
    sample_rate: int  # Hz

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, io_channels, T] -> [B, latent_channels, ceil(T / downsampling_ratio)]."""

    def decode(self, latents: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
        """[B, latent_channels, F] -> [B, io_channels, F * downsampling_ratio], cropped to ``num_samples``."""


@dataclass(frozen=True)
class PretransformDescription:
    """What a loaded pretransform is and how to load it again (``pipeline.json`` keeps it).

    ``kind`` is "patch" or "parametric" (built from ``spec``, no files) or "autoencoder"
    (read from ``path``, a run folder or weights file; a 1-channel autoencoder is the
    transport of a parametric latent). ``trajectory_latents``: the pretransform can give the
    direction channels of a path (``trajectory_latents(path, frames)`` and ``direction_slice``),
    so sampling can pin the direction to it.
    """

    kind: str
    latent_channels: int
    downsampling_ratio: int  # audio samples per latent frame
    trajectory_latents: bool = False
    spec: str | None = None
    path: str | None = None

    @property
    def source(self) -> str | None:
        """What :func:`load_pretransform` reads to build it again (a spec string or a path), or None."""
        return self.spec or self.path

    def to_json(self) -> dict[str, str | None]:
        """The ``pretransform`` entry of ``pipeline.json``: ``{"type", "spec"}`` or ``{"type", "path"}``."""
        return {"type": self.kind, "spec": self.spec} if self.path is None else {"type": self.kind, "path": self.path}


def describe_pretransform(module: Pretransform, path: str | None = None) -> PretransformDescription:
    """The description of ``module``; ``path``: the autoencoder weights it was read from (else its spec)."""
    if path is not None:
        kind, spec = "autoencoder", None
    else:
        kind = "parametric" if isinstance(module, ParametricPretransform) else "patch"
        spec = getattr(module, "spec", None)
    return PretransformDescription(kind, int(module.latent_channels), int(module.downsampling_ratio),
                                   isinstance(module, ParametricPretransform), spec, path)


def latent_frames(samples: int, ratio: int, multiple: int) -> int:
    """Latent frames for ``samples`` audio samples: ceil(samples / ratio), up to a multiple
    (10 s at 16 kHz, ratio 2048, multiple 16 -> 80 frames: the audio is padded to 163,840)."""
    frames = -(-samples // ratio)
    return -(-frames // multiple) * multiple


class PatchPretransform(nn.Module):
    """Fold ``patch_size`` samples x 4 channels into one latent frame of 4 * patch_size values.

    ``encode``: [B, 4, T] -> [B, 4 * patch_size, ceil(T / patch_size)] (zero-padded at the end);
    ``decode``: [B, 4 * patch_size, F] -> [B, 4, F * patch_size]. Latent channel
    ``c * patch_size + k`` holds sample ``k`` of the frame in audio channel ``c``, so each
    audio channel is a contiguous block. ``scale`` multiplies on encode and divides on
    decode, to bring typical audio (peak ~0.5) to roughly unit variance.
    """

    def __init__(self, patch_size: int, scale: float = 1.0, channels: int = FOA_CHANNELS):
        super().__init__()
        if patch_size < 1:
            raise SonicMotionError(f"patch size must be a positive number of samples, got {patch_size}")
        if not (math.isfinite(scale) and scale > 0):
            raise SonicMotionError(f"patch scale must be a positive number, got {scale}")
        self.patch_size = int(patch_size)
        self.scale = float(scale)
        self.downsampling_ratio = self.patch_size
        self.io_channels = int(channels)
        self.latent_channels = self.io_channels * self.patch_size
        self.sample_rate = SAMPLE_RATE

    @property
    def spec(self) -> str:
        return f"patch:{self.patch_size}:{self.scale:g}"

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, 4, T] -> [B, 4 * patch_size, ceil(T / patch_size)]."""
        if audio.ndim != 3 or audio.shape[1] != self.io_channels:
            raise SonicMotionError(f"expected audio [B, {self.io_channels}, T], got shape {tuple(audio.shape)}")
        batch, _, length = audio.shape
        frames = -(-length // self.patch_size)
        pad = frames * self.patch_size - length
        if pad:
            audio = torch.nn.functional.pad(audio, (0, pad))
        patches = audio.reshape(batch, self.io_channels, frames, self.patch_size)
        return patches.permute(0, 1, 3, 2).reshape(batch, self.latent_channels, frames) * self.scale

    def decode(self, latents: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
        """[B, 4 * patch_size, F] -> [B, 4, F * patch_size], cropped to ``num_samples`` if given."""
        if latents.ndim != 3 or latents.shape[1] != self.latent_channels:
            raise SonicMotionError(
                f"expected latents [B, {self.latent_channels}, F], got shape {tuple(latents.shape)}"
            )
        batch, _, frames = latents.shape
        patches = latents.reshape(batch, self.io_channels, self.patch_size, frames).permute(0, 1, 3, 2)
        audio = patches.reshape(batch, self.io_channels, frames * self.patch_size) / self.scale
        return audio[..., :num_samples] if num_samples is not None else audio


@dataclass(frozen=True)
class ParametricSettings:
    """How the spatial part of a parametric latent is laid out and scaled.

    ``bands`` frequency bands, ``subframes`` parameter frames per latent frame (a finer
    hop carried as extra channels). Each group is scaled to unit variance:
    ``transport_scale`` is measured on training data (1 / std of the transport latents);
    directions and diffuseness use the variance of a uniform spread (a unit vector's
    component: 1/3, so √3; ψ uniform on [0, 1]: mean 1/2, std 1/√12), since one-source
    data would make a measured ψ spread nearly zero and its scale explode.
    """

    bands: int = 1
    subframes: int = 1
    transport_scale: float = 1.0
    direction_scale: float = math.sqrt(3.0)
    diffuseness_mean: float = 0.5
    diffuseness_scale: float = math.sqrt(12.0)

    def __post_init__(self) -> None:
        if self.bands < 1 or self.subframes < 1:
            raise SonicMotionError(f"parametric bands and subframes must be >= 1, got {self.bands}, {self.subframes}")
        for name in ("transport_scale", "direction_scale", "diffuseness_scale"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise SonicMotionError(f"parametric {name} must be a positive number, got {value}")

    @classmethod
    def from_dict(cls, data: dict) -> "ParametricSettings":
        from sonicmotion.yaml_config import config_from_dict

        return config_from_dict(cls, data, "parametric")

    def to_dict(self) -> dict:
        return asdict(self)


class ParametricPretransform(nn.Module):
    """FOA [B, 4, T] <-> [transport latents (C); directions (3·bands·subframes); diffuseness (bands·subframes)].

    ``transport`` is any 1-channel codec with ``encode`` [B, 1, T] -> [B, C, T / ratio] and
    ``decode`` back (a 1-channel :class:`PatchPretransform` or autoencoder). Direction
    channel ``(b·3 + axis)·subframes + s`` holds axis (X, Y, Z) of band b in subframe s;
    analysis and synthesis are ``sonicmotion.spatial.parametric`` (numpy, on the CPU).
    """

    def __init__(self, transport: nn.Module, settings: ParametricSettings = ParametricSettings()):
        super().__init__()
        if getattr(transport, "io_channels", None) != 1:
            raise SonicMotionError("a parametric pretransform needs a 1-channel transport codec")
        ratio = int(transport.downsampling_ratio)
        if ratio % settings.subframes:
            raise SonicMotionError(f"subframes ({settings.subframes}) must divide the transport's ratio ({ratio})")
        self.transport = transport
        self.settings = settings
        self.downsampling_ratio = ratio
        self.transport_channels = int(transport.latent_channels)
        self.spatial_groups = settings.bands * settings.subframes
        self.latent_channels = self.transport_channels + 4 * self.spatial_groups
        self.io_channels = FOA_CHANNELS
        self.sample_rate = int(getattr(transport, "sample_rate", SAMPLE_RATE))

    @property
    def spec(self) -> str | None:
        """``parametric:patch:N[:SCALE]`` when the transport is patching (no files needed), else None."""
        if isinstance(self.transport, PatchPretransform) and self.settings == ParametricSettings(
            transport_scale=self.settings.transport_scale
        ):
            return f"parametric:patch:{self.transport.patch_size}:{self.settings.transport_scale:g}"
        return None

    @property
    def direction_slice(self) -> slice:
        """The latent channels that hold directions."""
        return slice(self.transport_channels, self.transport_channels + 3 * self.spatial_groups)

    @property
    def hop(self) -> int:
        return self.downsampling_ratio // self.settings.subframes

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, 4, T] FuMa -> [B, latent_channels, ceil(T / ratio)]."""
        from sonicmotion.spatial.parametric import analyze_parametric

        if audio.ndim != 3 or audio.shape[1] != FOA_CHANNELS:
            raise SonicMotionError(f"expected FOA audio [B, 4, T], got shape {tuple(audio.shape)}")
        ratio = self.downsampling_ratio
        pad = -audio.shape[-1] % ratio
        if pad:
            audio = torch.nn.functional.pad(audio, (0, pad))
        transport = self.transport.encode(audio[:, :1]).float() * self.settings.transport_scale
        spatial = [self._pack(analyze_parametric(clip, self.sample_rate, self.hop, self.settings.bands))
                   for clip in audio.detach().float().cpu().numpy()]
        spatial = torch.from_numpy(np.stack(spatial)).to(device=transport.device, dtype=transport.dtype)
        return torch.cat([transport, spatial], dim=1)

    def decode(self, latents: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
        """[B, latent_channels, F] -> [B, 4, F · ratio] FuMa, cropped to ``num_samples`` if given."""
        from sonicmotion.spatial.parametric import synthesize_parametric

        if latents.ndim != 3 or latents.shape[1] != self.latent_channels:
            raise SonicMotionError(
                f"expected latents [B, {self.latent_channels}, F], got shape {tuple(latents.shape)}"
            )
        transport = self.transport.decode(latents[:, : self.transport_channels] / self.settings.transport_scale)
        transport = transport[:, 0].detach().float().cpu().numpy()
        spatial = latents[:, self.transport_channels :].detach().double().cpu().numpy()
        clips = [synthesize_parametric(w, self._unpack(params), self.sample_rate) for w, params in zip(transport, spatial)]
        audio = torch.from_numpy(np.stack(clips)).to(latents.device)
        return audio[..., :num_samples] if num_samples is not None else audio

    def trajectory_latents(self, trajectory, frames: int) -> torch.Tensor:
        """[3·bands·subframes, frames] direction channels of a steady source on ``trajectory``."""
        from sonicmotion.spatial.parametric import trajectory_parameters

        params = trajectory_parameters(trajectory, frames * self.settings.subframes, self.hop, self.sample_rate,
                                       self.settings.bands)
        return torch.from_numpy(self._pack(params)[: 3 * self.spatial_groups]).float()

    # [bands, 3, F·S] and [bands, F·S] <-> [(3 + 1)·bands·S, F] latent channels.
    def _pack(self, params) -> np.ndarray:
        s, bands = self.settings, self.settings.bands
        frames = params.frames // s.subframes
        directions = params.directions.reshape(bands, 3, frames, s.subframes).transpose(0, 1, 3, 2)
        diffuseness = params.diffuseness.reshape(bands, frames, s.subframes).transpose(0, 2, 1)
        return np.concatenate([
            directions.reshape(-1, frames) * s.direction_scale,
            (diffuseness.reshape(-1, frames) - s.diffuseness_mean) * s.diffuseness_scale,
        ]).astype(np.float32)

    def _unpack(self, spatial: np.ndarray):
        from sonicmotion.spatial.parametric import SpatialParameters

        s, bands = self.settings, self.settings.bands
        frames = spatial.shape[-1]
        groups = 3 * self.spatial_groups
        directions = spatial[:groups].reshape(bands, 3, s.subframes, frames).transpose(0, 1, 3, 2)
        directions = directions.reshape(bands, 3, frames * s.subframes) / s.direction_scale
        norm = np.linalg.norm(directions, axis=1, keepdims=True)
        # A generated vector of (near) zero length has no direction: point it at the front.
        directions = np.where(norm > 1e-6, directions / np.maximum(norm, 1e-6), np.array([1.0, 0.0, 0.0])[:, None])
        diffuseness = spatial[groups:].reshape(bands, s.subframes, frames).transpose(0, 2, 1)
        diffuseness = np.clip(diffuseness.reshape(bands, frames * s.subframes) / s.diffuseness_scale
                              + s.diffuseness_mean, 0.0, 1.0)
        return SpatialParameters(directions, diffuseness, self.hop)


def parse_patch_spec(spec: str) -> PatchPretransform | None:
    """``"patch:N"`` or ``"patch:N:SCALE"`` -> a :class:`PatchPretransform`; other specs -> None."""
    if not spec.startswith("patch:"):
        return None
    fields = spec.split(":")[1:]
    try:
        if len(fields) not in (1, 2):
            raise ValueError
        patch = int(fields[0])
        scale = float(fields[1]) if len(fields) == 2 else 1.0
    except ValueError:
        raise SonicMotionError(f"pretransform {spec!r} must read patch:N or patch:N:SCALE") from None
    return PatchPretransform(patch, scale)


def parse_spec(spec: str) -> nn.Module | None:
    """A pretransform that needs no files: ``patch:N[:SCALE]`` or ``parametric:patch:N[:SCALE]``.

    For the parametric spec SCALE multiplies W (default 1), the direction and diffuseness
    channels take the default scales of :class:`ParametricSettings`. Other specs -> None.
    """
    if spec.startswith("parametric:"):
        patch = parse_patch_spec(spec[len("parametric:"):])
        if patch is None:
            raise SonicMotionError(f"pretransform {spec!r} must read parametric:patch:N or parametric:patch:N:SCALE")
        transport = PatchPretransform(patch.patch_size, 1.0, channels=1)
        return ParametricPretransform(transport, ParametricSettings(transport_scale=patch.scale))
    return parse_patch_spec(spec)


def load_pretransform(spec: str | Path, weights: str = "ema") -> tuple[nn.Module, PretransformDescription]:
    """A frozen pretransform from a spec string (:func:`parse_spec`) or an autoencoder run folder / checkpoint.

    A 4-channel autoencoder is used as it is; a 1-channel one (a parametric run, see
    ``configs/autoencoder/parametric.yaml``) becomes the transport of a
    :class:`ParametricPretransform` with the settings saved beside its weights.
    Returns ``(module, description)``.
    """
    text = str(spec)
    module = parse_spec(text)
    if module is not None:
        return module.eval().requires_grad_(False), describe_pretransform(module)
    path = Path(text)
    if not path.exists():
        raise SonicMotionError(
            f"autoencoder {text!r} not found: give an autoencoder training run folder or checkpoint, "
            "'patch:N[:SCALE]' for the lossless patch pretransform or 'parametric:patch:N[:SCALE]' for the "
            "parametric latent on patched W"
        )
    from sonicmotion.models.autoencoder import autoencoder_metadata, load_autoencoder

    model, config = load_autoencoder(path, weights=weights)
    for name in ("downsampling_ratio", "latent_channels", "io_channels"):
        if not hasattr(model, name):
            raise SonicMotionError(f"autoencoder {text!r} lacks attribute {name!r}")
    source = str(path.resolve())
    if model.io_channels == 1:
        saved = autoencoder_metadata(path, weights=weights).get("parametric")
        if saved is None:
            raise SonicMotionError(
                f"autoencoder {text!r} has 1 audio channel but no parametric settings: it is not a "
                "parametric transport codec (train it with configs/autoencoder/parametric*.yaml)"
            )
        module = ParametricPretransform(model, ParametricSettings.from_dict(json.loads(saved)))
        return module.eval().requires_grad_(False), describe_pretransform(module, source)
    if model.io_channels != FOA_CHANNELS:
        raise SonicMotionError(f"autoencoder {text!r} has {model.io_channels} audio channels, expected 4 (FOA)")
    return model.eval().requires_grad_(False), describe_pretransform(model, source)


def save_pretransform_weights(module: Pretransform, path: str | Path) -> None:
    """Write an autoencoder pretransform's inference weights (EMA, no optimiser or discriminator
    state) to one file that :func:`load_pretransform` reads back: a parametric latent's
    transport codec with its settings, or the 4-channel autoencoder."""
    from sonicmotion.models.autoencoder import save_autoencoder

    if isinstance(module, ParametricPretransform):
        save_autoencoder(module.transport, path, {"parametric": json.dumps(module.settings.to_dict())})
    else:
        save_autoencoder(module, path)
