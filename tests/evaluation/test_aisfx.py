"""The aisfx proxy metrics on the real weights shipped in the aisfx wheel (installed by make)."""

import json

import numpy as np
import pytest

from sonicmotion.cli import main
from sonicmotion.data.synth import SOUNDS
from sonicmotion.errors import SonicMotionError
from sonicmotion.evaluation import embeddings
from sonicmotion.evaluation.taggers import AISFX_SAMPLE_RATE, aisfx_blocks, htk_sum_mel_matrix
from sonicmotion.spatial import Trajectory, encode_foa, write_foa

KINDS = ("siren", "rain", "dog_bark", "bell")


def _sound(kind, seconds, rate, take):
    make = SOUNDS[kind]
    return make(seconds, rate, seed=100 + take).astype(np.float32)


@pytest.fixture(scope="module")
def aisfx():
    return embeddings.load_aisfx()


def test_front_end_settings():
    weights = htk_sum_mel_matrix(44100, 2048, 96, 0.0, 22050.0)
    assert weights.shape == (1025, 96) and np.allclose(weights.sum(axis=0), 1.0)
    centres = np.argmax(weights, axis=0)
    assert np.all(np.diff(centres) >= 0) and centres[-1] > 900  # HTK scale up to Nyquist
    blocks = aisfx_blocks(np.random.default_rng(0).standard_normal(10 * AISFX_SAMPLE_RATE))
    # 431 frames of hop 1024 (centred), blocks of 100 every 50, the partial one dropped
    assert blocks.shape == (7, 100, 96) and blocks.dtype == np.float32
    assert 0.2 < float(blocks.mean()) < 1.0  # log10(1e4 x + 1) / 9.458 of unit-peak noise
    # Scale does not matter (peak-normalised input); a short clip gives one padded block.
    loud = aisfx_blocks(3.0 * np.random.default_rng(0).standard_normal(10 * AISFX_SAMPLE_RATE))
    assert np.allclose(loud, blocks, atol=1e-6)
    assert aisfx_blocks(np.ones(5000)).shape == (1, 100, 96)


def test_different_sound_kinds_land_farther_apart_than_takes_of_one_kind(aisfx):
    assert aisfx.settings["proxy"] and "69 UCS categories" in aisfx.settings["categories"]
    clips = {(kind, take): _sound(kind, 4.0, AISFX_SAMPLE_RATE, take) for kind in KINDS for take in range(2)}
    arrays = aisfx.embed(list(clips.values()))
    assert arrays[0].shape == (2, 512 + 69)  # 4 s = 173 frames: two blocks of 100 frames every 50
    unit = {}
    for key, array in zip(clips, arrays):
        mean = array[:, :512].mean(axis=0)
        unit[key] = mean / np.linalg.norm(mean)
    same = [np.linalg.norm(unit[(k, 0)] - unit[(k, 1)]) for k in KINDS]
    other = [np.linalg.norm(unit[(a, i)] - unit[(b, j)]) for a in KINDS for b in KINDS if a < b
             for i in range(2) for j in range(2)]
    assert max(same) < min(other), (same, other)
    # The category distributions differ between kinds too (softmax over 69 classes).
    probabilities = {key: np.exp(a[:, 512:] - a[:, 512:].max(axis=1, keepdims=True)) for key, a in zip(clips, arrays)}
    tops = {kind: int(np.argmax(probabilities[(kind, 0)].sum(axis=0))) for kind in KINDS}
    assert len(set(tops.values())) >= 2


def test_missing_or_foreign_weights_name_the_wheel(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "aisfx" else real(name, *a))
    with pytest.raises(embeddings.ModelMissing, match="pip install --no-deps aisfx==0.1.2"):
        embeddings.load_aisfx()
    monkeypatch.setattr(importlib.util, "find_spec", real)
    monkeypatch.setattr(embeddings, "AISFX_SHA256", "0" * 64)
    with pytest.raises(SonicMotionError, match="not the aisfx 0.1.2 checkpoint"):
        embeddings.load_aisfx()


def _write_set(folder, kinds, take):
    folder.mkdir()
    path = Trajectory.static(30.0, 0.0)
    for i, kind in enumerate(kinds):
        write_foa(folder / f"c{i}.wav", encode_foa(0.5 * _sound(kind, 3.0, 16000, take), 16000, path), 16000, "fuma")


def test_proxy_fd_and_kl_from_the_command_line(tmp_path, capsys):
    _write_set(tmp_path / "ref", KINDS, take=0)
    _write_set(tmp_path / "same", KINDS, take=1)  # other takes of the same kinds, same ids
    _write_set(tmp_path / "wrong", KINDS[::-1], take=1)  # every id gets another kind
    with open(tmp_path / "p.jsonl", "w") as f:
        for i, kind in enumerate(KINDS):
            f.write(json.dumps({"id": f"c{i}", "prompt": kind, "caption": kind}) + "\n")
    results = {}
    for name in ("same", "wrong"):
        out = tmp_path / f"{name}.json"
        assert main(["evaluate", "generation", "--generated", str(tmp_path / name), "--reference", str(tmp_path / "ref"),
                     "--prompts", str(tmp_path / "p.jsonl"), "--out", str(out), "--embeddings", "aisfx", "--no-cache",
                     "--quiet", "--models-dir", str(tmp_path / "none")]) == 0
        results[name] = json.loads(out.read_text())["metrics"]
    same, wrong = results["same"], results["wrong"]
    assert same["fd"]["computed"] is False and "--embeddings aisfx" in same["fd"]["reason"]
    assert same["fd_aisfx"]["computed"] and same["kl_aisfx"]["n"] == 4
    assert wrong["kl_aisfx"]["value"] > 2 * same["kl_aisfx"]["value"]
    # Same set of kinds, other order: the Gaussian of blocks barely moves; the paired KL does.
    assert abs(wrong["fd_aisfx"]["value"] - same["fd_aisfx"]["value"]) < 0.5 * max(same["fd_aisfx"]["value"], 1e-9) + 1e-6
    printed = capsys.readouterr().out
    assert "FD proxy (aisfx)" in printed and "KL proxy (aisfx)↓" in printed
