"""Exponential moving average of a model's weights, kept on the training device."""

from __future__ import annotations

import copy

import torch
from torch import nn


class ExponentialMovingAverage(nn.Module):
    """Keeps ``shadow`` = EMA of ``model``'s parameters (buffers copied as they are).

    ``shadow ← decay · shadow + (1 - decay) · param`` after each optimiser step; the
    effective decay ramps up as ``min(decay, (1 + n) / (10 + n))`` so early averages are
    not dominated by the random initialisation. The shadow lives where the model lives
    (on the GPU in a GPU run) and is updated with one multi-tensor lerp per dtype, so the
    average costs a few per cent of a training step, not a copy to the host.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        n = int(self.num_updates)
        decay = min(self.decay, (1.0 + n) / (10.0 + n))
        groups: dict[tuple, tuple[list, list]] = {}
        for shadow, param in zip(self.shadow.parameters(), model.parameters()):
            pair = groups.setdefault((shadow.dtype, shadow.device), ([], []))
            pair[0].append(shadow)
            pair[1].append(param.detach().to(shadow.dtype))
        for shadows, params in groups.values():
            torch._foreach_lerp_(shadows, params, 1.0 - decay)
        for shadow, buffer in zip(self.shadow.buffers(), model.buffers()):
            shadow.copy_(buffer)
        self.num_updates += 1
