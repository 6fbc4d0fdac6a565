"""Paper-size autoencoder on this CPU: training-step time vs diffusers, and real-time factors.

1. Forward + backward of the paper-size model (156 M parameters) on a batch of one 2 s
   four-channel crop at 16 kHz, ours vs diffusers' ``AutoencoderOobleck`` of the same size
   with the same weights, measured alternately in the same run; ratio ours / diffusers
   (target <= 1.0). The loss is the mean square of the output for both.
2. Encode and decode real-time factor (seconds of compute per second of audio) for one
   10 s clip, ours and diffusers.

Times are CPU seconds of this process (``time.process_time``) with one torch thread by
default, so other load on a shared machine does not enter the figures.

Usage: PYTHONPATH=src python benchmarks/bench_autoencoder.py [--repeats 3] [--threads N]
       PYTHONPATH=src python benchmarks/bench_autoencoder.py --smoke   # seconds (CI): a 3-level, 8-channel model
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def timed(fn, repeats: int) -> list[float]:
    """CPU seconds of this process per call. On a shared machine wall time mostly measures
    the other users; with one thread, process CPU time measures our work."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: CPU time = work)")
    parser.add_argument("--crop-seconds", type=float, default=2.0)
    parser.add_argument("--skip-rtf", action="store_true", help="only the training-step comparison")
    parser.add_argument("--smoke", action="store_true", help="run in seconds (CI): a 3-level, 8-channel model, "
                        "0.25 s crops, one repeat, a 1 s clip")
    args = parser.parse_args()
    if args.smoke:
        args.repeats, args.crop_seconds = 1, 0.25
    torch.set_num_threads(args.threads)

    from diffusers import AutoencoderOobleck

    from sonicmotion.models.autoencoder import AutoencoderConfig, SpatialAutoencoder
    from sonicmotion.models.interop import config_from_diffusers_state_dict, load_diffusers_state_dict

    torch.manual_seed(0)
    if args.smoke:
        reference = AutoencoderOobleck(encoder_hidden_size=8, downsampling_ratios=[2, 4, 4], channel_multiples=[1, 2, 2],
                                       decoder_channels=8, decoder_input_channels=4, audio_channels=4,
                                       sampling_rate=16000)
        config = config_from_diffusers_state_dict(reference.state_dict(), 16000)
    else:
        config = AutoencoderConfig()  # the paper size
        reference = AutoencoderOobleck(audio_channels=4, sampling_rate=16000)
    ours = load_diffusers_state_dict(SpatialAutoencoder(config), reference.state_dict())
    print(f"{'smoke-size' if args.smoke else 'paper-size'} autoencoder: {ours.num_parameters():,} parameters (diffusers: "
          f"{sum(p.numel() for p in reference.parameters()):,}); torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)")

    audio = 0.1 * torch.randn(1, 4, int(16000 * args.crop_seconds))

    def step_ours():
        ours.zero_grad(set_to_none=True)
        ours(audio, sample=False).reconstruction.square().mean().backward()

    def step_diffusers():
        reference.zero_grad(set_to_none=True)
        reference(audio).sample.square().mean().backward()

    ours.train(), reference.train()
    step_ours(), step_diffusers()  # warm-up (allocator, oneDNN kernels)
    t_ours, t_ref = [], []
    for _ in range(args.repeats):  # alternate so machine load hits both alike
        t_ours += timed(step_ours, 1)
        t_ref += timed(step_diffusers, 1)
    m_ours, m_ref = statistics.median(t_ours), statistics.median(t_ref)
    print(f"train step fwd+bwd, batch 1 x {args.crop_seconds:g} s x 4 ch: ours {m_ours:.2f} s, "
          f"diffusers {m_ref:.2f} s (CPU s, medians of {args.repeats}); ratio ours/diffusers {m_ours / m_ref:.3f} "
          f"(of the fastest runs: {min(t_ours) / min(t_ref):.3f})")
    print(f"  ours {[round(t, 2) for t in t_ours]}  diffusers {[round(t, 2) for t in t_ref]}")

    if args.skip_rtf:
        return
    ours.eval(), reference.eval()
    seconds = 1 if args.smoke else 10
    clip = 0.1 * torch.randn(1, 4, 16_000 * seconds)
    with torch.no_grad():
        latents = ours.encode(clip)
        enc = statistics.median(timed(lambda: ours.encode(clip), args.repeats))
        dec = statistics.median(timed(lambda: ours.decode(latents, clip.shape[-1]), args.repeats))
        enc_ref = statistics.median(timed(lambda: reference.encode(clip), args.repeats))
        dec_ref = statistics.median(timed(lambda: reference.decode(latents), args.repeats))
    print(f"{seconds} s clip real-time factor (CPU s / audio s): encode ours {enc / seconds:.3f} "
          f"(diffusers {enc_ref / seconds:.3f}), decode ours {dec / seconds:.3f} (diffusers {dec_ref / seconds:.3f}); "
          f"latents {tuple(latents.shape)}")


if __name__ == "__main__":
    main()
