"""The reproduction sequence of docs/evaluation.md, exactly as written there, at tiny scale
on the demo's synthetic corpus: tiny configs in place of the paper's, one process."""

import json
import re
import shlex
from pathlib import Path

import pytest

from sonicmotion.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "evaluation.md"


def doc_commands() -> tuple[dict[str, str], list[str]]:
    """(variables, command lines) of the doc's reproduce block (continued lines joined)."""
    block = DOC.read_text().split("<!-- reproduce:start -->")[1].split("<!-- reproduce:end -->")[0]
    block = block.replace("\\\n", " ")
    variables, commands = {}, []
    for line in block.splitlines():
        line = line.split("  #")[0].strip()
        if not line or line.startswith(("#", "```")) or line == "set -e":
            continue
        match = re.fullmatch(r"([A-Z]+)=(.*)", line)
        if match:
            variables[match.group(1)] = shlex.split(match.group(2))[0] if match.group(2) else ""
        else:
            commands.append(line)
    return variables, commands


def tiny_configs(folder: Path) -> dict[str, str]:
    configs = Path(__file__).resolve().parents[1] / "configs"
    ae = (configs / "autoencoder" / "tiny.yaml").read_text()
    ae = ae.replace("max_steps: 200", "max_steps: 2").replace("validate_every: 100", "validate_every: 2")
    (folder / "ae.yaml").write_text(ae)
    out = {"AE": str(folder / "ae.yaml")}
    for name, variable in (("descriptive", "SMD"), ("parametric", "SMP")):
        text = (configs / "diffusion" / f"{name}-tiny.yaml").read_text().replace("dit: tiny", "dit: tiny.yaml")
        text = re.sub(r"steps: \d+", "steps: 2", text)
        (folder / f"{name}.yaml").write_text(text)
        out[variable] = str(folder / f"{name}.yaml")
    (folder / "tiny.yaml").write_text((configs / "diffusion" / "dit" / "tiny.yaml").read_text())
    return out


