"""Dataset build and read throughput, samples per second per core, and bytes per sample,
for both stores and a one-clip-at-a-time reference.

Sources are 44.1 kHz stereo 16-bit WAVs of real-world length (half AudioCaps-like 10 s,
half Clotho-like 15-30 s, some with leading silence). Three pipelines make the same
samples (two per source, 16 kHz):

- reference: what a straightforward script does: read the whole file, downmix,
  resample all of it, trim, loop/cut, then per sample encode, ``write_foa`` a FLAC file
  (default settings) and add that file to a tar;
- ``dataset build --store foa``: streaming decode of only the needed 10 s, integer FLAC
  at level 0, members written straight into the shard; one worker;
- ``dataset build --store sources``: the same clip stored once per source (mono FLAC)
  with each sample's metadata; one worker.

They run alternately in one process, after a warm-up, for ``--rounds`` rounds: per core
is output samples per CPU-second (user + system), and each round compares them under
the same load of a shared machine. Each builder then runs once in a process of its own
for its peak RSS. The training loader (``FoaShardDataset``, one process) then reads both
stores, alternately, as 2 s random crops (the autoencoder's) and as whole 10 s clips,
beside the reference: the loader as it was before the stores, on the foa store.
Prints samples/s/core, bytes per sample, ratios, per-step CPU costs and the
extrapolated time and disk for the paper's 1,025,548 samples.

    python benchmarks/bench_dataset.py [--sources 60] [--rounds 3] [--workers 2]
    python benchmarks/bench_dataset.py --smoke   # seconds: 2 sources, 1 round, no RSS runs (CI)
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


def reference_trim(mono: np.ndarray, rate: int) -> np.ndarray:
    """What a straightforward script does: leading and trailing silent 10 ms frames cut, whole clip at once."""
    from sonicmotion.audio import SILENCE_DB, frame_activity

    frame = int(round(0.01 * rate))
    active = np.flatnonzero(frame_activity(mono, frame, SILENCE_DB))
    if active.size == 0:
        return mono[:0]
    return mono[active[0] * frame : min(mono.shape[-1], (active[-1] + 1) * frame)]


def run_reference(table: Path, out: Path) -> int:
    """One clip at a time, whole-file decode and resample, write_foa files added to a tar."""
    import tarfile

    from sonicmotion.audio import downmix, fit_length, read_audio, resample
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
            mono = fit_length(reference_trim(mono, 16000), 160000)
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


def run_builder(table: Path, out: Path, workers: int, store: str = "foa") -> int:
    from sonicmotion.data.builder import BuildConfig, build_dataset
    from sonicmotion.data.corpora import SourceSpec, read_sources

    sources, skipped = read_sources([SourceSpec.parse(f"clotho:{table}:{table.parent / 'audio'}")])
    config = BuildConfig(workers=workers, progress=False, plots=False, store=store)
    result = build_dataset(sources, skipped, out, config)
    return result.report["samples"]


def shard_bytes(folder: Path) -> int:
    """Bytes of a build's shards (the samples; index and report are the same for both stores)."""
    return sum(p.stat().st_size for p in folder.rglob("*.tar"))


def run_loader(folder: Path, crop: float | None, before: bool = False) -> int:
    """Read every train sample once through the training loader; returns the count.
    ``before``: the loader as it was before the stores (the reference)."""
    from sonicmotion.data.loader import FoaShardDataset
    from sonicmotion.data.shards import find_shards

    count = 0
    kind = LoaderBefore if before else FoaShardDataset
    for item in kind(find_shards(folder, "train"), crop_seconds=crop, seed=0):
        count += item["audio"].shape[0] == 4
    return count


def _loader_before():
    """The training loader's sample decoding before the ``sources`` store: libsndfile's
    own float conversion of the 4-channel FLAC crop (same split, crops and items)."""
    import io

    import torch

    from sonicmotion.data.loader import FoaShardDataset

    class Before(FoaShardDataset):
        def _item(self, url, key, group, rng):
            metadata = json.loads(group["json"].decode("utf-8"))
            with sf.SoundFile(io.BytesIO(group["flac"])) as f:
                total, start, length = f.frames, 0, f.frames
                if self.crop_seconds is not None:
                    length = int(round(self.crop_seconds * f.samplerate))
                    start = int(rng.integers(0, total - length + 1))
                    f.seek(start)
                audio = np.ascontiguousarray(f.read(length, dtype="float32", always_2d=True).T)
            return {"audio": torch.from_numpy(audio), "key": key, "metadata": metadata,
                    "seconds_start": start / f.samplerate}

    return Before


