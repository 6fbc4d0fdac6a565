"""Diffusion benchmarks on this machine (CPU).

1. Training step of the paper-size DiT (1536 wide, 24 layers, 24 heads; batch 1, 80 latent
   frames x 64 channels, 258 conditioning tokens of 768 = text 128 + position 128 + timing 2):
   ours vs diffusers' StableAudioDiTModel of the same size, same inputs, same run.
   A "step" is forward + backward + an in-place SGD update (AdamW's 8 GB of moments per
   model are left out so both fit in memory; they cost the same for both).
2. Generation of 10 s (80 latent frames) at 50 DPM-Solver++(2M) steps with guidance 7
   (two DiT passes per step) for the tiny and small configs, parametric, MiniLM text;
   decoding excluded (no trained autoencoder is needed for this figure).

    PYTHONPATH=src python benchmarks/bench_diffusion.py [--skip-paper] [--repeats 2]
    PYTHONPATH=src python benchmarks/bench_diffusion.py --smoke   # seconds (CI): both DiTs 64 wide x 2 layers,
                                                                  # the tiny config's generation at 2 steps
"""

from __future__ import annotations

import argparse
import gc
import time
from dataclasses import replace

import torch

from sonicmotion.models.config import DiffusionModelConfig, dit_config
from sonicmotion.models.diffusion_model import ConditionedDiffusionModel
from sonicmotion.models.dit import DiffusionTransformer

FRAMES, CHANNELS, CONTEXT, COND = 80, 64, 258, 768
# The DiT both sides build: the paper's, or (--smoke) 64 wide with 2 layers of 2 heads of 32.
SIZE = {"width": 1536, "depth": 24, "heads": 24}


def timed(step, repeats: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def sgd_step(model: torch.nn.Module, loss: torch.Tensor) -> None:
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p.add_(p.grad, alpha=-1e-6)
                p.grad = None


def bench_ours(repeats: int) -> tuple[float, int]:
    torch.manual_seed(0)
    model = DiffusionTransformer(replace(dit_config("paper"), **SIZE), CHANNELS, COND)
    x, t = torch.randn(1, CHANNELS, FRAMES), torch.rand(1)
    glob, context = torch.randn(1, COND), torch.randn(1, CONTEXT, COND)
    mask = torch.ones(1, CONTEXT, dtype=torch.bool)
    target = torch.randn(1, CHANNELS, FRAMES)
    params = sum(p.numel() for p in model.parameters())

    def step():
        sgd_step(model, torch.nn.functional.mse_loss(model(x, t, glob, context, mask), target))

    seconds = timed(step, repeats)
    model = None  # free it before the next model is built
    gc.collect()
    return seconds, params


def bench_diffusers(repeats: int) -> tuple[float, int]:
    from diffusers import StableAudioDiTModel
    from diffusers.models.embeddings import get_1d_rotary_pos_embed

    torch.manual_seed(0)
    model = StableAudioDiTModel(
        sample_size=FRAMES, in_channels=CHANNELS, num_layers=SIZE["depth"],
        attention_head_dim=SIZE["width"] // SIZE["heads"], num_attention_heads=SIZE["heads"],
        num_key_value_attention_heads=SIZE["heads"], out_channels=CHANNELS, cross_attention_dim=COND,
        time_proj_dim=256, global_states_input_dim=SIZE["width"], cross_attention_input_dim=COND,
    )
    x, t = torch.randn(1, CHANNELS, FRAMES), torch.rand(1) * 1000
    context, glob = torch.randn(1, CONTEXT, COND), torch.randn(1, 1, SIZE["width"])
    rotary = get_1d_rotary_pos_embed(SIZE["width"] // SIZE["heads"] // 2, FRAMES + 1, use_real=True, repeat_interleave_real=False)
    target = torch.randn(1, CHANNELS, FRAMES)
    params = sum(p.numel() for p in model.parameters())

    def step():
        out = model(x, t, encoder_hidden_states=context, global_hidden_states=glob, rotary_embedding=rotary,
                    return_dict=False)[0]
        sgd_step(model, torch.nn.functional.mse_loss(out, target))

    seconds = timed(step, repeats)
    model = None  # free it before the next model is built
    gc.collect()
    return seconds, params


def bench_generation(size: str, steps: int = 50, guidance: float = 7.0) -> tuple[float, int]:
    from sonicmotion.diffusion.objective import time_grid
    from sonicmotion.diffusion.sampling import sample_dpmpp_2m
    from sonicmotion.models.diffusion_model import condition_inputs, guided_denoiser
    from sonicmotion.models.text import load_text_encoder
    from sonicmotion.spatial import Trajectory

    torch.manual_seed(0)
    config = DiffusionModelConfig(variant="parametric", dit=dit_config(size))
    text = load_text_encoder(config.text_encoder, config.text_max_length)
    model = ConditionedDiffusionModel(config, text.dim, CHANNELS).eval()
    path = Trajectory.linear(90, 0, -90, 20, "cw", 1, 9)
    def generate(n_steps: int) -> float:
        start = time.perf_counter()
        with torch.no_grad():
            emb, mask = text.encode_uncached(["a police siren passing from left to right"])
            inputs = condition_inputs(config, emb, mask, FRAMES, [path], [0.0], [10.0], 2048)
            noise = torch.randn(1, CHANNELS, FRAMES, generator=torch.Generator().manual_seed(0))
            sample_dpmpp_2m(guided_denoiser(model, inputs, guidance), noise, time_grid(n_steps))
        return time.perf_counter() - start

    generate(2)  # warm-up
    return generate(steps), sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--skip-paper", action="store_true", help="skip the paper-size training comparison")
    parser.add_argument("--skip-generation", action="store_true", help="skip the tiny / small generation timings")
    parser.add_argument("--smoke", action="store_true", help="run in seconds (CI): both DiTs 64 wide x 2 layers, "
                        "one repeat; the tiny config's generation at 2 steps")
    args = parser.parse_args()
    if args.smoke:
        SIZE.update(width=64, depth=2, heads=2)
        args.repeats = 1
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if not args.skip_paper:
        ours, n_ours = bench_ours(args.repeats)
        print(f"{'smoke-size' if args.smoke else 'paper'} DiT training step (batch 1, {FRAMES} frames, {CONTEXT} context tokens): ours {ours:.2f} s "
              f"({n_ours / 1e6:.0f} M params)", flush=True)
        ref, n_ref = bench_diffusers(args.repeats)
        print(f"  diffusers StableAudioDiTModel same size: {ref:.2f} s ({n_ref / 1e6:.0f} M params)")
        print(f"  ratio ours / diffusers: {ours / ref:.2f} (target <= 1.0)", flush=True)
    steps = 2 if args.smoke else 50
    for size in () if args.skip_generation else ("tiny",) if args.smoke else ("tiny", "small"):
        seconds, n = bench_generation(size, steps)
        print(f"generate 10 s FOA latents, {steps} steps DPM-Solver++(2M), guidance 7, {size} "
              f"({n / 1e6:.1f} M params incl. conditioners): {seconds:.2f} s (decoding excluded)", flush=True)


if __name__ == "__main__":
    main()
