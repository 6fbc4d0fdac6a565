"""``sonicmotion baseline``: tiny random AudioLDM 2 and Stable Audio Open pipelines built offline,
loaded from their folders through diffusers, clips written as the models make them, seeds
per prompt, resumable; then scored by ``evaluate generation`` and joined by ``evaluate table``."""

import json

import numpy as np
import pytest
import soundfile as sf

from sonicmotion.cli import main

from tests.baseline_fixtures import tiny_audioldm2, tiny_stable_audio_open

PROMPTS = [
    {"id": "a1", "prompt": "a dog barks", "caption": "a dog barks"},
    {"id": "a2", "prompt": "a dog barks", "caption": "a dog barks"},  # same text, next seed
    {"id": "b1", "prompt": "rain falls on the roof", "caption": "rain falls on the roof", "seconds": 4.0},
]


@pytest.fixture(scope="module")
def prompts_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("prompts") / "semantic.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    return path


@pytest.fixture(scope="module")
def sao_weights(tmp_path_factory):
    return tiny_stable_audio_open(tmp_path_factory.mktemp("weights") / "stable-audio-open")


def run_baseline(model, weights, prompts, out, *extra):
    return main(["baseline", "--model", model, "--weights", str(weights), "--prompts", str(prompts), "--out", str(out),
                 "--steps", "2", "--device", "cpu", "--quiet", *extra])


def test_stable_audio_open_clips_are_stereo_at_its_rate_seeded_per_prompt_and_resumable(tmp_path, sao_weights,
                                                                                      prompts_file):
    out = tmp_path / "sao"
    assert run_baseline("stable-audio-open", sao_weights, prompts_file, out) == 0
    clips = {p["id"]: sf.read(out / f"{p['id']}.wav", dtype="float32") for p in PROMPTS}
    for clip_id, (audio, rate) in clips.items():
        assert rate == 1600 and audio.ndim == 2 and audio.shape[1] == 2  # the VAE's rate and channels, kept
    assert clips["a1"][0].shape[0] == 16000 and clips["b1"][0].shape[0] == 4 * 1600  # 10 s default; a prompt's own 4 s
    assert np.abs(clips["a1"][0]).max() > 0
    assert not np.array_equal(clips["a1"][0], clips["a2"][0])  # same text, seed + 1
    rows = [json.loads(line) for line in (out / "prompts.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a1", "a2", "b1"]
    assert rows[0]["sample_rate"] == 1600 and rows[0]["channels"] == 2 and rows[2]["seconds"] == 4.0
    record = json.loads((out / "baseline.json").read_text())
    assert record["steps"] == 2 and record["guidance"] == 7.0 and record["layout"].startswith("stereo, channels L, R")

    # Resume: a deleted clip is made again with the same bytes; the kept ones are not rewritten.
    before = (out / "a1.wav").stat().st_mtime_ns
    removed = (out / "a2.wav").read_bytes()
    (out / "a2.wav").unlink()
    assert run_baseline("stable-audio-open", sao_weights, prompts_file, out) == 0
    assert (out / "a2.wav").read_bytes() == removed
    assert (out / "a1.wav").stat().st_mtime_ns == before


def test_baseline_clips_score_semantic_columns_only_and_join_table_2(tmp_path, sao_weights, prompts_file):
    out = tmp_path / "stable-audio-open"
    assert run_baseline("stable-audio-open", sao_weights, prompts_file, out) == 0
    report = tmp_path / "sao.json"
    assert main(["evaluate", "generation", "--generated", str(out), "--prompts", str(out / "prompts.jsonl"),
                 "--name", "Stable Audio Open", "--metrics", "clap,spatial", "--models-dir", str(tmp_path / "none"),
                 "--embeddings", "paper", "--out", str(report), "--quiet", "--no-cache", "--workers", "1"]) == 0
    metrics = json.loads(report.read_text())
    assert metrics["generated"]["channels"] == 2 and metrics["generated"]["sample_rates"] == {"1600": 3}
    spatial = metrics["metrics"]["spatial"]
    assert spatial["not_applicable"] and "stereo" in spatial["reason"]
    assert not metrics["metrics"]["clap"]["computed"] and "CLAP" in metrics["metrics"]["clap"]["reason"]
    table = tmp_path / "table2.md"
    assert main(["evaluate", "table", str(report), "--out", str(table)]) == 0
    row = next(line for line in table.read_text().splitlines() if line.startswith("| Stable Audio Open"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert all(c.startswith("n/a[") for c in cells[5:8]), cells  # L1(θ), L1(φ), Δangle at sample resolution


def test_audioldm2_clips_are_mono_16_khz(tmp_path, prompts_file):
    weights = tiny_audioldm2(tmp_path / "audioldm2")
    out = tmp_path / "out"
    assert run_baseline("audioldm2", weights, prompts_file, out) == 0
    audio, rate = sf.read(out / "a1.wav", dtype="float32")
    assert rate == 16000 and audio.ndim == 1 and audio.shape[0] == 160000
    record = json.loads((out / "baseline.json").read_text())
    assert record["guidance"] == 3.5 and record["layout"].startswith("mono")


def test_missing_weights_are_one_line_with_the_command_and_nothing_is_written(tmp_path, prompts_file, capsys):
    out = tmp_path / "out"
    assert run_baseline("audioldm2", tmp_path / "empty", prompts_file, out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "AudioLDM 2 weights" in err and "model_index.json" in err and "snapshot_download('cvssp/audioldm2'" in err
    assert not out.exists()


def test_baseline_under_torchrun_deals_the_prompts(tmp_path, sao_weights, prompts_file):
    """Two CPU processes: a1, b1 by process 0, a2 by process 1, the bytes of a one-process run;
    prompts.jsonl and baseline.json written once."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.is_file():
        pytest.skip("torchrun is not installed beside this Python")
    single, double = tmp_path / "single", tmp_path / "double"
    assert run_baseline("stable-audio-open", sao_weights, prompts_file, single) == 0
    done = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "sonicmotion", "baseline", "--model",
         "stable-audio-open", "--weights", str(sao_weights), "--prompts", str(prompts_file), "--out", str(double),
         "--steps", "2", "--device", "cpu", "--quiet"],
        env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path)), capture_output=True,
        text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Stable Audio Open: 3 clips in") == 1
    assert "(3 made at 1600 Hz, 0 kept; made 2 by process 0, 1 by process 1)" in done.stdout
    for name in ("a1.wav", "a2.wav", "b1.wav", "prompts.jsonl"):
        assert (single / name).read_bytes() == (double / name).read_bytes(), name
    assert json.loads((single / "baseline.json").read_text()) == json.loads((double / "baseline.json").read_text())
