"""Dataset build throughput: output samples per second per core, vs a one-clip-at-a-time reference.

Sources are 44.1 kHz stereo 16-bit WAVs of real-world length (half AudioCaps-like 10 s,
half Clotho-like 15-30 s, some with leading silence). Both pipelines produce the same
kind of output (two 4-channel 16 kHz 24-bit FLAC samples per source in tar shards):

- reference: what a straightforward script does: read the whole file, downmix,
  resample all of it, trim, loop/cut, then per sample encode, ``write_foa`` a FLAC file
  (default settings) and add that file to a tar;
- builder: ``sonicmotion dataset build`` (streaming decode of only the needed 10 s,
  integer FLAC at level 0, members written straight into the shard), one worker.

Both run alternately in one process, after a warm-up, for ``--rounds`` rounds: per core
is output samples per CPU-second (user + system), and each round compares the two under
the same load of a shared machine. Each pipeline then runs once in a process of its own
for its peak RSS. Prints samples/s/core, the ratio, per-step CPU costs and the
extrapolated time for the paper's 1,025,548 samples.

    python benchmarks/bench_dataset.py [--sources 60] [--rounds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

PAPER_SAMPLES = 1_025_548


def make_sources(folder: Path, count: int) -> Path:
    """``count`` 44.1 kHz stereo WAVs plus a Clotho-format captions CSV; returns the CSV."""
    from sonicmotion.data.synth import noise_bursts, siren

    audio = folder / "audio"
    audio.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = ["file_name,caption_1,caption_2,caption_3,caption_4,caption_5"]
    for i in range(count):
        seconds = 10.0 if i % 2 else float(rng.uniform(15.0, 30.0))
        make = siren if i % 3 else noise_bursts
        sound = make(seconds, 44100, seed=i)
        lead = np.zeros(int(rng.uniform(0.0, 1.0) * 44100), np.float32) if i % 4 == 0 else np.zeros(0, np.float32)
        mono = np.concatenate([lead, sound])
        stereo = np.stack([mono, np.roll(mono, 7) * 0.8], axis=1)
        sf.write(audio / f"clip{i:04d}.wav", stereo, 44100, subtype="PCM_16")
        rows.append(f"clip{i:04d}.wav,caption {i},,,,")
    table = folder / "clotho_captions_development.csv"
    table.write_text("\n".join(rows) + "\n")
    return table


def run_reference(table: Path, out: Path) -> int:
    """One clip at a time, whole-file decode and resample, write_foa files added to a tar."""
    import tarfile

    from sonicmotion.audio import downmix, fit_length, read_audio, resample, trim_silence
    from sonicmotion.data.corpora import SourceSpec, read_sources
    from sonicmotion.data.sampling import KINDS, sample_parameters, sample_seed
    from sonicmotion.spatial import encode_foa, write_foa

    sources, _ = read_sources([SourceSpec.parse(f"clotho:{table}:{table.parent / 'audio'}")])
    out.mkdir(parents=True)
    samples = 0
    with tarfile.open(out / "train-000000.tar", "w") as tar:
        for source in sources:
            audio = read_audio(source.path)
            mono = resample(downmix(audio.samples), audio.sample_rate, 16000)
            mono = fit_length(trim_silence(mono, 16000), 160000)
            mono *= np.float32(0.99 / max(0.99, float(np.max(np.abs(mono)))))
            for kind in KINDS:
                params = sample_parameters(sample_seed(0, source.corpus, source.source_id, kind), kind)
                foa = encode_foa(mono, 16000, params.trajectory())
                path = out / f"{Path(source.source_id).stem}-{kind}.flac"
                write_foa(path, foa, 16000, "fuma")
                tar.add(path, arcname=path.name)
                meta = out / f"{Path(source.source_id).stem}-{kind}.json"
                meta.write_text(json.dumps(params.as_metadata()))
                tar.add(meta, arcname=meta.name)
                path.unlink()
                meta.unlink()
                samples += 1
    return samples


def run_builder(table: Path, out: Path, workers: int) -> int:
    from sonicmotion.data.builder import BuildConfig, build_dataset
    from sonicmotion.data.corpora import SourceSpec, read_sources

    sources, skipped = read_sources([SourceSpec.parse(f"clotho:{table}:{table.parent / 'audio'}")])
    result = build_dataset(sources, skipped, out, BuildConfig(workers=workers, progress=False, plots=False))
    return result.report["samples"]


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_rss_mb() -> float:
    # VmHWM is this process's own peak (ru_maxrss of a fresh process starts at its parent's);
    # worker processes, if any, report through RUSAGE_CHILDREN.
    with open("/proc/self/status") as status:
        own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def _timed(function) -> tuple[int, float, float]:
    start, start_cpu = time.perf_counter(), _cpu_seconds()
    samples = function()
    return samples, time.perf_counter() - start, _cpu_seconds() - start_cpu


def child(args: argparse.Namespace) -> None:
    """``--child pair``: both pipelines alternately in one process (a fair ratio on a busy
    machine, whose load changes from minute to minute); ``--child reference|builder``: one
    pipeline once, for its own peak RSS and, with workers, its multi-process rate."""
    table, out = Path(args.table), Path(args.out)
    pipelines = {
        "reference": lambda folder: run_reference(table, folder),
        "builder": lambda folder: run_builder(table, folder, args.workers),
    }
    if args.child != "pair":
        samples, seconds, cpu = _timed(lambda: pipelines[args.child](out / "run"))
        print(json.dumps({"samples": samples, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": _peak_rss_mb()}))
        return
    # Warm-up: imports and first-call costs are paid once per process, not per sample.
    for name, pipeline in pipelines.items():
        pipeline(out / f"warm-{name}")
    rounds = {name: [] for name in pipelines}
    for round_ in range(args.rounds):
        for name, pipeline in pipelines.items():
            rounds[name].append(_timed(lambda: pipeline(out / f"{name}-{round_}")))
            shutil.rmtree(out / f"{name}-{round_}")
    print(json.dumps(rounds))


def stage_costs(table: Path, repeats: int = 5) -> dict[str, float]:
    """CPU milliseconds of each step, per source (preprocessing) or per sample (the rest)."""
    from sonicmotion.audio import downmix, fit_length, read_audio, resample, trim_silence
    from sonicmotion.data.preprocess import load_clip
    from sonicmotion.data.shards import ShardWriter, foa_flac_bytes
    from sonicmotion.spatial import Trajectory, encode_foa, write_foa

    files = sorted((table.parent / "audio").iterdir())[:8]

    def cpu_ms(function, count: int) -> float:
        """Best of ``repeats``: on a shared machine the minimum is the least disturbed run."""
        best = float("inf")
        for _ in range(repeats):
            start = time.process_time()
            function()
            best = min(best, time.process_time() - start)
        return best / count * 1000

    mono = load_clip(files[0])
    path = Trajectory.linear(30.0, 10.0, -120.0, -25.0, "cw", 2.0, 6.0)
    foa = encode_foa(mono, 16000, path)
    flac = foa_flac_bytes(foa, 16000)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "x.flac"
        with open(Path(tmp) / "a.tar", "wb") as handle, ShardWriter(handle) as writer:
            costs = {
                "builder: decode 10 s + trim + resample (per source)":
                    cpu_ms(lambda: [load_clip(f) for f in files], len(files)),
                "reference: decode all + resample all + trim (per source)": cpu_ms(
                    lambda: [fit_length(trim_silence(resample(downmix(a.samples), a.sample_rate, 16000), 16000), 160000)
                             for a in map(read_audio, files)], len(files)),
                "encode_foa (per sample)": cpu_ms(lambda: encode_foa(mono, 16000, path), 1),
                "builder: 24-bit FLAC, integer input, level 0 (per sample)":
                    cpu_ms(lambda: foa_flac_bytes(foa, 16000), 1),
                "reference: write_foa 24-bit FLAC file (per sample)":
                    cpu_ms(lambda: write_foa(target, foa, 16000, "fuma"), 1),
                "builder: tar member write (per sample)": cpu_ms(lambda: writer.add_sample("k", flac, {"key": "k"}), 1),
            }
    return costs


def measure(kind: str, table: Path, out: Path, workers: int = 1, rounds: int = 3):
    command = [sys.executable, __file__, "--child", kind, "--table", str(table), "--out", str(out),
               "--workers", str(workers), "--rounds", str(rounds)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=60, help="number of source WAVs (default 60)")
    parser.add_argument("--workers", type=int, default=0, help="also time the builder with this many workers")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed runs per pipeline (default 3)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        table = make_sources(tmp / "corpus", args.sources)
        seconds = sum(sf.info(str(p)).duration for p in (tmp / "corpus" / "audio").iterdir())
        print(f"{args.sources} sources, 44.1 kHz stereo 16-bit WAV, {seconds / args.sources:.1f} s on average; "
              f"machine: {os.cpu_count()} CPUs")
        pairs = measure("pair", table, tmp / "pair", rounds=args.rounds)
        for name, ms in stage_costs(table).items():
            print(f"  {name:<60} {ms:6.2f} ms CPU")
        # Per core = per CPU-second used (user + system, workers included): on a shared machine
        # wall time also counts other people's load, CPU time much less.
        rates = {name: [samples / cpu for samples, _, cpu in runs] for name, runs in pairs.items()}
        for name, label in (("reference", "reference (one clip at a time)"), ("builder", "dataset build, 1 worker")):
            runs = pairs[name]
            walls = ", ".join(f"{samples / wall:.1f}" for samples, wall, _ in runs)
            print(f"{label:<32} {runs[0][0]} samples: {max(rates[name]):.1f} samples/s/core best of {len(runs)} "
                  f"(all: {', '.join(f'{r:.1f}' for r in rates[name])}; wall samples/s: {walls})")
        ratios = sorted(b / r for b, r in zip(rates["builder"], rates["reference"]))
        print(f"builder vs reference, round by round: {', '.join(f'{x:.2f}x' for x in ratios)} "
              f"(median {ratios[len(ratios) // 2]:.2f}x); target >= 40 samples/s/core")
        for name in ("reference", "builder"):
            single = measure(name, table, tmp / f"rss-{name}")
            print(f"peak RSS, {name}: {single['peak_rss_mb']:.0f} MB")
        if args.workers > 1:
            multi = measure("builder", table, tmp / "multi", args.workers)
            rate_multi = multi["samples"] / multi["cpu_seconds"]
            print(f"dataset build, {args.workers} workers: {rate_multi:.1f} samples/s/core "
                  f"(CPU incl. starting the workers), {multi['samples'] / multi['seconds']:.1f} samples/s wall, "
                  f"peak RSS {multi['peak_rss_mb']:.0f} MB per process")
        rate = max(rates["builder"])
        for cores in (2, 64):
            hours = PAPER_SAMPLES / (rate * cores) / 3600
            print(f"paper's {PAPER_SAMPLES:,} samples on {cores} cores: {hours:.1f} h (linear extrapolation)")


if __name__ == "__main__":
    main()