class _LazyBefore:
    def __call__(self, *args, **kwargs):
        return _loader_before()(*args, **kwargs)


LoaderBefore = _LazyBefore()


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
        "builder-sources": lambda folder: run_builder(table, folder, args.workers, "sources"),
    }
    if args.child in pipelines:
        samples, seconds, cpu = _timed(lambda: pipelines[args.child](out / "run"))
        print(json.dumps({"samples": samples, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": _peak_rss_mb(),
                          "bytes": shard_bytes(out / "run")}))
        return
    if args.child == "loader":
        stores = {store: out / store for store in ("foa", "sources")}
        for store, folder in stores.items():
            run_builder(table, folder, 1, store)
            run_loader(folder, 2.0)  # warm-up
        readers = {}
        for label, crop in (("2 s crops", 2.0), ("10 s clips", None)):
            readers[f"foa before {label}"] = (stores["foa"], crop, True)
            readers.update({f"{store} {label}": (folder, crop, False) for store, folder in stores.items()})
        rounds = {name: [] for name in readers}
        for _ in range(args.rounds):
            for name, (folder, crop, before) in readers.items():
                rounds[name].append(_timed(lambda: run_loader(folder, crop, before)))
        print(json.dumps(rounds))
        return
    # Warm-up: imports and first-call costs are paid once per process, not per sample.
    for name, pipeline in pipelines.items():
        pipeline(out / f"warm-{name}")
    rounds = {name: [] for name in pipelines}
    sizes = {name: shard_bytes(out / f"warm-{name}") for name in pipelines}
    for round_ in range(args.rounds):
        for name, pipeline in pipelines.items():
            rounds[name].append(_timed(lambda: pipeline(out / f"{name}-{round_}")))
            shutil.rmtree(out / f"{name}-{round_}")
    print(json.dumps({"rounds": rounds, "bytes": sizes}))


