"""Scene rendering speed and accuracy: file sources, 10 s at 16 kHz, one core.

Prints, for scenes of 2, 4 and 8 moving file sources:
- render time of ``render_scene`` (read, resample, encode, mix, headroom) and the real-time
  factor, with the reference: the same sources encoded one by one with ``encode_foa`` and
  summed (the floor any scene renderer must pay);
- the studio's result stage for the 2-source scene (binaural previews of the mix and each
  source, AmbiX 48 kHz export, energy map and DoA), which runs after every studio render;
- localisation of the 2-source scene on the azimuth-time energy map: for each second, the
  distance from each source's true azimuth to the nearer of the two strongest ridges.

    .venv/bin/python benchmarks/bench_scene.py [--smoke]   # --smoke: the 2-source scene, one run each (CI)
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from sonicmotion.data.synth import noise_bursts, siren  # noqa: E402
from sonicmotion.scene import render_scene, scene_from_dict  # noqa: E402
from sonicmotion.spatial import encode_foa  # noqa: E402
from sonicmotion.spatial.energy_map import directional_energy_map  # noqa: E402

SR = 16000


def make_scene(folder: Path, count: int):
    sources = []
    for i in range(count):
        name = f"s{i}.wav"
        sound = siren if i % 2 == 0 else noise_bursts
        sf.write(folder / name, sound(10, 22050 if i % 2 else SR, seed=i), 22050 if i % 2 else SR)
        start = -180 + 360 * i / count
        sources.append({"name": f"s{i}", "file": name, "gain_db": -3,
                        "path": {"type": "linear", "start_azimuth": start, "end_azimuth": start + 90,
                                 "end_elevation": 20, "direction": "ccw"}})
    return scene_from_dict({"duration": 10, "sources": sources}, base_dir=folder)


REPEATS = 3


def best_of(fn, repeats=None):
    repeats = repeats or REPEATS
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def reference(scene):
    """Pre-decoded mono at 16 kHz, encoded and summed: no file I/O, no resampling."""
    monos = []
    for s in scene.sources:
        data, rate = sf.read(s.file, dtype="float32")
        monos.append(data if rate == SR else np.interp(np.arange(10 * SR) / SR, np.arange(data.size) / rate, data))

    def run():
        return sum(encode_foa(m.astype(np.float32), SR, s.path) for m, s in zip(monos, scene.sources))

    return run


def main() -> None:
    global REPEATS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="run in seconds (CI): the 2-source scene, one run each")
    args = parser.parse_args()
    REPEATS = 1 if args.smoke else 3
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    print(f"machine: {platform.machine()} {platform.processor() or ''}, python {platform.python_version()}, "
          f"numpy {np.__version__}, one core")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for count in (2,) if args.smoke else (2, 4, 8):
            sub = folder / str(count)
            sub.mkdir()
            scene = make_scene(sub, count)
            seconds = best_of(lambda: render_scene(scene))
            ref = best_of(reference(scene))
            print(f"render_scene, {count} sources x 10 s: {seconds * 1000:7.1f} ms  "
                  f"({10 / seconds:6.1f}x real time)  reference encode+sum {ref * 1000:6.1f} ms  "
                  f"ratio {seconds / ref:4.2f}")
        scene = scene_from_dict({"duration": 10, "sources": [
            {"name": "siren", "file": "s0.wav", "path": {"type": "static", "azimuth": 60, "elevation": 10}},
            {"name": "knocks", "file": "s1.wav",
             "path": {"type": "linear", "start_azimuth": -30, "end_azimuth": -150, "direction": "cw"}}]},
            base_dir=folder / "2")
        render = render_scene(scene)

        from sonicmotion.studio.workspace import Job, Workspace

        workspace = Workspace(folder / "ws")
        staging = folder / "ws" / "stage"
        staging.mkdir()
        stage = best_of(lambda: workspace._write_result(render, scene, staging, Job("bench")), repeats=min(2, REPEATS))
        print(f"studio result stage (2 binaural previews + mix, AmbiX 48k, analysis): {stage * 1000:7.1f} ms")
        energy = directional_energy_map(render.mix, SR, render.layout)
        errors = {s.name: [] for s in scene.sources}
        for second in range(10):
            frames = np.flatnonzero((energy.times >= second) & (energy.times < second + 1))
            peaks = energy.peaks(slice(frames[0], frames[-1] + 1), count=2)
            for s in scene.sources:
                true = float(s.path.positions(second + 0.5)[0])
                errors[s.name].append(min(abs((p - true + 180) % 360 - 180) for p in peaks))
        for name, values in errors.items():
            print(f"energy-map localisation, {name}: mean {np.mean(values):.1f} deg, worst {np.max(values):.1f} deg "
                  f"over 10 one-second windows (5 deg cells)")


if __name__ == "__main__":
    main()
