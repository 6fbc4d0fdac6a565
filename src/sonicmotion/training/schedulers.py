"""Learning-rate schedules."""

from __future__ import annotations

import torch


class InverseLR(torch.optim.lr_scheduler.LRScheduler):
    """Inverse-decay schedule with exponential warm-up (k-diffusion's ``InverseLR``).

    ``lr(step) = (1 - warmup^(step + 1)) · max(min_lr, base_lr · (1 + step / inv_gamma)^(-power))``.
    ``warmup`` is a per-step factor in [0, 1): 0.99 reaches 63% of the rate after 100 steps.
    Paper §2.6 (diffusion): inv_gamma 1e6, power 0.5, warmup 0.99.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        inv_gamma: float = 1.0,
        power: float = 1.0,
        warmup: float = 0.0,
        min_lr: float = 0.0,
        last_epoch: int = -1,
    ):
        if not 0.0 <= warmup < 1.0:
            raise ValueError(f"InverseLR warmup must be in [0, 1), got {warmup}")
        self.inv_gamma, self.power, self.warmup, self.min_lr = inv_gamma, power, warmup, min_lr
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        warmup = 1.0 - self.warmup ** (step + 1)
        decay = (1.0 + step / self.inv_gamma) ** -self.power
        return [warmup * max(self.min_lr, base_lr * decay) for base_lr in self.base_lrs]
