"""The paper's 4-channel latent against the parametric latent, trained for the same CPU time.

0. analysis and synthesis of one 10 s clip (moving path, 2048-sample frames, 1 and 4 bands):
   CPU milliseconds and the round trip's frame Δangle;

On the demo's synthetic dataset (built here in a temporary folder unless --data is given):

1. the tiny 4-channel autoencoder (``configs/autoencoder/tiny.yaml``) and the tiny parametric
   transport codec (``parametric-tiny.yaml``) are each trained for ``--seconds`` of CPU time
   (this process, one torch thread); Table 3 on the test split (8 clips): STFT and MEL on all
   channels and on W alone, frame Δangle; steps/s;
2. a tiny SM-P (``configs/diffusion/parametric-tiny.yaml``, original captions throughout) trained
   on each latent (train split encoded once) for ``--diffusion-seconds`` of CPU time, then the
   test prompts generated with the path given (and, on the parametric latent, pinned): frame
   Δangle, static and moving. The same CPU time, not the same steps: the tiny 4-channel
   autoencoder's ratio of 64 gives 2,512 latent frames per 10 s clip where the parametric
   codec's 256 gives 640, so one step costs several times more on it.

Usage: PYTHONPATH=src python benchmarks/bench_parametric.py [--seconds 60] [--diffusion-seconds 240]
       PYTHONPATH=src python benchmarks/bench_parametric.py --smoke   # seconds (CI): the round trip of a 2 s
           clip in 1 band, then 0 and 1 above on 4 synthetic 1 s clips with 0.5 CPU s each; no SM-P (2)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def build_dataset(root: Path) -> Path:
    from dataclasses import replace

    from sonicmotion.demo import FULL, Demo

    demo = Demo(root, replace(FULL, takes=14), REPO / "configs")
    for name, stage in [("corpus", demo.corpus), ("dataset", demo.build_dataset), ("prompts", demo.prompts)]:
        demo.stage(name, stage)
    return root


def train_for(config_name: str, data: Path, run: Path, seconds: float) -> tuple[int, float]:
    """Train an autoencoder for ``seconds`` of this process's CPU time; returns (steps, steps/s)."""
    from sonicmotion.training.autoencoder import AutoencoderRunConfig, AutoencoderTrainer, override_training, shard_epochs

    config = override_training(AutoencoderRunConfig.from_yaml(REPO / "configs" / "autoencoder" / config_name),
                               max_steps=10**6, num_workers=0)
    trainer = AutoencoderTrainer(config, run, shard_epochs([str(p) for p in sorted((data / "train").glob("*.tar"))],
                                                           config.training), progress=False)
    batches = trainer.steps()
    start = time.process_time()
    while time.process_time() - start < seconds:
        trainer.train_step(next(batches))
        trainer.step += 1
    used = time.process_time() - start
    trainer.save_checkpoint()
    return trainer.step, trainer.step / used


def table3(run: Path, data: Path) -> dict:
    from sonicmotion.evaluation.autoencoder import evaluate_autoencoder
    from sonicmotion.models.pretransform import load_pretransform
    from sonicmotion.data.loader import FoaShardDataset

    model, _ = load_pretransform(run)
    samples = FoaShardDataset([str(p) for p in sorted((data / "test").glob("*.tar"))], crop_seconds=None)
    m = evaluate_autoencoder(model, samples, limit=8, progress=False)
    return {"stft": m.stft, "mel": m.mel, "stft_w": m.stft_w, "mel_w": m.mel_w,
            "delta_angle": m.spatial["frame"].delta_angle}


def sm_p(autoencoder: Path, root: Path, seconds: float, work: Path) -> dict:
    """Train a tiny SM-P on the autoencoder's latents for ``seconds`` of CPU time; frame Δangle of the test prompts."""
    from sonicmotion.cli import main
    from sonicmotion.training.diffusion import load_train_config
    from sonicmotion.models.pretransform import load_pretransform
    from sonicmotion.models.text import load_text_encoder
    from sonicmotion.pipeline import SonicMotionPipeline
    from sonicmotion.spatial import Trajectory, spatial_errors
    from sonicmotion.training.diffusion import DiffusionTrainer
    from sonicmotion.data.latents import shard_dataset_factory
    from sonicmotion.data.shards import find_shards

    work.mkdir(parents=True, exist_ok=True)
    latents, model = work / "latents", work / "sm-p"
    assert main(["encode-latents", "--autoencoder", str(autoencoder), "--data", str(root / "dataset"),
                 "--splits", "train", "--out", str(latents), "--quiet"]) == 0
    pretransform, info = load_pretransform(autoencoder)
    config = load_train_config(REPO / "configs/diffusion/parametric-tiny.yaml", {
        "model.pretransform": info.path, "training.max_steps": 10**6, "training.checkpoint_every": 10**9})
    text = load_text_encoder(config.model.text_encoder, config.model.text_max_length)
    data = shard_dataset_factory([str(p) for p in find_shards(latents, "train")], True, config.training.seed)
    trainer = DiffusionTrainer(config, model, data, text, pretransform, info, progress=False)
    steps, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        steps += 10
        trainer.fit(max_steps=steps)
    trainer.save_checkpoint()
    train_seconds = time.process_time() - start
    pipe = SonicMotionPipeline.from_pretrained(model, text_encoder=text)
    rows = [json.loads(line) for line in (root / "prompts.jsonl").read_text().splitlines()]
    paths = [Trajectory.from_dict(r["trajectory"]) for r in rows]
    result = {"steps": steps, "train_cpu_seconds": round(train_seconds, 1)}
    for pin in ([False, True] if pipe.can_pin_path else [False]):
        clips = pipe([r["prompt"] for r in rows], paths, steps=30, guidance=3.0, seed=0, pin_path=pin)
        errors = {"static": [], "moving": []}
        for clip, path in zip(clips, paths):
            errors["static" if path.is_static else "moving"].append(spatial_errors(clip.samples, path, 16000).delta_angle)
        result["pinned" if pin else "generated"] = {k: round(float(np.mean(v)), 2) for k, v in errors.items()}
    return result


