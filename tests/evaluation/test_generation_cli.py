"""``sonicmotion evaluate generation`` / ``evaluate table`` end to end with tiny models."""

import json
import random

import numpy as np
import pytest

from sonicmotion.cli import main
from sonicmotion.evaluation.embeddings import load_clap, load_cnn14
from sonicmotion.evaluation.kl import paired_kl
from sonicmotion.spatial.io import foa_from_bytes
from sonicmotion.spatial import Trajectory, encode_foa, write_foa

from tests.evaluation.evaluation_helpers import CAPTIONS, synth_clip, write_prompts, write_set, write_shard

IDS = ["d", "a", "c", "b"]  # generated files list as a, b, c, d; the shard holds them reversed
SECONDS = 4.0


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("sets")
    write_set(root / "gen", IDS, SECONDS)
    (root / "ref").mkdir()
    write_shard(root / "ref" / "test-000000.tar", IDS, reverse=True, gain=1.0, seconds=SECONDS)
    (root / "other").mkdir()
    for k, clip_id in enumerate(IDS):  # other sounds: steady tones, unlike sirens and knocks
        rate = 16000
        t = np.arange(int(SECONDS * rate)) / rate
        mono = (0.3 * np.sin(2 * np.pi * (150.0 + 90.0 * k) * t)).astype(np.float32)
        write_foa(root / "other" / f"{clip_id}.wav", encode_foa(mono, rate, Trajectory.static(0.0)), rate, "fuma")
    prompts = write_prompts(root / "prompts.jsonl", IDS)
    lines = prompts.read_text().splitlines()
    random.Random(0).shuffle(lines)
    prompts.write_text("\n".join(lines) + "\n")
    return root


def evaluate(sets, tiny_models, tmp_path, *extra, reference="ref", out="m.json"):
    argv = ["evaluate", "generation", "--generated", str(sets / "gen"), "--prompts", str(sets / "prompts.jsonl"),
            "--out", str(tmp_path / out), "--models-dir", str(tiny_models), "--cache-dir", str(tmp_path / "cache"),
            "--quiet", "--workers", "1", *extra]
    if reference:
        argv += ["--reference", str(sets / reference)]
    code = main(argv)
    return code, (json.loads((tmp_path / out).read_text()) if code == 0 else None)


def test_all_metrics_pair_by_id_and_match_direct_computation(sets, tiny_models, tmp_path, capsys):
    code, report = evaluate(sets, tiny_models, tmp_path)
    assert code == 0
    metrics = report["metrics"]
    assert all(metrics[m]["computed"] for m in ("clap", "fd", "fad", "kl", "spatial")), metrics
    # Same audio under the same ids (reference shard in reverse order): paired KL ~ 0 and
    # FD ~ 0; pairing by position would give a clearly positive KL.
    assert metrics["kl"]["value"] < 1e-6 and metrics["kl"]["n"] == 4
    assert metrics["fd"]["value"] < 1e-5 and metrics["fad"]["value"] < 1e-5
    tagger = load_cnn14(tiny_models)
    gen_audio = {i: foa_from_bytes((sets / "gen" / f"{i}.wav").read_bytes(), i).pressure() for i in sorted(IDS)}
    logits = {i: tagger.embed([gen_audio[i]])[0] for i in sorted(IDS)}
    by_position = paired_kl(np.stack([logits[i] for i in sorted(IDS)]), np.stack([logits[i] for i in IDS]))
    assert by_position.mean() > 1000 * max(metrics["kl"]["value"], 1e-9)
    # CLAP score: each clip against its own caption, whatever the prompts file's line order.
    from sonicmotion.audio import resample

    clap = load_clap(tiny_models)
    audio = np.stack([clap.embed([resample(gen_audio[i], 16000, 48000)])[0] for i in sorted(IDS)])
    text = clap.embed_text([CAPTIONS[IDS.index(i) % 4] for i in sorted(IDS)])
    assert metrics["clap"]["value"] == pytest.approx(float(np.mean(np.sum(audio * text, axis=1))), abs=1e-5)
    # Clips were rendered on their requested paths.
    assert metrics["spatial"]["frame"]["all"]["delta_angle"] < 0.5
    assert metrics["spatial"]["frame"]["static"]["n"] == 2 and metrics["spatial"]["sample"]["moving"]["n"] == 2
    out = capsys.readouterr().out
    assert "CLAP score" in out and "spatial frame  all" in out


