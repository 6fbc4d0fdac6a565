"""GPU figures for the paper-size spatial autoencoder (one CUDA device, about 2-3 minutes).

Prints: training samples/s (2 s four-channel crops) at batch 32 in bf16 autocast with the
full step (generator, discriminator, Eq. 2 + spatial loss, EMA), the peak GPU memory of
that step, and encode / decode throughput on 10 s clips (clips/s and x real time).

Usage: PYTHONPATH=src python benchmarks/gpu_autoencoder.py [--batch-size 32] [--steps 20]
       [--gradient-checkpointing]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps (after 3 warm-up steps)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--config", default="configs/autoencoder/paper.yaml")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("this benchmark needs a CUDA device")
    torch.backends.cudnn.benchmark = True

    from sonicmotion.training.autoencoder import AutoencoderRunConfig, AutoencoderTrainer, override_training

    config = override_training(AutoencoderRunConfig.from_yaml(args.config), batch_size=args.batch_size,
                               mixed_precision="bf16")
    config = replace(config, loss=replace(config.loss, adversarial_warmup_steps=0),
                     model=replace(config.model, gradient_checkpointing=args.gradient_checkpointing))
    device = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    crop = int(config.training.crop_seconds * config.model.sample_rate)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = AutoencoderTrainer(config, run_dir, ["-"], progress=False)
        audio = 0.1 * torch.randn(args.batch_size, 4, crop, device=device)
        for _ in range(3):
            trainer.train_step(audio)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(args.steps):
            log = trainer.train_step(audio)
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated() / 2**30
        print(f"train: batch {args.batch_size} x {config.training.crop_seconds:g} s, bf16, generator + "
              f"discriminator{' + grad checkpointing' if args.gradient_checkpointing else ''}: "
              f"{args.steps * args.batch_size / elapsed:.1f} samples/s, {elapsed / args.steps:.3f} s/step, "
              f"peak memory {peak:.1f} GiB (loss {log['loss']:.3f})")
        model = trainer.ema.shadow.eval()
        clips = 0.1 * torch.randn(16, 4, 160_000, device=device)
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            latents = model.encode(clips)
            model.decode(latents)
            for name, fn in (("encode", lambda: model.encode(clips)), ("decode", lambda: model.decode(latents))):
                torch.cuda.synchronize()
                start = time.perf_counter()
                for _ in range(5):
                    fn()
                torch.cuda.synchronize()
                per_batch = (time.perf_counter() - start) / 5
                print(f"{name}: 16 x 10 s clips in {per_batch:.3f} s = {16 / per_batch:.1f} clips/s, "
                      f"{160 / per_batch:.0f}x real time (bf16)")


if __name__ == "__main__":
    main()
