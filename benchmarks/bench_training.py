"""Training scale-out figures on this machine (CPU).

1. EMA update of the paper-size parametric diffusion model (about 1.1 B parameters): the
   trainer's EMA (the shadow kept where the model is, one multi-tensor lerp per step)
   against the reference it replaced (every step: the state dict copied to float32 host
   tensors and averaged tensor by tensor), same model, same run. On a GPU the reference
   also pays the device-to-host copy; here both run on the CPU, so the ratio is a floor.
2. Reading latent shards as the trainers do (``TrainingBatches``: DataLoader workers, the
   split over readers, positions recorded) against a plain loop over the same shards.

    PYTHONPATH=src python benchmarks/bench_training.py [--skip-ema] [--workers 2]
    PYTHONPATH=src python benchmarks/bench_training.py --smoke   # seconds (CI): the tiny DiT's EMA, 64 samples
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def reference_ema(shadow: dict, model: torch.nn.Module, decay: float) -> None:
    """The replaced EMA: a float32 host copy of every tensor of the state dict, then a lerp each."""
    for name, value in model.state_dict().items():
        if value.dtype.is_floating_point:
            shadow[name].lerp_(value.detach().float().to(shadow[name].device), 1.0 - decay)
        else:
            shadow[name].copy_(value)


def bench_ema(repeats: int, size: str = "paper") -> None:
    from sonicmotion.models.config import DiffusionModelConfig, dit_config
    from sonicmotion.models.diffusion_model import ConditionedDiffusionModel
    from sonicmotion.training.ema import ExponentialMovingAverage

    model = ConditionedDiffusionModel(DiffusionModelConfig(variant="parametric", dit=dit_config(size)), 768, 64)
    params = sum(p.numel() for p in model.parameters())
    ours = ExponentialMovingAverage(model, 0.999)
    ours.update(model)
    start = time.perf_counter()
    for _ in range(repeats):
        ours.update(model)
    ours_seconds = (time.perf_counter() - start) / repeats
    del ours
    shadow = {k: v.detach().float().clone() for k, v in model.state_dict().items()}
    reference_ema(shadow, model, 0.999)
    start = time.perf_counter()
    for _ in range(repeats):
        reference_ema(shadow, model, 0.999)
    reference_seconds = (time.perf_counter() - start) / repeats
    print(f"EMA update, {params / 1e9:.2f} B parameters, {torch.get_num_threads()} threads: trainer "
          f"{ours_seconds:.3f} s, reference (host copy per tensor) {reference_seconds:.3f} s, "
          f"ratio {reference_seconds / ours_seconds:.2f}x")


def bench_reading(workers: int, samples: int = 2048) -> None:
    from sonicmotion.data.latents import write_latent_shard
    from sonicmotion.training.batches import TrainingBatches, plan_batches
    from sonicmotion.data.latents import LatentShardDataset
    from sonicmotion.data.loader import collate_samples as collate

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as work:
        urls = []
        for shard in range(8):
            url = Path(work) / "train" / f"train-{shard:06d}.tar"
            url.parent.mkdir(parents=True, exist_ok=True)
            write_latent_shard(url, ((f"s{shard}-{i:05d}", rng.standard_normal((64, 80)).astype(np.float16),
                                      {"caption": "x", "spatial_caption": "x", "trajectory": None,
                                       "sample_rate": 16000, "num_samples": 160000})
                                     for i in range(samples // 8)))
            urls.append(str(url))

        def make(epoch):
            dataset = LatentShardDataset(urls, shuffle=True, seed=0)
            dataset.set_epoch(epoch)
            return dataset

        start = time.perf_counter()
        plain = sum(1 for _ in make(0))
        plain_rate = plain / (time.perf_counter() - start)
        batches = TrainingBatches(make, plan_batches(64, 1, 1), collate, num_workers=workers)
        stream = iter(batches)
        start = time.perf_counter()
        read = 0
        while batches.epoch == 0:
            read += sum(len(b["key"]) for b in next(stream))
        rate = read / (time.perf_counter() - start)
    print(f"latent shards, {samples} samples of 64 x 80: TrainingBatches with {workers} worker(s) {rate:,.0f} "
          f"samples/s (batched, collated), plain single-process loop {plain_rate:,.0f} samples/s, "
          f"ratio {rate / plain_rate:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-ema", action="store_true", help="skip the 1.1 B-parameter EMA figure")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="run in seconds (CI): the tiny model's EMA, one repeat, "
                        "64 samples read by one worker")
    args = parser.parse_args()
    if not args.skip_ema:
        bench_ema(1 if args.smoke else args.repeats, "tiny" if args.smoke else "paper")
    bench_reading(1 if args.smoke else args.workers, 64 if args.smoke else 2048)


if __name__ == "__main__":
    main()
