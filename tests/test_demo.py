"""The demo's quick mode end to end: every stage runs and leaves its output."""

import json
import math
from pathlib import Path

import numpy as np

from sonicmotion.cli import main
from sonicmotion.motion.score import path_delta_angle
from sonicmotion.spatial import Trajectory

REPO = Path(__file__).resolve().parents[1]


def test_quick_demo_runs_every_stage(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick", "--configs", str(REPO / "configs")]) == 0
    printed = capsys.readouterr().out
    assert "Retrieve and place (no training)" in printed and "(smoke-scale)" in printed
    for stage in ("corpus", "dataset", "prompts", "retrieval", "autoencoder", "transport", "descriptive",
                  "parametric", "words", "evaluate", "report"):
        assert (out / "stages" / f"{stage}.done").is_file(), stage
    runs = {p.name: p for p in (out / "runs").iterdir()}
    assert set(runs) == {"retrieve-and-place", "sonicmotion-descriptive", "sonicmotion-parametric",
                         "sonicmotion-parametric-pinned", "words-sm-p", "words-retrieve-and-place"}
    for name, run in runs.items():
        prompts = [json.loads(line) for line in (run / "prompts.jsonl").read_text().splitlines()]
        assert len(prompts) == 4 and all((run / f"{p['id']}.wav").is_file() for p in prompts)
        spatial = json.loads((run / "metrics.json").read_text())["metrics"]["spatial"]
        frame = spatial["frame"]["all"]
        assert frame["n"] == 4 and all(math.isfinite(frame[k]) for k in ("l1_azimuth", "l1_elevation", "delta_angle"))
        if name in ("retrieve-and-place", "sonicmotion-parametric-pinned"):
            assert frame["delta_angle"] < 3.0  # exact placement; direction pinned to the path
        # No paper embedding model here: the aisfx proxies stand in, for every row.
        metrics = json.loads((run / "metrics.json").read_text())["metrics"]
        assert metrics["fd"]["computed"] is False and metrics["kl"]["computed"] is False
        assert metrics["fd_aisfx"]["computed"] and metrics["kl_aisfx"]["computed"], name
        assert metrics["kl_aisfx"]["n"] == 4 and math.isfinite(metrics["fd_aisfx"]["value"])
    # Words -> path: the spatial captions alone; the path read from them, measured against the true path.
    assert "words → path → SM-P" in printed and "words → path → retrieve-and-place" in printed
    read = [json.loads(line) for line in (runs["words-retrieve-and-place"] / "prompts.jsonl").read_text().splitlines()]
    truth = [json.loads(line) for line in (out / "prompts.jsonl").read_text().splitlines()]
    assert [r["trajectory"] for r in read] == [r["trajectory"] for r in truth]  # evaluated against the true paths
    assert all(r["words_trajectory"] and r["content"] and r["retrieved"] for r in read)
    expected = np.mean([path_delta_angle(Trajectory.from_dict(r["words_trajectory"]), Trajectory.from_dict(r["trajectory"]))
                        for r in read])
    measured = json.loads((runs["words-retrieve-and-place"] / "metrics.json").read_text())["metrics"]["spatial"]
    assert abs(measured["frame"]["all"]["delta_angle"] - expected) < 3.0  # exact placement on the words' path
    table3 = json.loads((out / "autoencoder_metrics.json").read_text())
    assert math.isfinite(table3["stft"]) and math.isfinite(table3["spatial"]["frame"]["delta_angle"])
    parametric = json.loads((out / "parametric_autoencoder_metrics.json").read_text())
    assert parametric["spatial"]["frame"]["delta_angle"] < 2.0  # direction kept by construction, 4 steps in
    html = (out / "report.html").read_text()
    assert html.count("<audio") == 24 and "Smoke-scale model" in html
    assert html.count("FD proxy (aisfx)") == 6 and "FD*" in printed
    # A rerun reuses every finished stage.
    assert main(["demo", "--out", str(out), "--quick", "--configs", str(REPO / "configs")]) == 0
    assert capsys.readouterr().out.count("reused") == 11


def test_demo_seed_reaches_every_seed_it_sets(tmp_path, monkeypatch):
    """--seed S: corpus and dataset seed S, each training run its config's seed + S, clips S * 1000 + i.
    The stages' heavy callees are replaced by recorders: what is checked is what the demo hands them."""
    import shutil

    import pytest

    import sonicmotion.data.builder as builder
    import sonicmotion.data.synth as synth
    import sonicmotion.generation as generation
    import sonicmotion.pipeline as pipeline
    import sonicmotion.retrieval as retrieval
    import sonicmotion.training.workflows as workflows
    from sonicmotion.demo import QUICK, Demo, summary
    from sonicmotion.errors import SonicMotionError
    from sonicmotion.prompts import write_prompts

    seen: dict[str, list] = {}

    def record(key, value):
        seen.setdefault(key, []).append(value)

    def generate(generator, prompts, out, settings):
        record("clips", (out.name, settings.seed, settings.pin_path))
        out.mkdir(parents=True, exist_ok=True)
        return [{"retrieved": "x", "trajectory": None, "content": "a dog"} for _ in prompts]

    monkeypatch.setattr(synth, "write_clotho_corpus", lambda folder, takes, seed, held_out: record("corpus", seed))
    monkeypatch.setattr(builder, "build_from_corpora", lambda specs, out, config: record("dataset", config.seed))
    monkeypatch.setattr(workflows, "train_autoencoder",
                        lambda config, run, data, resume: record("autoencoder", (run.name, config.training.seed)))
    monkeypatch.setattr(workflows, "evaluate_autoencoder_run", lambda *args, **kwargs: None)
    monkeypatch.setattr(workflows, "encode_latents", lambda *args, **kwargs: None)
    monkeypatch.setattr(workflows, "train_diffusion", lambda config, autoencoder, data, run, overrides, resume:
                        record("diffusion", (Path(run).name, overrides["training.seed"])))
    monkeypatch.setattr(pipeline, "load_pipeline", lambda *args, **kwargs: None)
    monkeypatch.setattr(retrieval.SoundLibrary, "open", classmethod(lambda cls, *args, **kwargs: None))
    monkeypatch.setattr(retrieval, "RetrieveAndPlace", lambda library: None)
    monkeypatch.setattr(generation, "generate_prompts", generate)

    configs = tmp_path / "configs"
    shutil.copytree(REPO / "configs", configs)
    tiny = configs / "autoencoder" / "tiny.yaml"
    assert "  seed: 0\n" in tiny.read_text()
    tiny.write_text(tiny.read_text().replace("  seed: 0\n", "  seed: 5\n"))  # a config's own seed is kept, shifted

    out = tmp_path / "demo"
    demo = Demo(out, QUICK, configs, seed=3)
    demo.corpus()
    demo.build_dataset()
    write_prompts(out / "prompts.jsonl", [{"id": "a", "prompt": "a dog barks", "caption": "a dog barks",
                                           "spatial_caption": "a dog barks on the left",
                                           "trajectory": {"type": "static", "azimuth": 90.0, "elevation": 0.0},
                                           "seconds": 10.0}])
    demo.retrieval()
    demo.autoencoder()
    demo.transport()
    demo.diffusion("descriptive")
    demo.diffusion("parametric")
    demo.words()
    assert seen["corpus"] == [3] and seen["dataset"] == [3]
    assert seen["autoencoder"] == [("autoencoder", 8), ("transport", 3)]
    assert seen["diffusion"] == [("descriptive", 3), ("parametric", 3)]
    assert seen["clips"] == [("retrieve-and-place", 3000, False), ("sonicmotion-descriptive", 3000, False),
                             ("sonicmotion-parametric", 3000, False), ("sonicmotion-parametric-pinned", 3000, True),
                             ("words-sm-p", 3000, False), ("words-retrieve-and-place", 3000, False)]
    # The folder keeps its seed: another seed there would mix two demos' stages.
    assert json.loads((out / "demo.json").read_text()) == {"seed": 3}
    with pytest.raises(SonicMotionError, match="--seed 3"):
        Demo(out, QUICK, configs, seed=4)
    Demo(out, QUICK, configs, seed=3)
    # A folder from before --seed (stages done, no record) was made with seed 0.
    (out / "demo.json").unlink()
    (out / "stages" / "corpus.done").write_text("{}")
    with pytest.raises(SonicMotionError, match="--seed 0"):
        Demo(out, QUICK, configs, seed=1)
    Demo(out, QUICK, configs)
    assert json.loads((out / "demo.json").read_text()) == {"seed": 0}
    shutil.rmtree(out / "runs")
    (out / "runs").mkdir()
    assert "demo --seed 0" in summary(out)
    assert main(["demo", "--seed", "-1", "--out", str(tmp_path / "negative")]) == 2
    assert not (tmp_path / "negative").exists()
