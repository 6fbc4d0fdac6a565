"""Distance samples of ``dataset build --motions paper+distance``: build CPU and disk per
sample against the paper's samples, and the cost of reading each kind, for both stores.

The sources are bench_dataset.py's (44.1 kHz stereo WAVs, sirens and noise bursts). Each
store is built with ``--motions paper`` and with ``paper+distance`` in this process, one
worker, after a warm-up; a distance sample's build cost is the difference in CPU seconds
(user + system) over the number of distance samples. Reading is ``decode_sample_foa`` of
every train sample, whole and as a 2 s crop at a random start, in CPU milliseconds per
sample by kind (approach, recede and pass in free field, approach and recede in a room).

    python benchmarks/bench_distance_dataset.py [--sources 40]
    python benchmarks/bench_distance_dataset.py --smoke   # seconds: 2 sources
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dataset import _cpu_seconds, make_sources, shard_bytes  # noqa: E402


def build(table: Path, out: Path, store: str, motions: str) -> tuple[int, float]:
    """(samples, CPU seconds) of one build."""
    from sonicmotion.data.builder import BuildConfig, build_dataset
    from sonicmotion.data.corpora import SourceSpec, read_sources

    sources, skipped = read_sources([SourceSpec.parse(f"clotho:{table}:{table.parent / 'audio'}")])
    config = BuildConfig(progress=False, plots=False, store=store, motions=motions)
    start = _cpu_seconds()
    result = build_dataset(sources, skipped, out, config)
    return result.report["samples"], _cpu_seconds() - start


def read_costs(folder: Path) -> dict[str, tuple[int, float, float]]:
    """kind -> (samples, mean CPU ms of the whole clip, of a 2 s crop) through decode_sample_foa."""
    from sonicmotion.data.shards import decode_sample_foa, read_shard

    rng = np.random.default_rng(0)
    costs: dict[str, list[tuple[float, float]]] = {}
    for shard in sorted(folder.glob("*/*.tar")):
        for _, group in read_shard(shard):
            meta = json.loads(group["json"])
            kind = meta["motion"] + (" (room)" if meta.get("room") else "")
            start = time.process_time()
            decode_sample_foa(group, meta)
            whole = time.process_time() - start
            first = int(rng.integers(0, meta["num_samples"] - 32_000))
            start = time.process_time()
            decode_sample_foa(group, meta, first, 32_000)
            costs.setdefault(kind, []).append((whole, time.process_time() - start))
    return {kind: (len(v), 1000 * np.mean([w for w, _ in v]), 1000 * np.mean([c for _, c in v]))
            for kind, v in sorted(costs.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=40, help="number of source WAVs (default 40)")
    parser.add_argument("--smoke", action="store_true", help="seconds: 2 sources")
    args = parser.parse_args()
    if args.smoke:
        args.sources = 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        table = make_sources(tmp / "corpus", args.sources)
        build(table, tmp / "warm", "foa", "paper+distance")  # imports, first-call costs
        print(f"{args.sources} sources; one worker; CPU = user + system")
        for store in ("foa", "sources"):
            runs = {m: build(table, tmp / f"{store}-{m}", store, m) for m in ("paper", "paper+distance")}
            sizes = {m: shard_bytes(tmp / f"{store}-{m}") for m in runs}
            (paper, paper_cpu), (both, both_cpu) = runs["paper"], runs["paper+distance"]
            added = both - paper
            print(f"--store {store}: paper {paper} samples {paper_cpu:.2f} s CPU ({1000 * paper_cpu / paper:.1f} ms, "
                  f"{sizes['paper'] / paper / 1e3:.1f} kB per sample); paper+distance {both} samples "
                  f"{both_cpu:.2f} s CPU; per distance sample {1000 * (both_cpu - paper_cpu) / added:.1f} ms CPU, "
                  f"{(sizes['paper+distance'] - sizes['paper']) / added / 1e3:.1f} kB")
            for kind, (count, whole, crop) in read_costs(tmp / f"{store}-paper+distance").items():
                print(f"    read {kind:<16} n={count:3d}: whole clip {whole:7.1f} ms CPU, 2 s crop {crop:7.1f} ms CPU")


if __name__ == "__main__":
    main()