def test_a_different_reference_gives_positive_distances(sets, tiny_models, tmp_path):
    code, report = evaluate(sets, tiny_models, tmp_path, reference="other")
    assert code == 0
    assert report["metrics"]["fd"]["value"] > 1e-3 and report["metrics"]["fad"]["value"] > 1e-3
    assert report["metrics"]["kl"]["value"] > 1e-4


def test_missing_models_are_not_computed_and_spatial_still_runs(sets, tmp_path, capsys):
    code, report = evaluate(sets, tmp_path / "no-models", tmp_path)
    assert code == 0
    metrics = report["metrics"]
    assert "vggish.pth" in metrics["fad"]["reason"] and metrics["fad"]["value"] is None
    assert "Cnn14_16k_mAP=0.438.pth" in metrics["kl"]["reason"]
    assert "CLAP model 'laion/clap-htsat-unfused' (CLAP score, FD): not found" in metrics["clap"]["reason"]
    assert metrics["fd"]["reason"] == metrics["clap"]["reason"]
    assert metrics["spatial"]["computed"] and metrics["spatial"]["n"] == 4
    # The line 'sonicmotion weights check' prints for the same file.
    assert f"not computed: {metrics['fad']['reason']}" in capsys.readouterr().out


def test_no_reference_and_no_trajectories(sets, tiny_models, tmp_path):
    write_prompts(tmp_path / "p.jsonl", IDS, with_trajectory=False)
    code = main(["evaluate", "generation", "--generated", str(sets / "gen"), "--prompts", str(tmp_path / "p.jsonl"),
                 "--out", str(tmp_path / "m.json"), "--models-dir", str(tiny_models), "--no-cache", "--quiet",
                 "--metrics", "clap,fd,spatial"])
    assert code == 0
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["metrics"]["clap"]["computed"]
    assert report["metrics"]["fd"]["reason"] == "no reference set given (--reference)"
    assert "no requested trajectory" in report["metrics"]["spatial"]["reason"]
    assert set(report["metrics"]) == {"clap", "fd", "spatial"}


def test_fewer_than_two_clips_and_resampled_clips_are_reported(tiny_models, tmp_path):
    write_set(tmp_path / "gen", ["x"], 2.0)
    write_foa(tmp_path / "ref.wav", synth_clip(0, 2.0), 16000, "fuma")
    (tmp_path / "refs").mkdir()
    write_foa(tmp_path / "refs" / "x.wav", synth_clip(1, 2.0, rate=22050), 22050, "fuma")
    write_prompts(tmp_path / "p.jsonl", ["x"])
    code = main(["evaluate", "generation", "--generated", str(tmp_path / "gen"), "--prompts", str(tmp_path / "p.jsonl"),
                 "--reference", str(tmp_path / "refs"), "--out", str(tmp_path / "m.json"), "--models-dir",
                 str(tiny_models), "--no-cache", "--quiet"])
    assert code == 0
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["metrics"]["fd"]["computed"] is False
    assert "a covariance needs at least 2" in report["metrics"]["fd"]["reason"]
    assert report["metrics"]["fad"]["computed"]  # two 0.96 s VGGish examples per clip
    assert any("22050 Hz" in note and "resampled" in note for note in report["notes"])


