"""GPU benchmark of the paper-size diffusion model (run by hand on one H100; ~2 minutes).

Prints
1. training throughput of the paper-size parametric model (DiT 1536 x 24, position
   conditioner, 128 text tokens of 768, 80 latent frames x 64 channels), AdamW, bf16
   autocast: latent tokens/s and model FLOPs utilisation (MFU) against the card's dense
   bf16 peak (H100 SXM 989 TFLOP/s; pass --peak-tflops for other cards);
2. latency of one 10 s generation: text encoding (MiniLM; T5 if --text-encoder names a
   local copy; random-t5-base for T5-base's compute without its weights), 50
   DPM-Solver++(2M) steps with guidance 7 (batch 2 per step), decoding with the paper-size
   SonicMotion autoencoder (random weights: same cost as a trained one) or --autoencoder RUN_DIR.

    PYTHONPATH=src python benchmarks/gpu_diffusion.py [--batch 64] [--compile]
"""

from __future__ import annotations

import argparse
import time

import torch

from sonicmotion.diffusion.config import DiffusionModelConfig, dit_config
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


def batch_inputs(config, batch: int, device):
    text = torch.randn(batch, TEXT_TOKENS, TEXT_DIM, device=device)
    mask = torch.ones(batch, TEXT_TOKENS, dtype=torch.bool, device=device)
    paths = [Trajectory.linear(90, 0, -90, 20, "cw", 1, 9)] * batch
    return condition_inputs(config, text, mask, FRAMES, paths, [0.0] * batch, [10.0] * batch, 2048)


def bench_training(config, batch: int, steps: int, peak: float, compile_model: bool) -> None:
    device = torch.device("cuda")
    model = ConditionedDiffusionModel(config, TEXT_DIM, CHANNELS).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.99), weight_decay=1e-3, fused=True)
    forward = torch.compile(model) if compile_model else model
    inputs = batch_inputs(config, batch, device)
    x0 = torch.randn(batch, CHANNELS, FRAMES, device=device)

    def step():
        t = torch.rand(batch, device=device)
        noise = torch.randn_like(x0)
        alpha, sigma = torch.cos(t * torch.pi / 2)[:, None, None], torch.sin(t * torch.pi / 2)[:, None, None]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            v = forward(alpha * x0 + sigma * noise, t, inputs)
        loss = torch.nn.functional.mse_loss(v.float(), alpha * noise - sigma * x0)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    context = 2 * TEXT_TOKENS + 2
    tokens = batch * FRAMES / seconds
    flops = dit_training_flops(config, FRAMES, context) * batch / seconds
    params = sum(p.numel() for p in model.parameters())
    print(f"training: {params / 1e6:.0f} M params, batch {batch} x {FRAMES} frames, bf16: {seconds * 1000:.0f} ms/step, "
          f"{tokens:,.0f} latent tokens/s, {batch / seconds:.1f} clips/s, DiT MFU {100 * flops / (peak * 1e12):.1f}% "
          f"(peak {peak:g} TFLOP/s; target >= 40%)", flush=True)
    print(f"  peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


def decoder(autoencoder: str | None):
    if autoencoder:
        from sonicmotion.models.pretransform import load_pretransform

        return load_pretransform(autoencoder)[0], f"autoencoder {autoencoder}"
    from sonicmotion.models.autoencoder import SpatialAutoencoder, load_autoencoder_config

    # Same compute as a trained one: the paper-size autoencoder with random weights.
    return SpatialAutoencoder(load_autoencoder_config("configs/autoencoder/paper.yaml")), \
        "paper-size SonicMotion autoencoder (random weights)"


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


def bench_generation(config, text_encoder: str, autoencoder: str | None, compile_model: bool) -> None:
    from sonicmotion.diffusion.objective import time_grid
    from sonicmotion.diffusion.sampling import guided_denoiser, sample_dpmpp_2m
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--text-encoder", default="minilm",
                        help="minilm, a local T5 folder, or random-t5-base (T5-base compute, random weights)")
    parser.add_argument("--autoencoder", default=None)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (slower start)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_diffusion.py needs a CUDA device")
    torch.backends.cuda.matmul.allow_tf32 = True
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    config = DiffusionModelConfig(variant="parametric", dit=dit_config("paper"))
    bench_training(config, args.batch, args.steps, args.peak_tflops, args.compile)
    torch.cuda.empty_cache()
    bench_generation(config, args.text_encoder, args.autoencoder, args.compile)


if __name__ == "__main__":
    main()
