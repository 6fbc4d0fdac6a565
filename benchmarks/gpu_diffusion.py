"""GPU benchmark of the paper-size diffusion model (run by hand on one H100; ~2 minutes).

Prints
1. the whole training step of the paper-size parametric model through the project's
   trainer (latent shards read by DataLoader workers, T5-base-sized text encoding, DiT
   1536 x 24 with the position conditioner, 80 latent frames x 64 channels, AdamW, bf16
   autocast, EMA on the device): latent tokens/s, model FLOPs utilisation (MFU) against the
   card's dense bf16 peak (H100 SXM 989 TFLOP/s; --peak-tflops for other cards), and the
   EMA update's share of the step;
2. latency of one 10 s generation: text encoding (MiniLM; T5 if --text-encoder names a
   local copy; random-t5-base for T5-base's compute without its weights), 50
   DPM-Solver++(2M) steps with guidance 7 (batch 2 per step), decoding with the paper-size
   SonicMotion autoencoder (random weights: same cost as a trained one) or --autoencoder RUN_DIR.

    PYTHONPATH=src python benchmarks/gpu_diffusion.py [--batch 64] [--compile]
    PYTHONPATH=src python benchmarks/gpu_diffusion.py --smoke   # seconds, no GPU (CI): imports, arguments, the
        paper config's FLOPs per sample and 4 latent shard samples written and read back; no model runs
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from sonicmotion.models.config import DiffusionModelConfig, dit_config
from sonicmotion.models.diffusion_model import ConditionedDiffusionModel, condition_inputs
from sonicmotion.spatial import Trajectory

FRAMES, CHANNELS, TEXT_TOKENS, TEXT_DIM = 80, 64, 128, 768


def dit_training_flops(config: DiffusionModelConfig, frames: int, context: int) -> float:
    """Matmul + attention FLOPs of one training sample (forward x 3) for the DiT."""
    d, cond, depth, hidden = config.dit.width, config.dit.cond_dim, config.dit.depth, config.dit.mlp_ratio * config.dit.width
    n = frames + 1
    per_layer = (
        2 * 4 * d * d * n  # self-attention qkv + out
        + 2 * 2 * d * d * n + 2 * 2 * cond * d * context  # cross-attention q + out, k v of the context
        + 2 * 3 * d * hidden * n  # gated MLP
        + 2 * 2 * n * n * d + 2 * 2 * n * context * d  # attention scores and weighted sums
    )
    return 3.0 * (depth * per_layer + 2 * 2 * CHANNELS * d * frames)


def write_latent_shards(folder: Path, samples: int, per_shard: int = 256) -> list[str]:
    """Random paper-shaped latents (64 x 80, float16) with captions and paths, as latent shards."""
    import numpy as np

    from sonicmotion.data.latents import write_latent_shard

    rng = np.random.default_rng(0)
    path = Trajectory.linear(90, 0, -90, 20, "cw", 1, 9).to_dict()
    urls = []
    for first in range(0, samples, per_shard):
        def items():
            for i in range(first, min(first + per_shard, samples)):
                meta = {"caption": f"a sound {i % 97}", "spatial_caption": f"a sound {i % 97} moving left to right",
                        "trajectory": path, "sample_rate": 16000, "num_samples": 160000,
                        "latent": {"downsampling_ratio": 2048, "latent_channels": CHANNELS, "num_samples": 160000}}
                yield f"s{i:07d}", rng.standard_normal((CHANNELS, FRAMES)).astype(np.float16), meta
        url = folder / "train" / f"train-{first // per_shard:06d}.tar"
        url.parent.mkdir(parents=True, exist_ok=True)
        write_latent_shard(url, items())
        urls.append(str(url))
    return urls


class RandomT5Base(torch.nn.Module):
    """T5-base's encoder shape with random weights and random token ids: the text encoder's
    compute without its 900 MB of weights (the GPU machine has no copy)."""

    def __init__(self, max_length: int = 128):
        super().__init__()
        from transformers import T5Config, T5EncoderModel

        self.model = T5EncoderModel(T5Config(d_model=768, d_ff=3072, d_kv=64, num_layers=12, num_heads=12,
                                             vocab_size=32128)).eval()
        self.dim, self.max_length = 768, max_length

    @torch.no_grad()
    def encode_uncached(self, prompts: list[str]):
        device = next(self.model.parameters()).device
        ids = torch.randint(0, 32000, (len(prompts), self.max_length), device=device)
        mask = torch.ones_like(ids)
        return self.model(input_ids=ids, attention_mask=mask).last_hidden_state.float(), mask.bool()

    def forward(self, prompts: list[str]):
        return self.encode_uncached(prompts)


def bench_training(config, batch: int, steps: int, peak: float, compile_model: bool, workers: int) -> None:
    """The whole training step of the project's trainer: latent shards read by DataLoader
    workers, T5-base-sized text encoding, forward, backward, AdamW, EMA on the device."""
    from dataclasses import replace

    from sonicmotion.training.diffusion import DiffusionTrainConfig, TrainingConfig
    from sonicmotion.models.autoencoder import SpatialAutoencoder, load_autoencoder_config
    from sonicmotion.training.diffusion import DiffusionTrainer
    from sonicmotion.data.latents import shard_dataset_factory
    from sonicmotion.models.pretransform import describe_pretransform

    training = TrainingConfig(global_batch_size=batch, mixed_precision="bf16", compile=compile_model,
                              checkpoint_every=10**9, log_every=10**9, num_workers=workers, max_steps=10**6)
    config = DiffusionTrainConfig(model=replace(config, text_encoder="random-t5-base"), training=training)
    pretransform = SpatialAutoencoder(load_autoencoder_config("configs/autoencoder/paper.yaml"))
    with tempfile.TemporaryDirectory() as work:
        urls = write_latent_shards(Path(work) / "latents", batch * (steps + 4))
        trainer = DiffusionTrainer(config, Path(work) / "run", shard_dataset_factory(urls, True, 0),
                                   text_encoder=RandomT5Base(), pretransform=pretransform,
                                   pretransform_info=describe_pretransform(pretransform, "random"), progress=False)
        data = iter(trainer.batches)
        for _ in range(3):
            trainer.train_step(next(data))
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(steps):
            loss = trainer.train_step(next(data))
        float(loss)
        seconds = (time.perf_counter() - start) / steps
        model = trainer.accelerator.unwrap_model(trainer.model)
        torch.cuda.synchronize()
        ema_start = time.perf_counter()
        for _ in range(10):
            trainer.ema.update(model)
        torch.cuda.synchronize()
        ema_seconds = (time.perf_counter() - ema_start) / 10
    context = 2 * TEXT_TOKENS + 2
    flops = dit_training_flops(config.model, FRAMES, context) * batch / seconds
    params = sum(p.numel() for p in model.parameters())
    print(f"training (whole step: shards -> T5-base-sized text -> forward/backward -> AdamW -> EMA): "
          f"{params / 1e6:.0f} M params, batch {batch} x {FRAMES} frames, bf16{', compiled' if compile_model else ''}: "
          f"{seconds * 1000:.0f} ms/step, {batch * FRAMES / seconds:,.0f} latent tokens/s, {batch / seconds:.1f} clips/s, "
          f"DiT MFU {100 * flops / (peak * 1e12):.1f}% (peak {peak:g} TFLOP/s; target >= 40%)", flush=True)
    print(f"  EMA update {ema_seconds * 1000:.1f} ms = {100 * ema_seconds / seconds:.1f}% of the step (target < 5%); "
          f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


def decoder(autoencoder: str | None):
    if autoencoder:
        from sonicmotion.models.pretransform import load_pretransform

        return load_pretransform(autoencoder)[0], f"autoencoder {autoencoder}"
    from sonicmotion.models.autoencoder import SpatialAutoencoder, load_autoencoder_config

    # Same compute as a trained one: the paper-size autoencoder with random weights.
    return SpatialAutoencoder(load_autoencoder_config("configs/autoencoder/paper.yaml")), \
        "paper-size SonicMotion autoencoder (random weights)"


def bench_generation(config, text_encoder: str, autoencoder: str | None, compile_model: bool) -> None:
    from sonicmotion.diffusion.objective import time_grid
    from sonicmotion.diffusion.sampling import sample_dpmpp_2m
    from sonicmotion.models.diffusion_model import guided_denoiser
    from sonicmotion.models.text import load_text_encoder

    device = torch.device("cuda")
    text = (RandomT5Base() if text_encoder == "random-t5-base" else load_text_encoder(text_encoder, 128)).to(device)
    config = DiffusionModelConfig(variant="parametric", dit=config.dit)
    model = ConditionedDiffusionModel(config, text.dim, CHANNELS).to(device).eval()
    runner = torch.compile(model, mode="reduce-overhead") if compile_model else model
    dec, dec_name = decoder(autoencoder)
    dec = dec.to(device).eval()
    path = Trajectory.linear(90, 0, -90, 20, "cw", 1, 9)

    def generate(prompt: str):
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            emb, mask = text.encode_uncached([prompt])
            inputs = condition_inputs(config, emb, mask, FRAMES, [path], [0.0], [10.0], 2048)
            noise = torch.randn(1, CHANNELS, FRAMES, device=device)
            latents = sample_dpmpp_2m(guided_denoiser(runner, inputs, 7.0), noise, time_grid(50))
            audio = dec.decode(latents.to(torch.bfloat16))[..., :160000]
        torch.cuda.synchronize()
        return audio

    for _ in range(2):
        generate("warm-up")
    times = []
    for i in range(5):
        start = time.perf_counter()
        audio = generate(f"a police siren passing from left to right {i}")
        times.append(time.perf_counter() - start)
    print(f"generation: 10 s FOA {tuple(audio.shape)}, 50 steps DPM-Solver++(2M), guidance 7, bf16, {dec_name}, "
          f"text {text_encoder}: median {sorted(times)[2]:.3f} s, best {min(times):.3f} s (target <= 0.5 s)")


def smoke() -> None:
    """What can rot without a GPU: the paper config, the FLOPs formula, the latent shards the trainer reads."""
    from sonicmotion.data.latents import LatentShardDataset

    config = DiffusionModelConfig(variant="parametric", dit=dit_config("paper"))
    flops = dit_training_flops(config, FRAMES, 2 * TEXT_TOKENS + 2)
    with tempfile.TemporaryDirectory() as work:
        urls = write_latent_shards(Path(work), 4, per_shard=2)
        read = list(LatentShardDataset(urls, shuffle=False, seed=0))
    assert len(read) == 4, len(read)
    print(f"smoke: paper DiT {flops / 1e12:.2f} TFLOP per training sample; {len(read)} latent samples written and "
          f"read back from {len(urls)} shards (no model runs without a GPU)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--text-encoder", default="minilm",
                        help="minilm, a local T5 folder, or random-t5-base (T5-base compute, random weights)")
    parser.add_argument("--autoencoder", default=None)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (slower start)")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers reading the latent shards")
    parser.add_argument("--smoke", action="store_true", help="seconds, no GPU (CI): imports, arguments, the FLOPs "
                        "formula and the latent shards this benchmark writes; no model runs")
    args = parser.parse_args()
    if args.smoke:
        smoke()
        return
    if not torch.cuda.is_available():
        raise SystemExit("gpu_diffusion.py needs a CUDA device")
    torch.backends.cuda.matmul.allow_tf32 = True
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    config = DiffusionModelConfig(variant="parametric", dit=dit_config("paper"))
    bench_training(config, args.batch, args.steps, args.peak_tflops, args.compile, args.workers)
    torch.cuda.empty_cache()
    bench_generation(config, args.text_encoder, args.autoencoder, args.compile)


if __name__ == "__main__":
    main()
