"""Size of the HTML report per clip: embedded (data URIs) or linked (--link), with Opus and
WebP or the FLAC and PNG fallback (issue 25).

Synthetic runs: noise on a moving path, prompts of about 90 characters. The page grows by the
same bytes per clip, so two runs (of ``small`` and ``large`` clips) give the size per clip and
the projections: the demo's 96 clips of 10 s embedded (target 12 MB), 1,000 clips linked
(target 2 MB of HTML).

    .venv/bin/python benchmarks/bench_report.py [--smoke]
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

RATE = 16000


def make_run(folder: Path, count: int, seconds: float) -> Path:
    from sonicmotion.spatial import Trajectory, encode_foa, write_foa

    folder.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(count):
        path = Trajectory.linear(float(rng.uniform(-180, 180)), 0, float(rng.uniform(-180, 180)), 20, "cw", 0, seconds)
        mono = (0.2 * rng.standard_normal(int(seconds * RATE))).astype(np.float32)
        write_foa(folder / f"sample_{i:05d}.flac", encode_foa(mono, RATE, path), RATE, "fuma")
        rows.append({"id": f"sample_{i:05d}", "prompt": "a dog barks twice while a car passes by from the left to "
                     f"the right behind the listener, take {i}", "trajectory": path.to_dict(), "seconds": seconds})
    (folder / "prompts.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return folder


def main() -> None:
    from sonicmotion.visual.html_report import Formats, write_html_report

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="2 and 4 clips of 1 s: seconds")
    args = parser.parse_args()
    small, large, seconds = (2, 4, 1.0) if args.smoke else (4, 12, 10.0)
    best = Formats.best()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = make_run(tmp / "run", large, seconds)
        print(f"{large} clips of {seconds:g} s at {RATE} Hz; this machine writes Opus: {best.opus}, WebP: {best.webp}")
        for formats in [best] + ([Formats(False, False)] if best != Formats(False, False) else []):
            for link in (False, True):
                sizes, took = {}, 0.0
                for count in (small, large):
                    out = tmp / f"r_{formats.opus}_{formats.webp}_{link}_{count}.html"
                    start = time.perf_counter()
                    write_html_report([run], out, progress=False, max_clips=count, link=link, formats=formats)
                    took += time.perf_counter() - start
                    files = out.with_name(out.stem + "_files")
                    beside = sum(p.stat().st_size for p in files.iterdir()) if files.is_dir() else 0
                    sizes[count] = (out.stat().st_size, beside)
                per_page = (sizes[large][0] - sizes[small][0]) / (large - small)
                per_files = (sizes[large][1] - sizes[small][1]) / (large - small)
                base = sizes[small][0] - small * per_page
                name = f"{'Opus' if formats.opus else 'FLAC'}+{'WebP' if formats.webp else 'PNG'}, " \
                       f"{'linked' if link else 'embedded'}"
                projection = (f"1,000 clips: {(base + 1000 * per_page) / 1e6:.2f} MB of HTML, "
                              f"{1000 * per_files / 1e6:.0f} MB beside it" if link
                              else f"96 clips (the demo's): {(base + 96 * per_page) / 1e6:.1f} MB")
                print(f"  {name:<24} page {per_page / 1e3:7.1f} kB/clip, files {per_files / 1e3:6.1f} kB/clip, "
                      f"{took / (small + large):.2f} s/clip; {projection}")


if __name__ == "__main__":
    main()