def round_trip_figures(seconds: float = 10.0, bands_list=(1, 4), repeats: int = 5) -> None:
    from sonicmotion.data.synth import dog_bark
    from sonicmotion.spatial import Trajectory, encode_foa, spatial_errors
    from sonicmotion.spatial.parametric import analyze_parametric, synthesize_parametric

    path = Trajectory.linear(90, 10, 45, -20, "ccw", 0.3 * seconds, 0.4 * seconds)  # 315° in 0.1 of the clip
    foa = encode_foa(dog_bark(seconds, 16000, 2), 16000, path)
    for bands in bands_list:
        times = []
        for _ in range(repeats):
            start = time.process_time()
            params = analyze_parametric(foa, 16000, 2048, bands)
            middle = time.process_time()
            out = synthesize_parametric(foa[0], params, 16000)
            times.append((middle - start, time.process_time() - middle))
        analysis, synthesis = (1000 * min(t[i] for t in times) for i in (0, 1))
        print(f"round trip of a {seconds:g} s clip, {bands} band(s): analysis {analysis:.0f} ms, synthesis "
              f"{synthesis:.0f} ms, frame Δangle {spatial_errors(out, path, 16000).delta_angle:.2f}° "
              f"(315° in {0.1 * seconds:g} s)", flush=True)


def smoke() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gpu_autoencoder import write_foa_shards

    round_trip_figures(2.0, (1,), 1)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "dataset"
        for split in ("train", "test"):
            write_foa_shards(data, 4, split=split, num_samples=16_000)
        for name, config in [("4-channel", "tiny.yaml"), ("parametric", "parametric-tiny.yaml")]:
            steps, rate = train_for(config, data, Path(tmp) / name, 0.5)
            row = table3(Path(tmp) / name, data)
            print(f"{name:10s} autoencoder (smoke): {steps} steps ({rate:.2f}/s); STFT {row['stft']:.3f}, "
                  f"frame Δangle {row['delta_angle']:.2f}°", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="CPU seconds of autoencoder training each")
    parser.add_argument("--diffusion-seconds", type=float, default=240.0, help="CPU seconds of SM-P training each")
    parser.add_argument("--data", help="a demo output folder (dataset/ and prompts.jsonl); default: build one")
    parser.add_argument("--smoke", action="store_true", help="run in seconds (CI): a 2 s round trip in 1 band, "
                        "both autoencoders 0.5 CPU s on 4 synthetic 1 s clips; no SM-P")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.smoke:
        smoke()
        return
    round_trip_figures()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = Path(args.data) if args.data else build_dataset(tmp / "demo")
        data = root / "dataset"
        print(f"dataset {data}: {len(list((data / 'train').glob('*.tar')))} train shard(s); torch "
              f"{torch.__version__}, 1 thread; {args.seconds:g} CPU s of autoencoder training each")
        results = {}
        for name, config in [("4-channel", "tiny.yaml"), ("parametric", "parametric-tiny.yaml")]:
            run = tmp / name
            steps, rate = train_for(config, data, run, args.seconds)
            results[name] = {"steps": steps, "steps_per_second": round(rate, 2), **table3(run, data)}
            print(f"{name:10s} autoencoder: {steps} steps ({rate:.2f}/s); Table 3 (8 test clips): "
                  f"STFT {results[name]['stft']:.3f}, MEL {results[name]['mel']:.3f}, W alone "
                  f"{results[name]['stft_w']:.3f} / {results[name]['mel_w']:.3f}, frame Δangle "
                  f"{results[name]['delta_angle']:.2f}°", flush=True)
        for name in results:
            results[name]["sm_p"] = sm_p(tmp / name, root, args.diffusion_seconds, tmp / f"{name}-diffusion")
            trained = results[name]["sm_p"]
            print(f"{name:10s} SM-P ({trained['steps']} steps in {trained['train_cpu_seconds']} CPU s): frame Δangle "
                  + "; ".join(f"{k} {v}" for k, v in trained.items() if isinstance(v, dict)), flush=True)
        a, b = results["4-channel"], results["parametric"]
        print(f"ratio parametric / 4-channel: Table 3 Δangle {b['delta_angle'] / a['delta_angle']:.3f}, "
              f"W STFT {b['stft_w'] / a['stft_w']:.2f}, W MEL {b['mel_w'] / a['mel_w']:.2f}")
        print(json.dumps(results))


if __name__ == "__main__":
    main()
