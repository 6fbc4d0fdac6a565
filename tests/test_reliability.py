"""The adversarial sweep of issue 27, one test per defect: inputs are never outputs, limits
are counted in samples and bytes before any work, sidecars check what they name, and every
bad input is one line with exit status 2 (no traceback), leaving nothing behind."""

import json

import numpy as np
import pytest
import soundfile as sf

from sonicmotion.cli import main
from tests.conftest import write_sound_library


def one_line_exit_2(argv, capsys, match: str) -> str:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    return err


@pytest.fixture
def library(tmp_path):
    """A manifest library of three 2 s recordings at 16 kHz in tmp_path/library."""
    (tmp_path / "library").mkdir()
    return write_sound_library(tmp_path / "library", seconds=2.0, rate=16000, kinds=("siren", "dog_bark", "rain"))


def unchanged(paths):
    return {p: p.read_bytes() for p in paths}


# --- 2. inputs overwritten -------------------------------------------------------------------------

def test_generate_output_over_a_retrieved_library_recording_is_refused(library, capsys):
    before = unchanged([library / "siren.wav", library / "manifest.jsonl"])
    one_line_exit_2(["generate", "a police siren", "--library", library, "-o", library / "siren.wav",
                     "--seconds", 1], capsys, "is one of this command's inputs")
    assert unchanged(before) == before


def test_generate_output_over_the_library_manifest_is_refused(library, tmp_path, capsys):
    # The manifest named like the prompts file a --prompts folder gets: writing it would replace the library.
    manifest = library / "prompts.jsonl"
    manifest.write_bytes((library / "manifest.jsonl").read_bytes())
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "x", "prompt": "rain"}) + "\n")
    before = unchanged([manifest])
    one_line_exit_2(["generate", "--prompts", tmp_path / "p.jsonl", "--library", manifest, "-o", library,
                     "--seconds", 1], capsys, "prompts.jsonl: is one of this command's inputs")
    assert unchanged(before) == before and not (library / "x.wav").exists()


def test_generate_prompts_folder_over_a_library_recording_is_refused(library, tmp_path, capsys):
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "siren", "prompt": "a police siren"}) + "\n")
    before = unchanged([library / "siren.wav"])
    one_line_exit_2(["generate", "--prompts", tmp_path / "p.jsonl", "--library", library, "-o", library,
                     "--seconds", 1], capsys, "is one of this command's inputs")
    assert unchanged(before) == before


def test_scene_library_output_over_a_retrieved_recording_is_refused(library, tmp_path, capsys):
    (tmp_path / "s.yaml").write_text("duration: 1\nlibrary: library\nsources:\n"
                                     "  - {name: a, prompt: a police siren, path: {type: static, azimuth: 30}}\n")
    before = unchanged([library / "siren.wav", library / "manifest.jsonl"])
    one_line_exit_2(["scene", "render", tmp_path / "s.yaml", "-o", library / "siren.wav"], capsys,
                    "is one of this command's inputs")
    assert unchanged(before) == before


def test_scene_stems_over_a_source_file_is_refused(tmp_path, capsys):
    stems = tmp_path / "stems"
    stems.mkdir()
    sf.write(stems / "00_a.wav", np.zeros(16000, np.float32), 16000)
    (tmp_path / "s.yaml").write_text("duration: 1\nsources:\n"
                                     "  - {name: a, file: stems/00_a.wav, path: {type: static, azimuth: 30}}\n")
    before = unchanged([stems / "00_a.wav"])
    one_line_exit_2(["scene", "render", tmp_path / "s.yaml", "-o", tmp_path / "o.wav", "--stems", stems], capsys,
                    "is one of this command's inputs")
    assert unchanged(before) == before and not (tmp_path / "o.wav").exists()


def _generated_folder(tmp_path):
    from sonicmotion.spatial import Trajectory, encode_foa, write_foa

    gen = tmp_path / "gen"
    gen.mkdir()
    path = Trajectory.static(30, 0)
    write_foa(gen / "c0.wav", encode_foa(np.ones(16000, np.float32) * 0.1, 16000, path), 16000, "fuma")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "c0", "prompt": "x", "trajectory": path.to_dict()}) + "\n")
    return gen, prompts


def test_evaluate_generation_out_over_its_prompts_file_is_refused(tmp_path, capsys):
    gen, prompts = _generated_folder(tmp_path)
    before = unchanged([prompts])
    one_line_exit_2(["evaluate", "generation", "--generated", gen, "--prompts", prompts, "--metrics", "spatial",
                     "--out", prompts], capsys, "is one of this command's inputs")
    assert unchanged(before) == before


def test_evaluate_generation_out_over_one_of_its_clips_is_refused(tmp_path, capsys):
    gen, prompts = _generated_folder(tmp_path)
    before = unchanged([gen / "c0.wav"])
    one_line_exit_2(["evaluate", "generation", "--generated", gen, "--prompts", prompts, "--metrics", "spatial",
                     "--out", gen / "c0.wav"], capsys, "is one of this command's inputs")
    assert unchanged(before) == before


# --- 4. library sidecars verified ------------------------------------------------------------------

def _render_with_library(library, tmp_path):
    (tmp_path / "s.yaml").write_text("duration: 1\nlibrary: library\nsources:\n"
                                     "  - {name: a, prompt: a police siren, path: {type: static, azimuth: 30}}\n")
    assert main(["scene", "render", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "out.wav")]) == 0
    return tmp_path / "out.render.json"


def test_rerendering_a_sidecar_after_the_manifest_changed_is_refused(library, tmp_path, capsys):
    sidecar = _render_with_library(library, tmp_path)
    with open(library / "manifest.jsonl", "a") as f:
        f.write("\n" + json.dumps({"path": "rain.wav", "caption": "a police siren, loud", "id": "other"}))
    capsys.readouterr()
    err = one_line_exit_2(["scene", "render", sidecar, "-o", tmp_path / "again.wav"], capsys,
                          "--allow-changed-library")
    assert "listing" in err and not (tmp_path / "again.wav").exists()
    assert main(["scene", "render", str(sidecar), "-o", str(tmp_path / "again.wav"), "--allow-changed-library"]) == 0
    assert "re-rendering anyway" in capsys.readouterr().err


def test_rerendering_a_sidecar_after_the_retrieved_recording_changed_is_refused(library, tmp_path, capsys):
    sidecar = _render_with_library(library, tmp_path)
    recording = json.loads(sidecar.read_text())["sources"][0]["retrieved"]["match"]
    assert len(recording["sha256"]) == 64
    sf.write(recording["file"], 0.5 * sf.read(recording["file"], dtype="float32")[0], 16000)
    capsys.readouterr()
    err = one_line_exit_2(["scene", "render", sidecar, "-o", tmp_path / "again.wav"], capsys, "siren.wav")
    assert "changed since the first render" in err and not (tmp_path / "again.wav").exists()
