"""Distance rows in SM-P's state matrix (``position.distance_bins``): does a tiny SM-P with them
follow a path's distance better than the same model without? (issue 28 item 5)

On the distance test samples (approach / recede / pass-by) of a ``--motions paper+distance``
dataset built from the synthetic corpus, how the generated W level follows the requested level
change 20 log10(r0 / r(t)) frame by frame: per clip the Pearson r, the slope (generated dB per
requested dB; 1 = the right amount) and the RMS error. The reference, measured in the same run,
is the test FOA itself (the sounds' own level changes limit it) and the model without the rows.

Both models: configs parametric-distance-tiny / parametric-tiny (identical but for the 15
distance rows), pretransform parametric:patch:512:4, the same seed, steps and global batch 8;
prompts are the samples' original captions (no words about distance), guidance 2 (--guidance),
20 DPM-Solver++ steps, direction generated (not pinned). Each stage is skipped when its output
exists in --out, and --resume continues both trainings to a larger --steps.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_distance_rows.py --out OUT [--steps 250] \
        [--resume] [--guidance 2] [--tag NAME]
    python benchmarks/bench_distance_rows.py --smoke   # seconds: 2 training steps, 3 clips, 2 sampling steps
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

PRETRANSFORM = "parametric:patch:512:4"
FRAME_SECONDS = 0.25  # level frames: 40 over a 10 s clip
GATE_DB = 50.0
DISTANCE_KINDS = ("approach", "recede", "pass")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def data(out: Path, takes: int = 7, limit: int | None = None) -> None:
    from sonicmotion.data.builder import BuildConfig, build_from_corpora
    from sonicmotion.data.synth import CLOTHO_SPLITS, write_clotho_corpus
    from sonicmotion.training.workflows import encode_latents

    if not (out / "dataset" / "index.parquet").exists():
        corpus = out / "corpus"
        write_clotho_corpus(corpus, takes=takes, held_out=2)  # 7 takes: 4 train, 1 validation, 2 test per kind
        specs = [f"clotho:{corpus / f'clotho_captions_{s}.csv'}:{corpus / s}" for s in CLOTHO_SPLITS]
        build_from_corpora(specs, out / "dataset", BuildConfig(seed=0, workers=1, store="foa", motions="paper+distance",
                                                                  limit=limit, plots=False, progress=False))
    if not (out / "latents").exists():
        encode_latents(PRETRANSFORM, [str(out / "dataset")], out / "latents", splits=["train"], progress=False)


def train(out: Path, config: str, name: str, steps: int, resume: bool) -> None:
    """Train ``name`` for ``steps`` steps (``resume``: continue an earlier run up to ``steps``)."""
    from sonicmotion.training.workflows import train_diffusion

    if (out / name / "model").exists() and not resume:
        return
    overrides = {"training.max_steps": steps, "training.global_batch_size": 8, "training.checkpoint_every": 250,
                 "training.seed": 0}
    train_diffusion(config, PRETRANSFORM, out / "latents", out / name, overrides, progress=False, resume=resume)


def test_samples(out: Path) -> list[tuple[dict, np.ndarray]]:
    """(metadata, FuMa FOA) of every distance sample of the test split."""
    from sonicmotion.data.shards import decode_sample_foa, find_shards, read_shard

    samples = []
    for shard in find_shards(out / "dataset", "test"):
        for key, group in read_shard(shard):
            meta = json.loads(group["json"])
            if meta["motion"] in DISTANCE_KINDS:
                samples.append((key, meta, decode_sample_foa(group, meta, name=key)))
    return [(meta, foa) for _, meta, foa in sorted(samples, key=lambda s: s[0])]


def level_follow(w: np.ndarray, trajectory, rate: int) -> tuple[float, float, float]:
    """(Pearson r, RMS error dB, slope) between the W level per frame and -20 log10 r(t),
    each centred on its clip mean over the active frames (the absolute level is the sound's,
    not the path's)."""
    hop = int(FRAME_SECONDS * rate)
    frames = len(w) // hop
    level = 10 * np.log10(np.mean(w[: frames * hop].reshape(frames, hop) ** 2, axis=1) + 1e-20)
    wanted = -20 * np.log10(trajectory.distances((np.arange(frames) + 0.5) * FRAME_SECONDS))
    # Frames more than GATE_DB below the clip's loudest are the sound's own pauses (a bell's decay,
    # gaps between barks), not distance (1-60 m is at most 36 dB): left out.
    active = level > level.max() - GATE_DB
    level, wanted = level[active] - level[active].mean(), wanted[active] - wanted[active].mean()
    corr = float(np.corrcoef(level, wanted)[0, 1]) if level.std() > 0 and wanted.std() > 0 else 0.0
    slope = float(level @ wanted / (wanted @ wanted)) if wanted.std() > 0 else 0.0
    return corr, float(np.sqrt(np.mean((level - wanted) ** 2))), slope


def measure(out: Path, tag: str = "", guidance: float = 2.0, clips: int | None = None,
            sampling_steps: int = 20) -> dict:
    from sonicmotion.generation import GenerationRequest
    from sonicmotion.pipeline import load_pipeline
    from sonicmotion.spatial import Trajectory

    samples = test_samples(out)[:clips]
    paths = [Trajectory.from_dict(meta["trajectory"]) for meta, _ in samples]
    rows = {"data (the test FOA itself)": [level_follow(foa[0], p, 16000) for (_, foa), p in zip(samples, paths)]}
    requests = [GenerationRequest(meta["caption"], 10.0, path, seed=i) for i, ((meta, _), path) in
                enumerate(zip(samples, paths))]
    for name in ("sm-p-distance", "sm-p-plain"):
        pipe = load_pipeline(out / name / "model", device="cpu")
        pipe = pipe.with_sampling(steps=sampling_steps, guidance=guidance, batch_size=8)
        clips = pipe.generate(requests)
        rows[name] = [level_follow(c.audio.samples[0], p, c.audio.sample_rate) for c, p in zip(clips, paths)]
    flat = [float(np.std(-20 * np.log10(p.distances((np.arange(40) + 0.5) * FRAME_SECONDS)))) for p in paths]
    summary = {"clips": len(samples), "kinds": {k: sum(m["motion"] == k for m, _ in samples) for k in DISTANCE_KINDS},
               "constant level RMS error dB": round(float(np.sqrt(np.mean(np.square(flat)))), 2)}
    for name, values in rows.items():
        corr, rmse, slope = np.array(values).T
        summary[name] = {"mean r": round(float(corr.mean()), 3), "median r": round(float(np.median(corr)), 3),
                         "RMS error dB": round(float(np.sqrt(np.mean(rmse ** 2))), 2),
                         "mean slope": round(float(slope.mean()), 3)}
        by_kind = {}
        for kind in DISTANCE_KINDS:
            mask = np.array([m["motion"] == kind for m, _ in samples])
            by_kind[kind] = round(float(corr[mask].mean()), 3)
        summary[name]["mean r by kind"] = by_kind
    (out / f"summary{'-' + tag if tag else ''}.json").write_text(json.dumps(summary, indent=2))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="run folder (kept: stages done are skipped)")
    parser.add_argument("--steps", type=int, default=250, help="training steps of each model (default 250)")
    parser.add_argument("--resume", action="store_true", help="continue both trainings to --steps")
    parser.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance (default 2)")
    parser.add_argument("--tag", default="", help="a name for this measurement's summary-TAG.json")
    parser.add_argument("--smoke", action="store_true", help="seconds: the smallest corpus, 2 steps, 3 clips")
    args = parser.parse_args()
    if args.smoke:
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp), steps=2, takes=4, limit=2, clips=3, sampling_steps=2)
        return
    if args.out is None:
        parser.error("--out is required (or --smoke)")
    run(args.out, args.steps, resume=args.resume, guidance=args.guidance, tag=args.tag)


def run(out: Path, steps: int, resume: bool = False, guidance: float = 2.0, tag: str = "", takes: int = 7,
        limit: int | None = None, clips: int | None = None, sampling_steps: int = 20) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data(out, takes, limit)
    train(out, "parametric-distance-tiny", "sm-p-distance", steps, resume)
    train(out, "parametric-tiny", "sm-p-plain", steps, resume)
    summary = measure(out, tag, guidance, clips, sampling_steps)
    print(json.dumps(summary, indent=2))
    with_rows, without = summary["sm-p-distance"]["mean r"], summary["sm-p-plain"]["mean r"]
    ceiling = summary["data (the test FOA itself)"]["mean r"]
    print(f"level follows distance, mean r over {summary['clips']} clips: with rows {with_rows:.3f}, "
          f"without {without:.3f}, the test audio itself {ceiling:.3f} (ratio with/ceiling {with_rows / ceiling:.2f})")


if __name__ == "__main__":
    main()