def test_bad_inputs_exit_2_with_one_line(sets, tiny_models, tmp_path, capsys):
    write_prompts(tmp_path / "p.jsonl", IDS + ["e"])
    code = main(["evaluate", "generation", "--generated", str(sets / "gen"), "--prompts", str(tmp_path / "p.jsonl"),
                 "--out", str(tmp_path / "m.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert "1 (e.g. 'e') prompts have no generated file" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.json").exists()
    assert main(["evaluate", "generation", "--generated", str(sets / "gen"), "--prompts",
                 str(sets / "prompts.jsonl"), "--out", str(tmp_path / "m.json"), "--metrics", "clap,fid"]) == 2
    assert "unknown metric(s) fid" in capsys.readouterr().err
    assert main(["evaluate", "generation", "--generated", str(sets / "gen"), "--prompts",
                 str(sets / "prompts.jsonl"), "--out", str(tmp_path / "m.json"), "--device", "nonsense"]) == 2
    assert "--device 'nonsense' is not usable here" in capsys.readouterr().err
    assert main(["evaluate", "table", str(sets / "prompts.jsonl")]) == 2
    assert "cannot read metrics JSON" in capsys.readouterr().err


def test_table_layout_for_several_runs(sets, tiny_models, tmp_path, capsys):
    evaluate(sets, tiny_models, tmp_path, "--name", "SM-P", out="a.json")
    evaluate(sets, tmp_path / "no-models", tmp_path, "--name", "SM-D", out="b.json")
    capsys.readouterr()
    assert main(["evaluate", "table", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                 "--out", str(tmp_path / "t.md")]) == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    # SM-D has none of the paper's models: the aisfx proxies stand in, in columns of their own.
    # The paper's spatial columns at sample resolution, the frame figures beside them, named.
    assert lines[0] == ("| Model | CLAP↑ | FD↓ | FAD↓ | KL↓ | L1(θ)↓ | L1(φ)↓ | Δangle↓ | L1(θ)↓ frame | L1(φ)↓ frame "
                        "| Δangle↓ frame | FD proxy (aisfx)↓ | KL proxy (aisfx)↓ |")
    a = json.loads((tmp_path / "a.json").read_text())["metrics"]
    b = json.loads((tmp_path / "b.json").read_text())["metrics"]
    row_a, row_b = lines[2].split(" | "), lines[3].split(" | ")
    assert row_a[:2] == ["| SM-P", f"{a['clap']['value']:.2f}"]
    assert row_a[5] == f"{a['spatial']['sample']['all']['l1_azimuth']:.2f}"
    assert row_a[7] == f"{a['spatial']['sample']['all']['delta_angle']:.2f}"
    assert row_a[10] == f"{a['spatial']['frame']['all']['delta_angle']:.2f}" and row_a[11].startswith("–[")
    assert a["spatial"]["sample"]["all"]["delta_angle"] != a["spatial"]["frame"]["all"]["delta_angle"]
    assert "sample resolution (per-sample intensity, the paper's §2.7.1)" in table
    assert "fd_aisfx" not in a  # the paper's models were all there
    assert all(cell.startswith("–[") for cell in row_b[1:5])
    assert b["fd_aisfx"]["label"] == "FD proxy (aisfx)" and b["fd_aisfx"]["proxy"] == "aisfx"
    assert row_b[11:] == [f"{b['fd_aisfx']['value']:.2f}", f"{b['kl_aisfx']['value']:.2f} |"]
    assert main(["evaluate", "table", str(tmp_path / "a.json"), "--resolution", "frame"]) == 0
    frame = capsys.readouterr().out.splitlines()
    assert frame[0].endswith("| Δangle↓ |") and frame[2].split(" | ")[7].strip(" |") == row_a[10]
    assert "Proxy columns use the aiSFX" in table
    assert any("] SM-D, fad: VGGish weights (FAD): not found" in line for line in lines)
    assert (tmp_path / "t.md").read_text() == table


def test_silent_clips_are_named_not_hidden(tiny_models, tmp_path, capsys):
    write_set(tmp_path / "gen", ["a", "b"], 2.0)
    write_foa(tmp_path / "gen" / "z.wav", np.zeros((4, 32000), np.float32), 16000, "fuma")
    write_prompts(tmp_path / "p.jsonl", ["a", "b", "z"])
    code = main(["evaluate", "generation", "--generated", str(tmp_path / "gen"), "--prompts", str(tmp_path / "p.jsonl"),
                 "--reference", str(tmp_path / "gen"), "--out", str(tmp_path / "m.json"), "--models-dir",
                 str(tiny_models), "--no-cache", "--quiet", "--metrics", "fad,spatial"])
    assert code == 0
    report = json.loads((tmp_path / "m.json").read_text())
    assert "generated: 1 silent clip(s) (e.g. z)" in report["notes"]
    spatial = report["metrics"]["spatial"]
    assert spatial["n"] == 2 and spatial["not_computed"][0]["id"] == "z"
    assert "silent" in spatial["not_computed"][0]["reason"]
    assert "1 clip(s) not judged, e.g. z: no active frames to compare: the audio is silent" in capsys.readouterr().out


def test_kl_needs_every_generated_id_in_the_reference(tiny_models, tmp_path):
    write_set(tmp_path / "gen", ["a", "b", "c"], 2.0)
    write_set(tmp_path / "ref", ["a", "b", "x"], 2.0)
    write_prompts(tmp_path / "p.jsonl", ["a", "b", "c"])
    code = main(["evaluate", "generation", "--generated", str(tmp_path / "gen"), "--prompts", str(tmp_path / "p.jsonl"),
                 "--reference", str(tmp_path / "ref"), "--out", str(tmp_path / "m.json"), "--models-dir",
                 str(tiny_models), "--no-cache", "--quiet", "--metrics", "kl,fad"])
    assert code == 0
    metrics = json.loads((tmp_path / "m.json").read_text())["metrics"]
    assert metrics["kl"]["computed"] is False
    assert "1 (e.g. 'c') generated ids have no reference clip of the same id" in metrics["kl"]["reason"]
    assert metrics["fad"]["computed"]  # distributions need no pairing


def test_a_stereo_baseline_fills_the_semantic_columns_only_and_rows_merge_by_name(sets, tiny_models, tmp_path,
                                                                                   capsys):
    import soundfile as sf

    baseline = tmp_path / "baseline"
    baseline.mkdir()
    for i in IDS:  # a stereo file whose mid is the FOA clip's pressure: the same sound, no direction
        p = foa_from_bytes((sets / "gen" / f"{i}.wav").read_bytes(), i).pressure()
        sf.write(baseline / f"{i}.wav", np.stack([p, p], 1), 16000, subtype="FLOAT")
    argv = ["evaluate", "generation", "--generated", str(baseline), "--prompts", str(sets / "prompts.jsonl"),
            "--reference", str(sets / "ref"), "--models-dir", str(tiny_models), "--no-cache", "--quiet",
            "--name", "Stable Audio Open", "--out", str(tmp_path / "sao.json")]
    assert main(argv) == 0
    sao = json.loads((tmp_path / "sao.json").read_text())
    assert sao["generated"]["channels"] == 2 and sao["metrics"]["spatial"]["not_applicable"]
    assert "stereo" in sao["metrics"]["spatial"]["reason"]
    code, foa = evaluate(sets, tiny_models, tmp_path, out="foa.json")
    for metric in ("clap", "fd", "fad", "kl"):  # the same pressure signal -> the same semantic numbers
        assert sao["metrics"][metric]["value"] == pytest.approx(foa["metrics"][metric]["value"], abs=1e-4), metric
    # Two reports named alike are one row: semantic columns from one, spatial from the other.
    spatial_only = tmp_path / "spatial.json"
    assert main(["evaluate", "generation", "--generated", str(sets / "gen"), "--prompts", str(sets / "prompts.jsonl"),
                 "--metrics", "spatial", "--quiet", "--workers", "1", "--name", "Stable Audio Open",
                 "--out", str(spatial_only)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "table", str(tmp_path / "sao.json")]) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert row.startswith(f"| Stable Audio Open | {sao['metrics']['clap']['value']:.2f} |")
    assert row.endswith("| n/a[1] | n/a[1] | n/a[1] |")
    assert main(["evaluate", "table", str(tmp_path / "sao.json"), str(spatial_only)]) == 0
    lines = capsys.readouterr().out.splitlines()
    merged = json.loads(spatial_only.read_text())["metrics"]["spatial"]["frame"]["all"]["delta_angle"]
    assert len([line for line in lines if line.startswith("| Stable Audio Open")]) == 1
    assert lines[2].endswith(f"| {merged:.2f} |")