def stage_costs(table: Path, repeats: int = 5) -> dict[str, float]:
    """CPU milliseconds of each step, per source (preprocessing) or per sample (the rest)."""
    from sonicmotion.audio import downmix, fit_length, read_audio, resample
    from sonicmotion.data.preprocess import load_clip
    from sonicmotion.data.shards import ShardWriter, source_flac_bytes
    from sonicmotion.spatial.io import foa_to_bytes
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
    flac = foa_to_bytes(foa, 16000)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "x.flac"
        with open(Path(tmp) / "a.tar", "wb") as handle, ShardWriter(handle) as writer:
            costs = {
                "builder: decode 10 s + trim + resample (per source)":
                    cpu_ms(lambda: [load_clip(f) for f in files], len(files)),
                "reference: decode all + resample all + trim (per source)": cpu_ms(
                    lambda: [fit_length(reference_trim(resample(downmix(a.samples), a.sample_rate, 16000), 16000), 160000)
                             for a in map(read_audio, files)], len(files)),
                "encode_foa (per sample)": cpu_ms(lambda: encode_foa(mono, 16000, path), 1),
                "builder: 24-bit FLAC, integer input, level 0 (per sample)":
                    cpu_ms(lambda: foa_to_bytes(foa, 16000), 1),
                "reference: write_foa 24-bit FLAC file (per sample)":
                    cpu_ms(lambda: write_foa(target, foa, 16000, "fuma"), 1),
                "builder: tar member write (per sample)": cpu_ms(lambda: writer.add_sample("k", flac, {"key": "k"}), 1),
                "sources store: mono 24-bit FLAC, level 0 (per source)": cpu_ms(lambda: source_flac_bytes(mono, 16000), 1),
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
    parser.add_argument("--smoke", action="store_true", help="seconds: 2 sources, 1 round, no peak-RSS runs (CI)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.sources, args.rounds, args.workers = 2, 1, 0
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        table = make_sources(tmp / "corpus", args.sources)
        seconds = sum(sf.info(str(p)).duration for p in (tmp / "corpus" / "audio").iterdir())
        print(f"{args.sources} sources, 44.1 kHz stereo 16-bit WAV, {seconds / args.sources:.1f} s on average; "
              f"machine: {os.cpu_count()} CPUs")
        measured = measure("pair", table, tmp / "pair", rounds=args.rounds)
        pairs, sizes = measured["rounds"], measured["bytes"]
        for name, ms in stage_costs(table, repeats=1 if args.smoke else 5).items():
            print(f"  {name:<60} {ms:6.2f} ms CPU")
        # Per core = per CPU-second used (user + system, workers included): on a shared machine
        # wall time also counts other people's load, CPU time much less.
        rates = {name: [samples / cpu for samples, _, cpu in runs] for name, runs in pairs.items()}
        labels = {"reference": "reference (one clip at a time)", "builder": "dataset build --store foa",
                  "builder-sources": "dataset build --store sources"}
        print("\nbuild, 1 worker:")
        for name, label in labels.items():
            runs = pairs[name]
            walls = ", ".join(f"{samples / wall:.1f}" for samples, wall, _ in runs)
            print(f"  {label:<32} {runs[0][0]} samples: {max(rates[name]):6.1f} samples/s/core best of {len(runs)} "
                  f"(all: {', '.join(f'{r:.1f}' for r in rates[name])}; wall samples/s: {walls}); "
                  f"{sizes[name] / runs[0][0] / 1e3:6.1f} kB/sample")
        for name in ("builder", "builder-sources"):
            ratios = sorted(b / r for b, r in zip(rates[name], rates["reference"]))
            print(f"  {labels[name]} vs reference, round by round: {', '.join(f'{x:.2f}x' for x in ratios)} "
                  f"(median {ratios[len(ratios) // 2]:.2f}x)")
        ratios = sorted(b / r for b, r in zip(rates["builder-sources"], rates["builder"]))
        print(f"  sources vs foa store: build {ratios[len(ratios) // 2]:.2f}x (median of rounds), "
              f"{max(rates['builder-sources']):.1f} samples/s/core (target >= 200); "
              f"bytes/sample 1/{sizes['builder'] / sizes['builder-sources']:.2f} (target <= 1/6)")
        for name in () if args.smoke else ("reference", "builder", "builder-sources"):
            single = measure(name, table, tmp / f"rss-{name}")
            print(f"  peak RSS, {labels[name]}: {single['peak_rss_mb']:.0f} MB")
        if args.workers > 1:
            for name in ("builder", "builder-sources"):
                multi = measure(name, table, tmp / f"multi-{name}", args.workers)
                rate_multi = multi["samples"] / multi["cpu_seconds"]
                print(f"  {labels[name]}, {args.workers} workers: {rate_multi:.1f} samples/s/core "
                      f"(CPU incl. starting the workers), {multi['samples'] / multi['seconds']:.1f} samples/s wall, "
                      f"peak RSS {multi['peak_rss_mb']:.0f} MB per process")
        per_sample = {name: sizes[name] / pairs[name][0][0] for name in ("builder", "builder-sources")}
        for name in ("builder", "builder-sources"):
            rate = max(rates[name])
            hours = ", ".join(f"{PAPER_SAMPLES / (rate * cores) / 3600:.1f} h on {cores} cores" for cores in (2, 64))
            print(f"  paper's {PAPER_SAMPLES:,} samples, {labels[name]}: {hours}; "
                  f"{per_sample[name] * PAPER_SAMPLES / 1e9:.0f} GB (linear extrapolation)")

        loader = measure("loader", table, tmp / "loader", rounds=args.rounds)
        print("\ntraining loader (FoaShardDataset, 1 process, train split):")
        speeds = {name: [samples / cpu for samples, _, cpu in runs] for name, runs in loader.items()}
        for name, runs in loader.items():
            print(f"  {name:<22} {max(speeds[name]):7.1f} samples/s/core best of {len(runs)} "
                  f"(all: {', '.join(f'{r:.1f}' for r in speeds[name])})")
        for label, target in (("2 s crops", ">= 3x"), ("10 s clips", ">= 1x")):
            for base, what in (("foa before", "the loader before (foa store)"), ("foa", "the foa store")):
                ratios = sorted(b / a for a, b in zip(speeds[f"{base} {label}"], speeds[f"sources {label}"]))
                print(f"  sources vs {what}, {label}: {', '.join(f'{x:.2f}x' for x in ratios)} "
                      f"(median {ratios[len(ratios) // 2]:.2f}x; target {target} vs before)")


if __name__ == "__main__":
    main()
