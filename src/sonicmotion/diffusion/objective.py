"""The v-objective on a cosine schedule (Salimans & Ho 2022), as in Stable Audio.

Diffusion time t in [0, 1]: alpha(t) = cos(pi t / 2), sigma(t) = sin(pi t / 2);
x_t = alpha x_0 + sigma eps; the network predicts v = alpha eps - sigma x_0 and is
trained with the mean squared error. From a v prediction: x_0 = alpha x_t - sigma v and
eps = sigma x_t + alpha v.
"""

from __future__ import annotations

import math

import torch


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha, sigma) of the cosine schedule at times t (any shape)."""
    angle = t * (math.pi / 2)
    return torch.cos(angle), torch.sin(angle)


def _expand(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.reshape(values.shape + (1,) * (like.ndim - values.ndim)).to(like.dtype)


def noisy(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, v target) for clean x0 [B, ...], noise like x0, times t [B]."""
    alpha, sigma = (_expand(v, x0) for v in alpha_sigma(t))
    return alpha * x0 + sigma * noise, alpha * noise - sigma * x0


def v_to_x0(x_t: torch.Tensor, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    alpha, sigma = (_expand(v_, x_t) for v_ in alpha_sigma(t))
    return alpha * x_t - sigma * v


def time_grid(steps: int, t_max: float = 1.0, t_min: float = 0.0) -> torch.Tensor:
    """``steps + 1`` float64 times from t_max down to t_min, uniform in t (cosine schedule)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return torch.linspace(t_max, t_min, steps + 1, dtype=torch.float64)
