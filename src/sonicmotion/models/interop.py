"""Weights from elsewhere: diffusers' ``AutoencoderOobleck`` format, and stereo -> FOA expansion.

diffusers names layers after Stable Audio's Oobleck (``encoder.block.0.res_unit1.snake1.alpha``);
ours say what they are (``encoder.blocks.0.residual_units.0.act_in.log_alpha``). The mapping
below is one-to-one and checked in both directions; the maths of the two models is the same
(tested to 1e-5 in ``tests/models/test_interop.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from sonicmotion.errors import SonicMotionError
from sonicmotion.models.autoencoder import AutoencoderConfig, SpatialAutoencoder

_RESIDUAL_LAYERS = {"snake1": "act_in", "conv1": "conv_dilated", "snake2": "act_out", "conv2": "conv_pointwise"}
_TOP_LAYERS = {"conv1": "conv_in", "conv2": "conv_out", "snake1": "act_out"}
_LEAVES = {
    "alpha": "log_alpha",  # diffusers' Snake1d(logscale=True) stores log α, log β
    "beta": "log_beta",
    "parametrizations.weight.original0": "weight_g",  # torch's newer weight-norm API
    "parametrizations.weight.original1": "weight_v",
}


def diffusers_key_to_ours(key: str) -> str:
    """``encoder.block.0.res_unit1.conv1.weight_v`` -> ``encoder.blocks.0.residual_units.0.conv_dilated.weight_v``."""
    for old, new in _LEAVES.items():
        if key.endswith("." + old):
            key = key[: -len(old)] + new
            break
    side, *rest = key.split(".")
    if side not in ("encoder", "decoder") or not rest:
        raise SonicMotionError(f"unexpected key {key!r} in a diffusers AutoencoderOobleck state dict")
    try:
        if rest[0] == "block":
            index, layer, tail = rest[1], rest[2], rest[3:]
            if layer.startswith("res_unit"):
                unit = int(layer[len("res_unit"):]) - 1
                return ".".join([side, "blocks", index, "residual_units", str(unit), _RESIDUAL_LAYERS[tail[0]], *tail[1:]])
            if layer == "snake1":
                return ".".join([side, "blocks", index, "act", *tail])
            if layer in ("conv1", "conv_t1"):
                return ".".join([side, "blocks", index, "downsample" if side == "encoder" else "upsample", *tail])
            raise KeyError(layer)
        return ".".join([side, _TOP_LAYERS[rest[0]], *rest[1:]])
    except (KeyError, IndexError, ValueError):
        raise SonicMotionError(f"unexpected key {key!r} in a diffusers AutoencoderOobleck state dict") from None


def config_from_diffusers_state_dict(state_dict: dict[str, torch.Tensor], sample_rate: int) -> AutoencoderConfig:
    """Infer our config from the tensor shapes of a (diffusers-named) state dict."""
    try:
        conv_in = state_dict["encoder.conv1.weight_v"]
        latent_in = state_dict["decoder.conv1.weight_v"]
    except KeyError as err:
        raise SonicMotionError(f"not an AutoencoderOobleck state dict: missing {err.args[0]!r}") from None
    base, audio_channels = conv_in.shape[0], conv_in.shape[1]
    latent_channels = latent_in.shape[1]
    strides, multipliers = [], []
    index = 0
    while f"encoder.block.{index}.conv1.weight_v" in state_dict:
        down = state_dict[f"encoder.block.{index}.conv1.weight_v"]  # [out, in, 2 * stride]
        strides.append(down.shape[2] // 2)
        multipliers.append(down.shape[0] // base)
        index += 1
    if 2 * latent_channels != state_dict["encoder.conv2.weight_v"].shape[0]:
        raise SonicMotionError(
            "this Oobleck checkpoint's encoder output is not twice its latent size; "
            "it is not a VAE SonicMotion can load"
        )
    return AutoencoderConfig(
        audio_channels=audio_channels, sample_rate=sample_rate, base_channels=base,
        channel_multipliers=tuple(multipliers), strides=tuple(strides), latent_channels=latent_channels,
    )


def load_diffusers_state_dict(
    model: SpatialAutoencoder, state_dict: dict[str, torch.Tensor]
) -> SpatialAutoencoder:
    """Copy diffusers-named weights into ``model`` (strict: every tensor must match)."""
    ours = {diffusers_key_to_ours(k): v for k, v in state_dict.items()}
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(ours)), sorted(set(ours) - set(expected))
    if missing or unexpected:
        raise SonicMotionError(
            f"diffusers weights do not fit this model: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    for key, value in ours.items():
        if value.shape != expected[key].shape:
            raise SonicMotionError(
                f"diffusers weight {key} has shape {tuple(value.shape)}, model expects {tuple(expected[key].shape)}"
            )
    model.load_state_dict(ours)
    return model


def load_diffusers_oobleck(
    path: str | os.PathLike, sample_rate: int | None = None
) -> tuple[SpatialAutoencoder, AutoencoderConfig]:
    """Load a diffusers ``AutoencoderOobleck`` folder (config.json + *.safetensors) or file.

    The sample rate comes from the folder's ``config.json`` (``sampling_rate``) or must be
    given; it is recorded, never used to resample. Stable Audio Open's VAE loads this way
    after diffusers' conversion script; follow with :func:`expand_stereo_to_foa` for FOA.
    """
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_dir():
        config_file = path / "config.json"
        if config_file.is_file() and sample_rate is None:
            sample_rate = json.loads(config_file.read_text()).get("sampling_rate")
        files = sorted(path.glob("*.safetensors"))
        if len(files) != 1:
            raise SonicMotionError(f"{path}: expected one .safetensors file, found {len(files)}")
        path = files[0]
    if not path.is_file():
        raise SonicMotionError(f"{path}: no such diffusers weights file or folder")
    if sample_rate is None:
        raise SonicMotionError(f"{path}: no config.json with sampling_rate beside it; pass sample_rate")
    state_dict = load_file(str(path))
    config = config_from_diffusers_state_dict(state_dict, int(sample_rate))
    return load_diffusers_state_dict(SpatialAutoencoder(config), state_dict).eval(), config


def _effective_weight(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch._weight_norm(v, g, 0)


def _as_weight_norm(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.norm_except_dim(weight, 2, 0), weight


@torch.no_grad()
def expand_stereo_to_foa(model: SpatialAutoencoder, seed: int = 0) -> SpatialAutoencoder:
    """A 4-channel (FuMa WXYZ) model started from a 2-channel (L, R) one.

    Only the first and the last convolution see the audio channels. Reading stereo as
    mid/side, ``L = M + S`` and ``R = M - S`` with ``M ~ W`` (omni) and ``S ~ Y`` (left):

    - encoder input kernels: ``k_W = k_L + k_R``, ``k_Y = k_L - k_R``, ``k_X = k_Z = 0``
      (so W and Y see exactly what the stereo model saw for that mid/side pair);
    - decoder output kernels: ``W = (L + R) / 2``, ``Y = (L - R) / 2``; X and Z start as
      small random kernels (1% of the mean output-kernel norm; zero would make the weight
      norm divide by zero) and are learned.

    Every other weight is copied. Effective (normalised) weights are expanded and the
    weight-norm split recomputed, so the stereo model's behaviour on W/Y is preserved.
    """
    if model.io_channels != 2:
        raise SonicMotionError(f"expand_stereo_to_foa needs a 2-channel model, got {model.io_channels} channels")
    from dataclasses import replace

    config = replace(model.config, audio_channels=4)
    foa = SpatialAutoencoder(config)
    state = dict(model.state_dict())

    conv_in = _effective_weight(state.pop("encoder.conv_in.weight_g"), state.pop("encoder.conv_in.weight_v"))
    left, right = conv_in[:, 0:1], conv_in[:, 1:2]  # [base, 1, 7]
    zeros = torch.zeros_like(left)
    g, v = _as_weight_norm(torch.cat([left + right, zeros, left - right, zeros], dim=1))  # W X Y Z
    state["encoder.conv_in.weight_g"], state["encoder.conv_in.weight_v"] = g, v

    conv_out = _effective_weight(state.pop("decoder.conv_out.weight_g"), state.pop("decoder.conv_out.weight_v"))
    left, right = conv_out[0:1], conv_out[1:2]  # [1, base, 7]
    generator = torch.Generator().manual_seed(seed)
    scale = 0.01 * conv_out.flatten(1).norm(dim=1).mean()

    def small() -> torch.Tensor:
        noise = torch.randn(left.shape, generator=generator, dtype=left.dtype)
        return noise / noise.norm() * scale

    g, v = _as_weight_norm(torch.cat([(left + right) / 2, small(), (left - right) / 2, small()], dim=0))
    state["decoder.conv_out.weight_g"], state["decoder.conv_out.weight_v"] = g, v
    foa.load_state_dict(state)
    return foa
