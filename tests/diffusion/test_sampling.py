"""Samplers on a problem with a known answer.

Data x0 ~ N(mu, s^2) per dimension. The exact denoiser is
E[x0 | x_t] = mu + alpha s^2 / (alpha^2 s^2 + sigma^2) (x_t - alpha mu), and the
probability-flow ODE from x_1 = z ends at x0 = mu + s z, so every sampler must land there.
"""

import math

import pytest
import torch

from sonicmotion.diffusion.objective import alpha_sigma, noisy, time_grid, v_to_x0
from sonicmotion.diffusion.sampling import get_sampler, sample_ddim, sample_dpmpp_2m
from sonicmotion.errors import SonicMotionError

MU = torch.tensor([1.5, -0.5, 0.0, 3.0], dtype=torch.float64)
S = torch.tensor([0.5, 2.0, 1.0, 0.1], dtype=torch.float64)


def exact_denoiser(x: torch.Tensor, t: float) -> torch.Tensor:
    alpha, sigma = alpha_sigma(torch.tensor(t, dtype=torch.float64))
    return MU + alpha * S**2 / (alpha**2 * S**2 + sigma**2) * (x - alpha * MU)


def test_objective_identities():
    x0, eps = torch.randn(3, 4, 5), torch.randn(3, 4, 5)
    t = torch.tensor([0.0, 0.4, 1.0])
    x_t, v = noisy(x0, eps, t)
    assert torch.allclose(v_to_x0(x_t, v, t), x0, atol=1e-5)
    assert torch.allclose(x_t[0], x0[0]) and torch.allclose(x_t[2], eps[2], atol=1e-6)


def error(sampler, steps: int, seed: int = 0) -> float:
    z = torch.randn(64, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return float((sampler(exact_denoiser, z.clone(), time_grid(steps)) - (MU + S * z)).abs().max())


def test_samplers_reach_the_exact_answer_at_their_order():
    # DDIM is first order (error ~ 1/N), DPM-Solver++(2M) second order (~ 1/N^2).
    ddim_50, ddim_200 = error(sample_ddim, 50), error(sample_ddim, 200)
    dpm_50, dpm_200 = error(sample_dpmpp_2m, 50), error(sample_dpmpp_2m, 200)
    assert ddim_200 < 0.05 and dpm_200 < 0.005
    assert 3.0 < ddim_50 / ddim_200 < 5.0
    assert dpm_50 / dpm_200 > 8.0


def test_samplers_agree_with_each_other():
    z = torch.randn(64, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ddim = sample_ddim(exact_denoiser, z.clone(), time_grid(400))
    dpm = sample_dpmpp_2m(exact_denoiser, z.clone(), time_grid(400))
    assert float((ddim - dpm).abs().max()) < 0.03
    assert error(sample_dpmpp_2m, 10) < error(sample_ddim, 10)


def test_samplers_are_deterministic_and_call_back():
    z = torch.randn(8, 4, dtype=torch.float64)
    seen = []
    a = sample_dpmpp_2m(exact_denoiser, z.clone(), time_grid(5), callback=lambda i, x: seen.append(i))
    b = sample_dpmpp_2m(exact_denoiser, z.clone(), time_grid(5))
    assert torch.equal(a, b) and seen == [0, 1, 2, 3, 4]
    with pytest.raises(SonicMotionError, match="unknown sampler"):
        get_sampler("euler")
    assert math.isclose(float(time_grid(4)[1]), 0.75)


@pytest.mark.parametrize("sampler", [sample_ddim, sample_dpmpp_2m])
def test_pinned_channels_stay_on_their_noised_known_values(sampler):
    from sonicmotion.diffusion.sampling import pinned_denoiser

    z = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    known = torch.tensor([[-2.0], [0.7]], dtype=torch.float64).T.expand(8, 2)  # channels 1 and 2
    times = time_grid(12)
    seen = []

    def record(i, x):
        seen.append((i, x.clone()))

    free = sampler(exact_denoiser, z.clone(), times)
    pinned = sampler(pinned_denoiser(exact_denoiser, known, slice(1, 3)), z.clone(), times, callback=record)
    assert torch.equal(pinned[:, 1:3], known)
    # Channels are independent under this denoiser: the free ones are untouched by the pinning.
    assert torch.allclose(pinned[:, [0, 3]], free[:, [0, 3]])
    for i, x in seen[:-1]:
        alpha, sigma = alpha_sigma(times[i + 1].double())
        assert torch.allclose(x[:, 1:3], alpha * known + sigma * z[:, 1:3], atol=1e-9)
