"""Samplers for the cosine-schedule v-model, as small pure functions with one signature.

Every sampler is ``sampler(denoise, noise, times, callback=None) -> x_0`` where
``denoise(x_t, t) -> x_0 estimate`` (shape of x; t a float in [0, 1]), ``noise`` is the
start x at ``times[0]`` and ``times`` (float64, decreasing, ending at 0) is the time
grid. All arithmetic on the schedule is done in float64 and the samplers draw no random
numbers, so results depend only on the noise and the model.
"""

from __future__ import annotations

from typing import Callable

import torch

from sonicmotion.diffusion.objective import alpha_sigma
from sonicmotion.errors import SonicMotionError

Denoiser = Callable[[torch.Tensor, float], torch.Tensor]


def _step(times: torch.Tensor, i: int) -> tuple[float, float, float, float]:
    """(alpha, sigma) at times[i] and at times[i + 1], as float64 Python numbers."""
    alpha, sigma = alpha_sigma(times[i : i + 2].double())
    return float(alpha[0]), float(sigma[0]), float(alpha[1]), float(sigma[1])


@torch.no_grad()
def sample_ddim(denoise: Denoiser, noise: torch.Tensor, times: torch.Tensor, callback=None) -> torch.Tensor:
    """Deterministic DDIM (Song et al. 2021, eta = 0): x_s = alpha_s x0 + sigma_s eps."""
    x = noise
    for i in range(len(times) - 1):
        alpha, sigma, alpha_next, sigma_next = _step(times, i)
        x0 = denoise(x, float(times[i]))
        if sigma_next == 0.0:
            x = x0
        else:
            # eps from x_t and x0; at t = 1 (alpha = 0) x_t is pure noise.
            eps = (x - alpha * x0) / sigma
            x = alpha_next * x0 + sigma_next * eps
        if callback is not None:
            callback(i, x)
    return x


@torch.no_grad()
def sample_dpmpp_2m(denoise: Denoiser, noise: torch.Tensor, times: torch.Tensor, callback=None) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) in half-log-SNR lambda = log(alpha / sigma).

    x_i = (sigma_i / sigma_{i-1}) x_{i-1} - alpha_i (exp(-h_i) - 1) D_i, with
    D_i = (1 + 1 / (2 r_i)) x0_{i-1} - 1 / (2 r_i) x0_{i-2}, r_i = h_{i-1} / h_i;
    first step first order; the step to sigma = 0 returns the denoised estimate.
    """
    x = noise
    previous_x0, previous_h = None, None
    for i in range(len(times) - 1):
        alpha, sigma, alpha_next, sigma_next = _step(times, i)
        x0 = denoise(x, float(times[i]))
        if sigma_next == 0.0:
            x = x0
        else:
            lam = torch.log(torch.tensor(max(alpha, 1e-30) / sigma, dtype=torch.float64))
            lam_next = torch.log(torch.tensor(alpha_next / sigma_next, dtype=torch.float64))
            h = float(lam_next - lam)
            direction = x0
            if previous_x0 is not None and previous_h is not None:
                r = previous_h / h
                direction = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * previous_x0
            x = (sigma_next / sigma) * x + alpha_next * (-torch.expm1(torch.tensor(-h))).item() * direction
            previous_h = h
        previous_x0 = x0
        if callback is not None:
            callback(i, x)
    return x


SAMPLERS = {"dpmpp-2m": sample_dpmpp_2m, "ddim": sample_ddim}


def get_sampler(name: str):
    try:
        return SAMPLERS[name]
    except KeyError:
        raise SonicMotionError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}") from None


def pinned_denoiser(denoise: Denoiser, known: torch.Tensor, channels: slice) -> Denoiser:
    """Inpainting by replacement: the denoised estimate of ``channels`` is always ``known`` [B, c, F].

    With x0 fixed on those channels, DDIM and DPM-Solver++ keep them at alpha_t * known +
    sigma_t * noise (the start noise's own values) at every step, so the model always sees
    them as they would be noised from the known values, and the result holds them exactly.
    """

    def denoise_pinned(x: torch.Tensor, t: float) -> torch.Tensor:
        x0 = denoise(x, t).clone()
        x0[:, channels] = known.to(x0.dtype)
        return x0

    return denoise_pinned
