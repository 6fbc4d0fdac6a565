"""Words to a path (`sonicmotion.motion`): speed per description, and how close the point
estimate lies to the true path, for the builder's own captions and the held-out set.

    .venv/bin/python benchmarks/bench_motion.py [--captions 2000] [--smoke]

Prints (1) milliseconds per description on one core, for each of a few descriptions and the
mean over the held-out set (target < 20 ms); (2) the builder captions: `data/sampling`
samples (static and moving, SPEC §3) captioned by `data/captions.template_caption` with the
synthetic corpus's captions, read back, and scored by path Δangle: the mean great-circle
angle between the estimate and the true path sampled every 50 ms over the 10 s clip (the
frame hop; no audio is rendered, so this is what frame Δangle gives for a perfect encoder of
each path; targets 20° static, 30° moving, 25° all); (3) the frozen held-out set
(tests/motion/heldout.jsonl): five-point error at start / quarter / middle / three-quarter
/ end of the movement (targets: mean < 10°, >= 90 % within 20°, timing within 1 s), and how the
mean of a demo-sized set of captions (8 static + 8 moving) spreads with the set drawn; (4) the
`sonicmotion motion` process wall time (target < 1 s). `--smoke` runs a small sample in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from sonicmotion.motion import describe_to_motion  # noqa: E402
from sonicmotion.motion.score import builder_caption_errors, movement_point_errors, timing_errors  # noqa: E402
from sonicmotion.spatial import Trajectory  # noqa: E402

HELDOUT = Path(__file__).resolve().parents[1] / "tests" / "motion" / "heldout.jsonl"
EXAMPLES = (
    "a car passes from left to right behind me, slowly",
    "a bee circles around you twice clockwise, starting on the left",
    "a helicopter flies from behind you over your head to the front",
    "A dog barks. The sound travels fast counter-clockwise from the front-left, up high to the back.",
    "first on the right, then in front, then on the left, between 2 and 8 seconds",
)


def per_description_ms(text: str, repeats: int) -> float:
    describe_to_motion(text)
    begin = time.perf_counter()
    for _ in range(repeats):
        describe_to_motion(text)
    return (time.perf_counter() - begin) / repeats * 1000.0


def heldout() -> tuple[np.ndarray, list[float], float]:
    rows = [json.loads(line) for line in HELDOUT.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
    errors, timing = [], []
    begin = time.perf_counter()
    readings = [describe_to_motion(row["text"]).trajectory for row in rows]
    ms = (time.perf_counter() - begin) / len(rows) * 1000.0
    for row, estimate in zip(rows, readings):
        truth = Trajectory.from_dict(row["trajectory"])
        errors.append(180.0 if estimate is None else float(movement_point_errors(estimate, truth).mean()))
        if row["timing_stated"] and estimate is not None:
            timing.append(max(timing_errors(estimate, truth)))
    return np.array(errors), timing, ms


def process_seconds() -> float:
    begin = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sonicmotion", "motion", EXAMPLES[0], "--json"], check=True,
                   capture_output=True)
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--captions", type=int, default=2000, help="static and moving samples each (default 2000)")
    parser.add_argument("--smoke", action="store_true", help="a small sample, in seconds")
    args = parser.parse_args()
    count, repeats = (100, 5) if args.smoke else (args.captions, 50)
    print(f"{platform.machine()}, Python {platform.python_version()}, one core (OMP_NUM_THREADS=1)")
    print("ms per description (point estimate):")
    for text in EXAMPLES:
        print(f"  {per_description_ms(text, repeats):6.2f} ms  {text}")
    errors, timing, ms = heldout()
    print(f"held-out set ({HELDOUT.name}, n={errors.size}): {ms:.2f} ms per description; five-point error mean "
          f"{errors.mean():.2f} deg, {(errors <= 20).mean():.1%} within 20 deg, worst {errors.max():.1f} deg; "
          f"timing stated in {len(timing)}, worst {max(timing):.2f} s")
    score = builder_caption_errors(count, seed=0)
    print(f"builder captions (template_caption, {score.count} samples: {count} static + {count} moving, seed 0), "
          f"path delta angle every 50 ms: static {score.static:.2f} deg, moving {score.moving:.2f} deg, "
          f"all {score.all:.2f} deg; no path read for {score.unread}")
    # The demo's words rows score 8 static + 8 moving test prompts: their figure is one draw of this.
    means = score.subset_means(8, 8)
    low, high = np.percentile(means, [2.5, 97.5])
    print(f"  a demo-sized set (8 static + 8 moving, 20,000 draws): mean {means.mean():.2f} deg, std {means.std():.2f}, "
          f"95% of sets within {low:.1f}-{high:.1f} deg, {(means <= 25).mean():.1%} at or below 25 deg")
    print(f"'sonicmotion motion ... --json' as a process: {process_seconds():.2f} s")


if __name__ == "__main__":
    main()
