"""Stable-Audio-style diffusion transformer over latent frames.

Tokens are latent frames [B, F, width]. A global token (timestep + timing embedding) is
prepended at position 0. Each block: pre-norm self-attention with rotary positions,
pre-norm cross-attention to the conditioning tokens [B, L, cond_dim] (masked), pre-norm
gated (SwiGLU) MLP; every sub-layer is residual. Attention runs through
``scaled_dot_product_attention`` (flash / memory-efficient kernels where available).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from sonicmotion.models.config import DiTConfig


def rotary_tables(length: int, dim: int, device: torch.device, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables [length, dim // 2] for rotary positions 0..length-1."""
    inv = 1.0 / base ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim)
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * inv[None, :]
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first 2 * cos.shape[-1] dims of x [B, H, N, Dh] (rotate-half form)."""
    half = cos.shape[-1]
    x1, x2, rest = x[..., :half], x[..., half : 2 * half], x[..., 2 * half :]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos, rest], dim=-1)


class GatedMLP(nn.Module):
    """Pre-norm SwiGLU MLP; returns the residual update [B, N, D]."""

    def __init__(self, width: int, mlp_ratio: float):
        super().__init__()
        hidden = int(mlp_ratio * width)
        self.norm = nn.LayerNorm(width)
        self.mlp_in = nn.Linear(width, 2 * hidden)
        self.mlp_out = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.mlp_in(self.norm(x)).chunk(2, dim=-1)
        return self.mlp_out(value * F.silu(gate))


class CrossAttention(nn.Module):
    """Pre-norm cross-attention of x [B, N, D] to context [B, L, context_dim]; returns the
    residual update. ``context_mask`` [B, L] (True = attend) is optional."""

    def __init__(self, width: int, context_dim: int, heads: int, norm_context: bool = False):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(width)
        self.norm_context = nn.LayerNorm(context_dim) if norm_context else nn.Identity()
        self.to_q = nn.Linear(width, width, bias=False)
        self.to_kv = nn.Linear(context_dim, 2 * width, bias=False)
        self.to_out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        q = self.to_q(self.norm(x)).view(b, n, self.heads, -1).transpose(1, 2)
        kv = self.to_kv(self.norm_context(context)).view(b, context.shape[1], 2, self.heads, -1)
        k, v = kv.permute(2, 0, 3, 1, 4)
        mask = None if context_mask is None else context_mask[:, None, None, :]  # [B, 1, 1, L]
        return self.to_out(F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(b, n, d))


class DiTBlock(nn.Module):
    def __init__(self, width: int, heads: int, cond_dim: int, mlp_ratio: float):
        super().__init__()
        self.heads = heads
        self.norm_self = nn.LayerNorm(width)
        self.to_qkv = nn.Linear(width, 3 * width, bias=False)
        self.self_out = nn.Linear(width, width)
        self.cross = CrossAttention(width, cond_dim, heads)
        self.mlp = GatedMLP(width, mlp_ratio)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor | None, cos: torch.Tensor,
        sin: torch.Tensor,
    ) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.to_qkv(self.norm_self(x)).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        x = x + self.self_out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d))
        x = x + self.cross(x, context, context_mask)
        return x + self.mlp(x)


class FourierFeatures(nn.Module):
    """Diffusion time t in [0, 1] -> [B, features] (fixed random frequencies, std 1)."""

    def __init__(self, features: int):
        super().__init__()
        self.register_buffer("frequencies", torch.randn(features // 2), persistent=True)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = 2 * math.pi * t.float()[:, None] * self.frequencies[None, :]
        return torch.cat([angles.cos(), angles.sin()], dim=-1)


class DiffusionTransformer(nn.Module):
    """v-prediction network: latents [B, C, F] at times t [B] -> v [B, C, F].

    ``global_cond`` [B, cond_dim] joins the timestep in the prepended global token;
    ``context`` [B, L, cond_dim] with ``context_mask`` [B, L] (True = real token) feeds
    cross-attention; optional ``frame_cond`` [B, K, F] (``frame_channels`` = K) is added
    to the input tokens frame by frame.
    """

    def __init__(self, config: DiTConfig, latent_channels: int, cond_dim: int, frame_channels: int = 0):
        super().__init__()
        self.config = config
        width = config.width
        if width % config.heads:
            raise ValueError(f"DiT width {width} is not divisible by {config.heads} heads")
        head_dim = width // config.heads
        self.rotary_dim = 2 * max(1, int(head_dim * config.rotary_fraction) // 2)
        self.time_features = FourierFeatures(config.timestep_features)
        self.time_embed = nn.Sequential(
            nn.Linear(config.timestep_features, width), nn.SiLU(), nn.Linear(width, width)
        )
        self.global_embed = nn.Sequential(nn.Linear(cond_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.proj_in = nn.Linear(latent_channels, width)
        self.frame_proj = nn.Linear(frame_channels, width, bias=False) if frame_channels else None
        # Frame-aligned conditions also modulate (scale, shift) the input and output
        # features frame by frame, so the output can depend multiplicatively on them.
        self.frame_modulation = nn.Linear(frame_channels, 4 * width, bias=False) if frame_channels else None
        if self.frame_modulation is not None:
            nn.init.zeros_(self.frame_modulation.weight)
        self.blocks = nn.ModuleList(
            DiTBlock(width, config.heads, cond_dim, config.mlp_ratio) for _ in range(config.depth)
        )
        self.norm_out = nn.LayerNorm(width)
        self.proj_out = nn.Linear(width, latent_channels)
        nn.init.zeros_(self.proj_out.weight)  # start by predicting v = 0
        nn.init.zeros_(self.proj_out.bias)
        self.gradient_checkpointing = config.gradient_checkpointing
        self.skip = nn.Linear(config.timestep_features, 1) if config.latent_skip else None
        if self.skip is not None:
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.skip.bias)

    def forward(
        self,
        latents: torch.Tensor,
        t: torch.Tensor,
        global_cond: torch.Tensor,
        context: torch.Tensor,
        context_mask: torch.Tensor,
        frame_cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = self.proj_in(latents.transpose(1, 2))  # [B, F, W]
        modulation = None
        if self.frame_proj is not None and frame_cond is not None:
            frame_cond = frame_cond.transpose(1, 2).to(x.dtype)  # [B, F, K]
            modulation = self.frame_modulation(frame_cond).chunk(4, dim=-1)
            x = x * (1 + modulation[0]) + modulation[1] + self.frame_proj(frame_cond)
        time_features = self.time_features(t).to(x.dtype)
        token = self.time_embed(time_features) + self.global_embed(global_cond.to(x.dtype))
        x = torch.cat([token[:, None, :], x], dim=1)
        cos, sin = rotary_tables(x.shape[1], self.rotary_dim, x.device)
        context = context.to(x.dtype)
        # The mask is always applied: testing it for "no padding" would read it back to the
        # host every forward (a device sync, and a graph break under torch.compile).
        for block in self.blocks:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, context, context_mask, cos, sin, use_reentrant=False)
            else:
                x = block(x, context, context_mask, cos, sin)
        x = self.norm_out(x[:, 1:])
        if modulation is not None:
            x = x * (1 + modulation[2]) + modulation[3]
        v = self.proj_out(x).transpose(1, 2)
        if self.skip is not None:
            v = v + self.skip(time_features)[:, :, None] * latents.to(v.dtype)
        return v

