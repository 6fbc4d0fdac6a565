"""The reproduction sequence of docs/evaluation.md, exactly as written there, at tiny scale
on the demo's synthetic corpus: tiny configs in place of the paper's, one process."""

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonicmotion.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "evaluation.md"


def doc_commands() -> tuple[dict[str, str], list[str]]:
    """(variables, command lines) of the doc's reproduce block."""
    block = DOC.read_text().split("<!-- reproduce:start -->")[1].split("<!-- reproduce:end -->")[0]
    variables, commands = {}, []
    for line in block.splitlines():
        line = line.split("  #")[0].strip()
        if not line or line.startswith(("#", "```")):
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


@pytest.mark.slow
def test_the_documented_sequence_reproduces_both_tables_at_tiny_scale(tmp_path, monkeypatch):
    import torch

    from sonicmotion.demo import QUICK, Demo

    torch.set_num_threads(1)
    demo = Demo(tmp_path / "demo", QUICK, Path("configs"))
    demo.corpus()
    demo.build_dataset()
    monkeypatch.chdir(tmp_path)
    variables, commands = doc_commands()
    assert set(variables) == {"DATA", "AE", "SMD", "SMP", "LAUNCH", "SAMPLING", "BASELINES"}
    assert variables["AE"] == "configs/autoencoder/paper.yaml"  # the doc names the paper's configs
    variables.update(DATA=str(demo.dataset), LAUNCH="sonicmotion", SAMPLING="--steps 2 --guidance 3",
                     BASELINES=str(tmp_path / "baselines"), **tiny_configs(tmp_path))
    baseline_made = False
    for command in commands:
        line = re.sub(r"\$([A-Z]+)", lambda m: variables[m.group(1)], command)
        argv = shlex.split(line)
        if argv[:2] == ["mkdir", "-p"]:
            for folder in argv[2:]:
                Path(folder).mkdir(parents=True, exist_ok=True)
            continue
        assert argv[0] == "sonicmotion", line
        if "--generated" in argv and "stable-audio-open" in line and not baseline_made:
            # Stand-in for clips made elsewhere: stereo files of SM-D's semantic clips' W.
            folder = tmp_path / "baselines" / "stable-audio-open"
            folder.mkdir(parents=True)
            for clip in sorted((tmp_path / "generated" / "sm-d-semantic").glob("*.wav")):
                w = sf.read(clip, dtype="float32")[0][:, 0]
                sf.write(folder / clip.name, np.stack([w, w], 1), 16000)
            baseline_made = True
        if argv[1:3] in (["train", "autoencoder"], ["train", "diffusion"], ["encode-latents"],
                         ["evaluate", "autoencoder"]) or argv[1] == "encode-latents":
            argv.append("--quiet")
        if argv[1:3] == ["evaluate", "generation"]:
            argv += ["--quiet", "--no-cache", "--workers", "1"]
        assert main(argv[1:]) == 0, line

    table3 = json.loads((tmp_path / "results" / "table3.json").read_text())
    assert table3["clips"] > 0 and table3["stft"] > 0
    table2 = (tmp_path / "results" / "table2.md").read_text().splitlines()
    rows = [line.split(" | ")[0] for line in table2 if line.startswith("| ") and not line.startswith("| Model")]
    assert rows == ["| SM-D", "| SM-P", "| Stable Audio Open"]
    # Columns: model, CLAP, FD, FAD, KL, L1(θ), L1(φ), Δangle, then the aisfx proxies (no paper model here).
    assert table2[0].endswith("| Δangle↓ | FD proxy (aisfx)↓ | KL proxy (aisfx)↓ |"), table2[0]
    sm_d = next(line for line in table2 if line.startswith("| SM-D")).split(" | ")
    assert re.fullmatch(r"\d+\.\d\d", sm_d[7]), sm_d  # SM-D's spatial columns came from the spatial-caption clips
    sao = next(line for line in table2 if line.startswith("| Stable Audio Open")).split(" | ")
    assert all(cell.startswith("n/a[") for cell in sao[5:8]), sao  # stereo: no direction
    assert all(re.fullmatch(r"\d+\.\d\d", cell.strip(" |")) for cell in sao[8:]), sao  # proxies: the mid signal
    test_ids = {json.loads(line)["id"] for line in (tmp_path / "prompts" / "semantic.jsonl").read_text().splitlines()}
    assert {p.stem for p in (tmp_path / "generated" / "sm-p").glob("*.wav")} == test_ids
