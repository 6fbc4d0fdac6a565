"""Retrieval from a large library: build and query times of ``SoundLibrary``.

A manifest library of ``--clips`` clips with ``--captions`` captions each (captions made from
a vocabulary of sound words, deterministic; the clips share a few short WAV files, since
search never reads audio). Measured, CPU time of this process:

- open: reading the manifest into entries;
- first build: embedding every caption with MiniLM into the on-disk caption index;
- reopen: a new process opening the library and reading its cached index (the studio's and
  ``generate --library``'s start);
- query: one prompt against the whole library (prompt embedding + scores + best per clip),
  after one warm-up query that loads the encoder; target under 200 ms for 10,000 clips;
- reference: the same ranking by the per-caption Python loop the library used before, on the
  same scores.

    python benchmarks/bench_retrieval.py [--clips 10000] [--captions 2] [--queries 50]
    python benchmarks/bench_retrieval.py --smoke   # seconds (CI): 20 clips, 2 queries
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SUBJECTS = ["a dog", "a cat", "a siren", "rain", "a bell", "an engine", "a bird", "a phone", "a crowd", "a door",
            "footsteps", "a train", "wind", "a kettle", "a baby", "a guitar", "thunder", "a clock", "water", "a car"]
ACTIONS = ["barks", "rings", "hums", "falls", "sings", "creaks", "roars", "whistles", "ticks", "rumbles", "splashes",
           "passes by", "starts up", "fades out", "echoes", "drips"]
PLACES = ["in a hall", "outside", "in the rain", "far away", "close by", "in a tunnel", "at night", "in a kitchen",
          "on a street", "in a forest", "", "", ""]
PROMPTS = ["a police siren wails", "a dog barking in the distance", "rain on a tin roof", "church bells ringing",
           "a car engine starting", "birds singing in a forest", "a phone ringing in an office", "a door creaks open"]


def caption(rng: np.random.Generator) -> str:
    words = [SUBJECTS[rng.integers(len(SUBJECTS))], ACTIONS[rng.integers(len(ACTIONS))],
             PLACES[rng.integers(len(PLACES))]]
    return " ".join(w for w in words if w).capitalize() + "."


def make_library(folder: Path, clips: int, captions: int) -> Path:
    import soundfile as sf

    folder.mkdir(parents=True)
    for i in range(4):
        tone = 0.1 * np.sin(2 * np.pi * (220 + 110 * i) * np.arange(16000) / 16000)
        sf.write(folder / f"sound{i}.wav", tone.astype(np.float32), 16000)
    rng = np.random.default_rng(0)
    with open(folder / "manifest.jsonl", "w") as f:
        for i in range(clips):
            row = {"id": f"clip{i:06d}", "path": f"sound{i % 4}.wav", "caption": [caption(rng) for _ in range(captions)]}
            f.write(json.dumps(row) + "\n")
    return folder


def _cpu() -> float:
    return time.process_time()


def reopen(library: Path, cache: Path) -> dict:
    """In this (new) process: open the library and read its cached caption index."""
    from sonicmotion.retrieval import SentenceEmbedder, SoundLibrary

    start = _cpu()
    lib = SoundLibrary.open(library, embedder=SentenceEmbedder(cache))
    opened = _cpu()
    lib.caption_matrix()
    return {"open_s": opened - start, "index_s": _cpu() - opened}


def loop_ranking(library, scores: np.ndarray, k: int) -> list[str]:
    """The ranking the library computed before: a Python loop over every caption."""
    best: dict[int, float] = {}
    for (index, _), score in zip(library._captions, scores):
        if index not in best or score > best[index]:
            best[index] = float(score)
    ranked = sorted(best.items(), key=lambda item: (-item[1], library.entries[item[0]].id))[:k]
    return [library.entries[i].id for i, _ in ranked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=10000)
    parser.add_argument("--captions", type=int, default=2, help="captions per clip (Clotho has 5)")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--smoke", action="store_true", help="run in seconds (CI): 20 clips, 2 queries")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.clips, args.queries = 20, 2
    if args.child:
        print(json.dumps(reopen(Path(args.child[0]), Path(args.child[1]))))
        return
    import torch

    torch.set_num_threads(1)
    from sonicmotion.retrieval import SentenceEmbedder, SoundLibrary

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = make_library(tmp / "library", args.clips, args.captions)
        cache = tmp / "cache"
        start = _cpu()
        library = SoundLibrary.open(folder, embedder=SentenceEmbedder(cache))
        opened = _cpu()
        library.caption_matrix()
        built = _cpu()
        print(f"library: {args.clips:,} clips, {args.clips * args.captions:,} captions; 1 torch thread")
        print(f"  open (manifest)                 {opened - start:8.3f} s CPU")
        print(f"  first build (MiniLM embeddings) {built - opened:8.3f} s CPU "
              f"({(built - opened) / (args.clips * args.captions) * 1000:.2f} ms per caption)")
        child = subprocess.run([sys.executable, __file__, "--child", str(folder), str(cache)], capture_output=True,
                               text=True, check=True)
        again = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"  reopen in a new process         {again['open_s'] + again['index_s']:8.3f} s CPU "
              f"(manifest {again['open_s']:.3f} s, cached index {again['index_s']:.3f} s)")
        library.search("warm-up: load the encoder", 5)
        times, loop_times, agree = [], [], 0
        for i in range(args.queries):
            prompt = f"{PROMPTS[i % len(PROMPTS)]} {i}"
            start = time.perf_counter()
            matches = library.search(prompt, 5)
            times.append(time.perf_counter() - start)
            scores = library.caption_matrix() @ library.embedder([prompt])[0]
            start = time.perf_counter()
            reference = loop_ranking(library, scores, 5)
            loop_times.append(time.perf_counter() - start)
            agree += [m.entry.id for m in matches] == reference
        times_ms, loop_ms = 1000 * np.array(times), 1000 * np.array(loop_times)
        print(f"  query (top 5)                   median {np.median(times_ms):6.1f} ms, max {times_ms.max():6.1f} ms "
              f"over {args.queries} prompts (target < 200 ms)")
        print(f"  reference: per-caption loop     median {np.median(loop_ms):6.1f} ms for the ranking alone "
              f"(same scores; {np.median(loop_ms) / np.median(times_ms):.1f}x the whole query); "
              f"same top 5 in {agree}/{args.queries}")


if __name__ == "__main__":
    main()
