"""GPU figures for the paper-size spatial autoencoder (one CUDA device, about 2-3 minutes).

Prints: training samples/s of the whole step through the project's trainer (FOA shards
read and cropped to 2 s by DataLoader workers, generator, discriminator, Eq. 2 loss, EMA)
at batch 32 in bf16 autocast, the EMA update's share of it, the peak GPU memory, and
encode / decode throughput on 10 s clips (clips/s and x real time).

Usage: PYTHONPATH=src python benchmarks/gpu_autoencoder.py [--batch-size 32] [--steps 20]
       [--gradient-checkpointing] [--workers 8]
       PYTHONPATH=src python benchmarks/gpu_autoencoder.py --smoke   # seconds, on the CPU (CI): the tiny config,
           batch 2, one timed step, float32, no workers; the same code path, figures meaningless
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch


def write_foa_shards(folder: Path, samples: int, per_shard: int = 64, split: str = "train",
                     num_samples: int = 160_000) -> list[str]:
    """FOA clips (10 s unless ``num_samples`` says otherwise) of quiet noise (a direction per clip) as dataset shards."""
    from sonicmotion.data.shards import ShardWriter
    from sonicmotion.spatial.io import foa_to_bytes
    from sonicmotion.spatial import Trajectory, encode_foa

    rng = np.random.default_rng(0)
    urls = []
    for first in range(0, samples, per_shard):
        url = folder / split / f"{split}-{first // per_shard:06d}.tar"
        url.parent.mkdir(parents=True, exist_ok=True)
        with open(url, "wb") as f, ShardWriter(f) as shard:
            for i in range(first, min(first + per_shard, samples)):
                path = Trajectory.static(float(rng.uniform(-180, 180)), float(rng.uniform(-40, 40)))
                foa = encode_foa((0.1 * rng.standard_normal(num_samples)).astype(np.float32), 16000, path)
                meta = {"key": f"s{i:07d}", "caption": "noise", "spatial_caption": "noise", "sample_rate": 16000,
                        "num_samples": num_samples, "trajectory": path.to_dict()}
                shard.add_sample(f"s{i:07d}", foa_to_bytes(foa, 16000), meta)
        urls.append(str(url))
    return urls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps (after 3 warm-up steps)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--config", default="configs/autoencoder/paper.yaml")
    parser.add_argument("--workers", type=int, default=8, help="DataLoader workers decoding the shards")
    parser.add_argument("--smoke", action="store_true", help="run in seconds on the CPU (CI): the tiny config, "
                        "batch 2, one timed step, float32, no workers")
    args = parser.parse_args()
    if args.smoke:
        args.batch_size, args.steps, args.config, args.workers = 2, 1, "configs/autoencoder/tiny.yaml", 0
    elif not torch.cuda.is_available():
        raise SystemExit("this benchmark needs a CUDA device")
    torch.backends.cudnn.benchmark = True
    device = torch.device("cpu" if args.smoke else "cuda")
    # Smoke: 1 s clips, one warm-up step, one timing repeat.
    precision, clip_count, clip_samples, repeats = ("no", 1, 16_000, 1) if args.smoke else ("bf16", 16, 160_000, 5)

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    from sonicmotion.training.autoencoder import AutoencoderRunConfig, AutoencoderTrainer, override_training, shard_epochs

    config = override_training(AutoencoderRunConfig.from_yaml(args.config), global_batch_size=args.batch_size,
                               mixed_precision=precision, num_workers=args.workers)
    config = replace(config, loss=replace(config.loss, adversarial_warmup_steps=0),
                     model=replace(config.model, gradient_checkpointing=args.gradient_checkpointing))
    name = "CPU (smoke)" if args.smoke else torch.cuda.get_device_name(device)
    print(f"device: {name}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as work:
        urls = write_foa_shards(Path(work) / "data", args.batch_size * (args.steps + 4), num_samples=clip_samples)
        trainer = AutoencoderTrainer(config, Path(work) / "run", shard_epochs(urls, config.training), progress=False)
        data = trainer.steps()
        for _ in range(min(3, repeats)):
            trainer.train_step(next(data))
        synchronize()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(args.steps):
            log = trainer.train_step(next(data))
        synchronize()
        elapsed = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
        generator = trainer.accelerator.unwrap_model(trainer.generator)
        ema_start = time.perf_counter()
        for _ in range(2 * repeats):
            trainer.ema.update(generator)
        synchronize()
        ema = (time.perf_counter() - ema_start) / (2 * repeats)
        print(f"train (whole step: shards -> 2 s crops -> generator + discriminator -> AdamW -> EMA): batch "
              f"{args.batch_size} x {config.training.crop_seconds:g} s, {precision}"
              f"{', grad checkpointing' if args.gradient_checkpointing else ''}: "
              f"{args.steps * args.batch_size / elapsed:.1f} samples/s, {elapsed / args.steps:.3f} s/step, EMA "
              f"{100 * ema / (elapsed / args.steps):.1f}% of the step, peak memory {peak:.1f} GiB (loss {log['loss']:.3f})")
        model = trainer.ema.shadow.eval()
        clips = 0.1 * torch.randn(clip_count, 4, clip_samples, device=device)
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=not args.smoke):
            latents = model.encode(clips)
            model.decode(latents)
            for name, fn in (("encode", lambda: model.encode(clips)), ("decode", lambda: model.decode(latents))):
                synchronize()
                start = time.perf_counter()
                for _ in range(repeats):
                    fn()
                synchronize()
                per_batch = (time.perf_counter() - start) / repeats
                seconds = clip_samples / 16000
                print(f"{name}: {clip_count} x {seconds:g} s clips in {per_batch:.3f} s = {clip_count / per_batch:.1f} "
                      f"clips/s, {seconds * clip_count / per_batch:.0f}x real time ({precision})")


if __name__ == "__main__":
    main()
