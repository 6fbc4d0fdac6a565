"""Exponential moving average of a model's weights."""

from __future__ import annotations

import copy

import torch
from torch import nn


class ExponentialMovingAverage(nn.Module):
    """Keeps ``shadow`` = EMA of ``model``'s parameters (buffers copied as they are).

    ``shadow ← decay · shadow + (1 - decay) · param`` after each optimiser step; the
    effective decay ramps up as ``min(decay, (1 + n) / (10 + n))`` so early averages are
    not dominated by the random initialisation.
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
        for shadow, param in zip(self.shadow.parameters(), model.parameters()):
            shadow.lerp_(param.detach().to(shadow.dtype), 1.0 - decay)
        for shadow, buffer in zip(self.shadow.buffers(), model.buffers()):
            shadow.copy_(buffer)
        self.num_updates += 1
