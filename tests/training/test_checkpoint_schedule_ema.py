import random

import numpy as np
import pytest
import torch

from sonicmotion.training.checkpoint import CheckpointManager, capture_rng_state, restore_rng_state
from sonicmotion.training.ema import ExponentialMovingAverage
from sonicmotion.training.schedulers import InverseLR


def test_checkpoints_are_atomic_pruned_and_reload(tmp_path):
    manager = CheckpointManager(tmp_path / "ckpt", keep_last=2)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    for step in (10, 20, 30):
        manager.save(step, {"model": model.state_dict()}, {"step": step, "optimizer": optimizer.state_dict()},
                     {"format": "test"})
    (tmp_path / "ckpt" / ".partial-step-000000040").mkdir()  # an interrupted save
    assert [p.name for p in manager.checkpoints()] == ["step-000000020", "step-000000030"]
    latest = manager.latest()
    state = manager.load_state(latest)
    assert state["step"] == 30
    restored = torch.optim.AdamW(model.parameters())
    restored.load_state_dict(state["optimizer"])
    assert torch.equal(restored.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    assert torch.equal(manager.load_weights(latest, "model")["weight"], model.weight)


def test_rng_state_round_trip():
    state = capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.random(), np.random.rand(), torch.rand(1)
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_inverse_lr_formula():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    scheduler = InverseLR(optimizer, inv_gamma=1e6, power=0.5, warmup=0.99)
    rates = []
    for _ in range(3):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    for step, rate in enumerate(rates):
        assert rate == pytest.approx(1e-4 * (1 - 0.99 ** (step + 1)) * (1 + step / 1e6) ** -0.5)


def test_ema_tracks_weights_with_warmup():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = ExponentialMovingAverage(model, decay=0.9)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)  # first effective decay: min(0.9, 1/10) = 0.1
    assert ema.shadow.weight.item() == pytest.approx(0.9)
    ema.update(model)  # min(0.9, 2/11)
    assert ema.shadow.weight.item() == pytest.approx(1 - 0.1 * (2 / 11))