def tiny_corpora(root: Path) -> dict[str, str]:
    """AudioCaps (one clip per split, laid out as the doc's block reads it) and WavCaps'
    FreeSound part (one clip), beside the demo's Clotho corpus."""
    import csv

    from tests.data.dataset_corpora import make_wavcaps, write_sound

    audiocaps = root / "audiocaps"
    for i, split in enumerate(("train", "val", "test")):
        (audiocaps / split).mkdir(parents=True)
        write_sound(audiocaps / split / f"yt{split}.wav", 3.0, 100 + i)
        with open(audiocaps / f"{split}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["audiocap_id", "youtube_id", "start_time", "caption"])
            writer.writerow([10 + i, f"yt{split}", 30, f"A car passes by {i}"])
    make_wavcaps(root / "wavcaps", count=1)
    return {"AUDIOCAPS": str(audiocaps), "WAVCAPS": str(root / "wavcaps")}


@pytest.mark.slow
def test_the_documented_sequence_reproduces_both_tables_at_tiny_scale(tmp_path, monkeypatch, capsys):
    import torch

    from sonicmotion.demo import QUICK, Demo
    from tests.baseline_fixtures import tiny_audioldm2, tiny_stable_audio_open

    torch.set_num_threads(1)
    demo = Demo(tmp_path / "demo", QUICK, Path("configs"))
    demo.corpus()
    monkeypatch.chdir(tmp_path)
    variables, commands = doc_commands()
    assert set(variables) == {"CLOTHO", "AUDIOCAPS", "WAVCAPS", "DATA", "MODELS", "AE", "SMD", "SMP", "LAUNCH",
                              "SAMPLING", "BASELINES"}
    assert variables["AE"] == "configs/autoencoder/paper.yaml"  # the doc names the paper's configs
    models = tmp_path / "models"
    tiny_audioldm2(models / "audioldm2")  # the baselines' folders, tiny and random, where the block looks
    tiny_stable_audio_open(models / "stable-audio-open")
    variables.update(CLOTHO=str(tmp_path / "demo" / "corpus"), **tiny_corpora(tmp_path / "corpora"),
                     DATA=str(tmp_path / "dataset"), MODELS=str(models), LAUNCH="sonicmotion",
                     SAMPLING="--steps 2 --guidance 3", BASELINES=str(tmp_path / "baselines"), **tiny_configs(tmp_path))
    for command in commands:
        line = re.sub(r"\$([A-Z]+)", lambda m: variables[m.group(1)], command)
        argv = shlex.split(line)
        if argv[:2] == ["mkdir", "-p"]:
            for folder in argv[2:]:
                Path(folder).mkdir(parents=True, exist_ok=True)
            continue
        assert argv[0] == "sonicmotion", line
        if argv[1:3] == ["weights", "check"]:
            # No CLAP, VGGish or CNN14 offline: the check names exactly them and exits 2; the
            # block goes on here (the aiSFX proxies stand in) where 'set -e' would stop it.
            capsys.readouterr()
            assert main(argv[1:]) == 2, line
            summary = capsys.readouterr().out.splitlines()[-1]
            assert summary.startswith("table2: ") and summary.endswith("missing: CLAP, VGGish, CNN14"), summary
            continue
        if argv[1:3] == ["dataset", "build"]:
            argv[argv.index("--workers") + 1] = "1"
            argv += ["--no-progress", "--no-plots"]
        if argv[1:3] in (["train", "autoencoder"], ["train", "diffusion"], ["encode-latents"],
                         ["evaluate", "autoencoder"]) or argv[1] == "encode-latents":
            argv.append("--quiet")
        if argv[1] == "baseline":
            argv += ["--steps", "2", "--device", "cpu", "--quiet"]
        if argv[1:3] == ["evaluate", "generation"]:
            argv[argv.index("--device") + 1] = "cpu"
            argv += ["--quiet", "--no-cache", "--workers", "1"]
        assert main(argv[1:]) == 0, line

    table3 = json.loads((tmp_path / "results" / "table3.json").read_text())
    assert table3["clips"] > 0 and table3["stft"] > 0
    table2 = (tmp_path / "results" / "table2.md").read_text().splitlines()
    rows = [line.split(" | ")[0] for line in table2 if line.startswith("| ") and not line.startswith("| Model")]
    assert rows == ["| SM-D", "| SM-P", "| AudioLDM 2", "| Stable Audio Open"]
    # Columns: model, CLAP, FD, FAD, KL, L1(θ), L1(φ), Δangle at sample resolution (the paper's), the same
    # three at frame resolution, then the aisfx proxies (no paper model here).
    assert table2[0].endswith("| Δangle↓ | L1(θ)↓ frame | L1(φ)↓ frame | Δangle↓ frame | FD proxy (aisfx)↓ "
                              "| KL proxy (aisfx)↓ |"), table2[0]
    sm_d = next(line for line in table2 if line.startswith("| SM-D")).split(" | ")
    assert all(re.fullmatch(r"\d+\.\d\d", cell) for cell in sm_d[5:11]), sm_d  # from the spatial-caption clips
    for name, rate, channels in (("AudioLDM 2", 16000, 1), ("Stable Audio Open", 1600, 2)):
        row = next(line for line in table2 if line.startswith(f"| {name}")).split(" | ")
        assert all(cell.startswith("n/a[") for cell in row[5:11]), row  # mono / stereo: no direction
        assert all(re.fullmatch(r"\d+\.\d\d", cell.strip(" |")) for cell in row[11:]), row  # proxies
        report = json.loads((tmp_path / "results" / ("audioldm2.json" if channels == 1 else "sao.json")).read_text())
        assert report["generated"]["channels"] == channels and report["generated"]["sample_rates"] == {
            str(rate): report["generated"]["clips"]}
    test_ids = {json.loads(line)["id"] for line in (tmp_path / "prompts" / "semantic.jsonl").read_text().splitlines()}
    assert {p.stem for p in (tmp_path / "generated" / "sm-p").glob("*.wav")} == test_ids
