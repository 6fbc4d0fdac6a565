"""``evaluate generation`` writes the same metrics JSON and prints the same summary as the
outputs recorded in ``golden/`` (captured before the metrics became objects), for every way
a metric can be computed or not: all models, missing models (aisfx proxies), no reference,
``--embeddings`` paper/aisfx/all, a stereo baseline, one clip, unpaired ids, silence.

Structure, key order, strings and integers must match exactly; floats within 1e-4 relative
(the tiny models' float32 sums may differ in the last bits on another CPU). On the machine
that recorded them the files match byte for byte:
``python -m tests.evaluation.test_generation_golden --write`` rewrites them.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from sonicmotion.cli import main
from sonicmotion.spatial import Trajectory, encode_foa, write_foa
from sonicmotion.spatial.io import foa_from_bytes

from tests.evaluation.evaluation_helpers import synth_clip, write_prompts, write_set, write_shard

GOLDEN = Path(__file__).resolve().parent / "golden"
IDS = ["d", "a", "c", "b"]
SECONDS = 4.0


def build_sets(root: Path) -> None:
    """Every input folder the scenarios read, under ``root``."""
    import soundfile as sf

    write_set(root / "gen", IDS, SECONDS)
    (root / "ref").mkdir()
    write_shard(root / "ref" / "test-000000.tar", IDS, reverse=True, gain=1.0, seconds=SECONDS)
    (root / "other").mkdir()
    t = np.arange(int(SECONDS * 16000)) / 16000
    for k, clip_id in enumerate(IDS):
        mono = (0.3 * np.sin(2 * np.pi * (150.0 + 90.0 * k) * t)).astype(np.float32)
        write_foa(root / "other" / f"{clip_id}.wav", encode_foa(mono, 16000, Trajectory.static(0.0)), 16000, "fuma")
    write_prompts(root / "prompts.jsonl", IDS)
    write_prompts(root / "plain.jsonl", IDS, with_trajectory=False)
    (root / "stereo").mkdir()
    for i in IDS:
        p = foa_from_bytes((root / "gen" / f"{i}.wav").read_bytes(), i).pressure()
        sf.write(root / "stereo" / f"{i}.wav", np.stack([p, p], 1), 16000, subtype="FLOAT")
    write_set(root / "one", ["x"], 2.0)
    (root / "one-ref").mkdir()
    write_foa(root / "one-ref" / "x.wav", synth_clip(1, 2.0, rate=22050), 22050, "fuma")
    write_prompts(root / "one.jsonl", ["x"])
    write_set(root / "abc", ["a", "b", "c"], 2.0)
    write_set(root / "abx", ["a", "b", "x"], 2.0)
    write_prompts(root / "abc.jsonl", ["a", "b", "c"])
    write_set(root / "silent", ["a", "b"], 2.0)
    write_foa(root / "silent" / "z.wav", np.zeros((4, 32000), np.float32), 16000, "fuma")
    write_prompts(root / "silent.jsonl", ["a", "b", "z"])


# name -> (generated, prompts, reference or None, models "tiny" or "none", extra flags)
SCENARIOS = {
    "all": ("gen", "prompts.jsonl", "ref", "tiny", []),
    "other_reference": ("gen", "prompts.jsonl", "other", "tiny", ["--name", "SM-P"]),
    "no_models": ("gen", "prompts.jsonl", "ref", "none", []),
    "no_models_no_reference": ("gen", "prompts.jsonl", None, "none", []),
    "no_reference": ("gen", "plain.jsonl", None, "tiny", ["--metrics", "clap,fd,spatial"]),
    "paper_only_missing": ("gen", "prompts.jsonl", "ref", "none", ["--embeddings", "paper"]),
    "aisfx_only": ("gen", "prompts.jsonl", "ref", "tiny", ["--embeddings", "aisfx"]),
    "aisfx_no_reference": ("gen", "prompts.jsonl", None, "tiny", ["--embeddings", "aisfx", "--metrics", "kl,spatial"]),
    "all_embeddings": ("gen", "prompts.jsonl", "ref", "tiny", ["--embeddings", "all", "--metrics", "spatial,kl,fd"]),
    "stereo": ("stereo", "prompts.jsonl", "ref", "tiny", ["--name", "Stable Audio Open"]),
    "one_clip": ("one", "one.jsonl", "one-ref", "tiny", []),
    "unpaired": ("abc", "abc.jsonl", "abx", "tiny", ["--embeddings", "all", "--metrics", "kl,fad"]),
    "silent": ("silent", "silent.jsonl", "silent", "tiny", ["--metrics", "fad,spatial"]),
    "spatial_only": ("gen", "prompts.jsonl", None, "none", ["--metrics", "spatial"]),
}


def run_scenario(name: str, root: Path, models: Path, out: Path, capsys) -> tuple[str, str]:
    """(metrics JSON, printed output) of one scenario, with machine-specific text replaced."""
    generated, prompts, reference, model_set, extra = SCENARIOS[name]
    argv = ["evaluate", "generation", "--generated", str(root / generated), "--prompts", str(root / prompts),
            "--out", str(out / f"{name}.json"), "--models-dir", str(models if model_set == "tiny" else root / "none"),
            "--no-cache", "--quiet", "--workers", "1", *extra]
    if reference:
        argv += ["--reference", str(root / reference)]
    capsys.readouterr()
    assert main(argv) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
    report["software"] = {key: "*" for key in report["software"]}
    text = json.dumps(report, indent=1, ensure_ascii=False) + "\n"
    return normalise(text, root, models, out), normalise(printed, root, models, out)


def normalise(text: str, root: Path, models: Path, out: Path) -> str:
    import sysconfig

    # The aiSFX weights lie in the environment's site-packages, wherever that is installed.
    from huggingface_hub import constants

    site = sysconfig.get_paths()["purelib"]
    return (text.replace(str(out), "OUT").replace(str(models), "MODELS").replace(str(root), "ROOT")
            .replace(site, "SITE_PACKAGES").replace(str(constants.HF_HUB_CACHE), "HF_HUB_CACHE"))


NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?|-?\d+(?:e[-+]?\d+)?|NaN|-?Infinity")


def assert_same_text(actual: str, expected: str, where: str) -> None:
    """Equal apart from decimal numbers within 1e-4 relative (or one unit of the last printed digit)."""
    if actual == expected:
        return
    a_parts, e_parts = NUMBER.split(actual), NUMBER.split(expected)
    assert a_parts == e_parts, f"{where}: text differs\n--- expected\n{expected}\n--- actual\n{actual}"
    for a, e in zip(NUMBER.findall(actual), NUMBER.findall(expected)):
        if a == e:
            continue
        assert "." in e or "e" in e, f"{where}: integer {a} != {e}"
        last_digit = 10.0 ** -len(e.split(".")[1].split("e")[0]) if "." in e else 0.0
        assert math.isclose(float(a), float(e), rel_tol=1e-4, abs_tol=max(last_digit, 1e-6)), f"{where}: {a} != {e}"


@pytest.fixture(scope="module")
def golden_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("golden")
    build_sets(root)
    return root


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_output_matches_the_recorded_output(name, golden_sets, tiny_models, tmp_path, capsys):
    metrics, printed = run_scenario(name, golden_sets, tiny_models, tmp_path, capsys)
    assert_same_text(metrics, (GOLDEN / f"{name}.json").read_text(encoding="utf-8"), f"{name}.json")
    assert_same_text(printed, (GOLDEN / f"{name}.txt").read_text(encoding="utf-8"), f"{name}.txt")


def test_the_comparison_notices_a_changed_number_or_word():
    assert_same_text('{"value": 0.12345678}', '{"value": 0.12345679}', "same")
    with pytest.raises(AssertionError):
        assert_same_text('{"value": 0.1235}', '{"value": 0.1234}', "number")
    with pytest.raises(AssertionError):
        assert_same_text('{"n": 4}', '{"n": 3}', "integer")
    with pytest.raises(AssertionError):
        assert_same_text('{"reason": "a"}', '{"reason": "b"}', "word")


def _write_golden() -> None:  # pragma: no cover - run by hand to record the outputs
    import tempfile

    from tests.evaluation.evaluation_helpers import build_tiny_models

    class Capture:
        def __init__(self):
            import io

            self.io = io
            self.buffer = io.StringIO()
            self.saved = sys.stdout
            sys.stdout = self.buffer

        def readouterr(self):
            out = self.buffer.getvalue()
            self.buffer = self.io.StringIO()
            sys.stdout = self.buffer
            return type("Captured", (), {"out": out})()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_sets(tmp / "sets")
        models = build_tiny_models(tmp / "models")
        GOLDEN.mkdir(exist_ok=True)
        capture = Capture()
        try:
            for name in sorted(SCENARIOS):
                (tmp / name).mkdir()
                metrics, printed = run_scenario(name, tmp / "sets", models, tmp / name, capture)
                (GOLDEN / f"{name}.json").write_text(metrics, encoding="utf-8")
                (GOLDEN / f"{name}.txt").write_text(printed, encoding="utf-8")
        finally:
            sys.stdout = capture.saved


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python -m tests.evaluation.test_generation_golden --write")
    _write_golden()
