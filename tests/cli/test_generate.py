import argparse
import json

import numpy as np
import pytest
import torch

from sonicmotion.cli import main
from sonicmotion.cli.train_diffusion import register_train
from sonicmotion.models.config import DiffusionModelConfig, DiTConfig, PositionConfig
from sonicmotion.models.diffusion_model import ConditionedDiffusionModel
from sonicmotion.models.pretransform import load_pretransform
from sonicmotion.models.text import load_text_encoder
from sonicmotion.pipeline import SonicMotionPipeline
from sonicmotion.spatial import read_foa

DIT = DiTConfig(width=32, depth=1, heads=4, mlp_ratio=2.0, timestep_features=16, cond_dim=32)
POSITION = PositionConfig(azimuth_bins=12, elevation_bins=7, time_steps=8, layers=1, heads=2)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def make_model(folder, variant, position=POSITION):
    torch.manual_seed(0)
    config = DiffusionModelConfig(variant=variant, dit=DIT, position=position, text_max_length=8,
                                  pretransform="patch:64:8", sample_seconds=0.5, frame_multiple=1, max_seconds=4.0)
    pre, info = load_pretransform(config.pretransform)
    text = load_text_encoder("minilm", 8)
    model = ConditionedDiffusionModel(config, text.dim, pre.latent_channels)
    torch.nn.init.normal_(model.dit.proj_out.weight, std=0.05)
    SonicMotionPipeline(model, text, pre, info).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    torch.set_num_threads(1)
    return {v: make_model(root / v, v) for v in ("parametric", "descriptive")}


FAST = ["--seconds", "0.5", "--steps", "2", "--guidance", "2"]


def test_generate_writes_foa_in_the_asked_layout(tmp_path, models):
    out = tmp_path / "siren.wav"
    assert main(["generate", "a siren", "--model", str(models["parametric"]), "-o", str(out),
                 "--azimuth", "90", "--to-azimuth", "-90", "--direction", "cw", *FAST]) == 0
    foa = read_foa(out)
    assert foa.samples.shape == (4, 8000) and foa.sample_rate == 16000 and foa.layout.name == "fuma"
    amb = tmp_path / "siren_ambix.wav"
    assert main(["generate", "a siren", "--model", str(models["parametric"]), "-o", str(amb),
                 "--azimuth", "90", "--to-azimuth", "-90", "--direction", "cw", "--layout", "ambix", *FAST]) == 0
    ambix = read_foa(amb)
    assert ambix.layout.name == "ambix"
    # same seed: AmbiX W = sqrt(2) x FuMa W
    assert np.allclose(ambix.samples[0], np.sqrt(2) * foa.samples[0], atol=1e-6)


@pytest.mark.parametrize(
    "args, message",
    [
        (["a siren", "--model", "{descriptive}", "--azimuth", "30"], "descriptive model"),
        (["   ", "--model", "{parametric}"], "prompt is empty"),
        (["a siren", "--model", "{missing}"], "does not exist"),
        (["a siren", "--model", "{not_a_model}"], "not a SonicMotion diffusion model"),
    ],
)
def test_generate_errors_leave_no_file(tmp_path, models, capsys, args, message):
    (tmp_path / "not_a_model").mkdir()
    paths = {"descriptive": models["descriptive"], "parametric": models["parametric"],
             "missing": tmp_path / "missing", "not_a_model": tmp_path / "not_a_model"}
    out = tmp_path / "out.wav"
    argv = ["generate", *[a.format(**paths) for a in args], "-o", str(out), *FAST]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_generate_from_prompts_file(tmp_path, models):
    prompts = tmp_path / "prompts.jsonl"
    rows = [{"id": "a", "prompt": "a siren", "trajectory": {"type": "static", "azimuth": 45.0, "elevation": 0.0}},
            {"id": "b", "prompt": "a dog barks", "caption": "a dog barks"}]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "gen"
    assert main(["generate", "--prompts", str(prompts), "--model", str(models["parametric"]), "-o", str(out), *FAST]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.wav", "b.wav", "prompts.jsonl"]
    written = [json.loads(line) for line in (out / "prompts.jsonl").read_text().splitlines()]
    assert written[0]["trajectory"]["azimuth"] == 45.0 and written[1]["caption"] == "a dog barks"
    assert written[0]["seconds"] == 0.5
    # clip "a" equals the single-prompt command with seed 0 + 0
    single = tmp_path / "single.wav"
    assert main(["generate", "a siren", "--model", str(models["parametric"]), "-o", str(single), "--azimuth", "45", *FAST]) == 0
    assert np.allclose(read_foa(single).samples, read_foa(out / "a.wav").samples, atol=1e-5)


def test_a_distance_path_reaches_a_model_with_distance_rows_and_one_without_notes_it_once(tmp_path, models, capsys):
    from dataclasses import replace

    model = str(models["parametric"])
    move = ["--azimuth", "30", "--to-azimuth", "-30", "--direction", "cw"]
    approach = [*move, "--distance", "20", "--to-distance", "2"]
    assert main(["generate", "a car", "--model", model, "-o", str(tmp_path / "plane.wav"), *move, *FAST]) == 0
    assert "distance" not in capsys.readouterr().err
    assert main(["generate", "a car", "--model", model, "-o", str(tmp_path / "near.wav"), *approach, *FAST]) == 0
    err = capsys.readouterr().err
    assert err.count("note: this model has no distance rows") == 1 and "the distance is ignored" in err
    # direction only: the same clip as the path without distance
    assert np.array_equal(read_foa(tmp_path / "near.wav").samples, read_foa(tmp_path / "plane.wav").samples)
    prompts = tmp_path / "prompts.jsonl"
    rows = [{"id": i, "prompt": "a car", "trajectory": {"type": "linear", "start_azimuth": 0, "start_elevation": 0,
             "end_azimuth": 0, "end_elevation": 0, "direction": "cw", "move_start": 0, "move_end": 0.5,
             "start_distance": a, "end_distance": b}} for i, (a, b) in enumerate([(1, 8), (8, 1)])]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["generate", "--prompts", str(prompts), "--model", model, "-o", str(tmp_path / "gen"),
                 "--batch-size", "1", *FAST]) == 0
    assert capsys.readouterr().err.count("note: this model has no distance rows") == 1  # once for the run

    # A model with distance rows is given the distance: approach and recession differ, and nothing is noted.
    distance = str(make_model(tmp_path / "distance-model", "parametric",
                              replace(POSITION, distance_bins=4, distance_min=1.0, distance_max=8.0)))
    clips = {}
    for name, path in [("plane", move), ("approach", approach), ("recede", [*move, "--distance", "2", "--to-distance", "20"])]:
        assert main(["generate", "a car", "--model", distance, "-o", str(tmp_path / f"d-{name}.wav"), *path, *FAST]) == 0
        clips[name] = read_foa(tmp_path / f"d-{name}.wav").samples
    assert "distance" not in capsys.readouterr().err
    assert not np.allclose(clips["approach"], clips["recede"], atol=1e-6)
    assert not np.allclose(clips["approach"], clips["plane"], atol=1e-6)


def test_register_train_adds_diffusion_under_train(tmp_path):
    root = argparse.ArgumentParser(prog="sonicmotion")
    commands = root.add_subparsers(dest="command")
    train = commands.add_parser("train").add_subparsers(dest="model")
    register_train(train)
    args = root.parse_args(["train", "diffusion", "--config", "c.yaml", "--autoencoder", "patch:64:8",
                            "--data", "d", "--out", "o", "--dit", "tiny", "--steps", "3"])
    assert (args.command, args.model, args.dit, args.steps) == ("train", "diffusion", "tiny", 3)
    assert callable(args.run)


def test_generate_from_plain_prompt_lines_resumes(tmp_path, models):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a siren\n\nrain on a roof\n")
    out = tmp_path / "gen"
    argv = ["generate", "--prompts", str(prompts), "--model", str(models["descriptive"]), "-o", str(out), *FAST]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["000000.wav", "000001.wav", "prompts.jsonl"]
    before = (out / "000001.wav").stat().st_mtime_ns
    (out / "000000.wav").unlink()
    assert main(argv) == 0  # only the missing clip is generated again
    assert (out / "000001.wav").stat().st_mtime_ns == before and (out / "000000.wav").is_file()


def test_generate_reads_the_path_from_the_words(tmp_path, models, capsys):
    from sonicmotion.motion import describe_to_motion

    words = "a dog barks, moving from the left to the right behind me"
    out = tmp_path / "words.wav"
    assert main(["generate", words, "--model", str(models["parametric"]), "-o", str(out), *FAST]) == 0
    reading = describe_to_motion(words, seconds=0.5)
    assert f"path from the words: {json.dumps(reading.to_dict()['trajectory'])}\n" in capsys.readouterr().out
    # the same clip as the sound alone on that path given by flags (same seed): the path and the content were used
    path = reading.to_dict()["trajectory"]
    flags = tmp_path / "flags.wav"
    assert main(["generate", "a dog barks", "--model", str(models["parametric"]), "-o", str(flags), *FAST,
                 "--azimuth", f"{path['start_azimuth']:g}", "--to-azimuth", f"{path['end_azimuth']:g}",
                 "--direction", path["direction"], "--move-start", f"{path['move_start']:g}",
                 "--move-end", f"{path['move_end']:g}"]) == 0
    assert "path from the flags: " in capsys.readouterr().out
    np.testing.assert_array_equal(read_foa(out).samples, read_foa(flags).samples)
    # an explicit path wins over the words
    given = tmp_path / "given.wav"
    assert main(["generate", words, "--model", str(models["parametric"]), "-o", str(given), *FAST,
                 "--azimuth", "30"]) == 0
    assert 'path from the flags: {"type": "static", "azimuth": 30.0' in capsys.readouterr().out
    # words with no position: the position is withheld, and said so
    assert main(["generate", "a dog barks", "--model", str(models["parametric"]), "-o", str(tmp_path / "n.wav"),
                 *FAST]) == 0
    assert "no path: the words say nothing about where the sound is" in capsys.readouterr().out


def test_generate_prompts_records_the_path_from_the_words(tmp_path, models, capsys):
    from sonicmotion.motion import describe_to_motion

    prompts = tmp_path / "prompts.jsonl"
    rows = [{"id": "w", "prompt": "a siren on the left, moving to the front"},
            {"id": "f", "prompt": "a siren on the left", "trajectory": {"type": "static", "azimuth": -45.0,
                                                                         "elevation": 0.0}}]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "gen"
    assert main(["generate", "--prompts", str(prompts), "--model", str(models["parametric"]), "-o", str(out), *FAST]) == 0
    assert "(paths: 1 from the prompts file, 1 from the words)" in capsys.readouterr().out
    written = [json.loads(line) for line in (out / "prompts.jsonl").read_text().splitlines()]
    reading = describe_to_motion(rows[0]["prompt"], seconds=0.5)
    assert written[0]["trajectory"] == reading.to_dict()["trajectory"]
    assert (written[0]["trajectory_from"], written[0]["content"]) == ("words", "a siren")
    assert written[1]["trajectory"]["azimuth"] == -45.0 and "trajectory_from" not in written[1]


def test_generate_with_a_library_places_the_content_on_the_words_path(tmp_path, capsys):
    from sonicmotion.spatial import Trajectory, spatial_errors
    from tests.conftest import write_sound_library

    (tmp_path / "library").mkdir()
    library = write_sound_library(tmp_path / "library", seconds=3.0, kinds=("siren", "dog_bark", "rain"))
    out = tmp_path / "dog.wav"
    assert main(["generate", "a dog is barking on the right", "--library", str(library), "-o", str(out),
                 "--seconds", "2"]) == 0
    printed = capsys.readouterr().out
    assert 'path from the words: {"type": "static", "azimuth": -90.0, "elevation": 0.0}' in printed
    assert "retrieved manifest:dog_bark" in printed
    assert spatial_errors(read_foa(out).samples, Trajectory.static(-90, 0), 16000).delta_angle < 0.01


TORCHRUN = __import__("pathlib").Path(__import__("sys").executable).parent / "torchrun"


@pytest.mark.skipif(not TORCHRUN.is_file(), reason="torchrun is not installed beside this Python")
def test_generate_prompts_under_torchrun_splits_the_prompts(tmp_path, capsys):
    """Two CPU processes deal the prompts (i % 2): each clip is made once, by its process, with
    the bytes of a one-process run; a resume makes only the missing ones."""
    import os
    import subprocess
    import sys

    from tests.conftest import write_sound_library

    (tmp_path / "library").mkdir()
    library = write_sound_library(tmp_path / "library", seconds=3.0, kinds=("siren", "dog_bark", "rain"))
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a siren passes from left to right\na dog is barking on the right\nrain falls behind me\n"
                       "a siren on the left\na dog barks in front of me\n")
    args = ["--prompts", str(prompts), "--library", str(library), "--seconds", "2"]
    single, double = tmp_path / "single", tmp_path / "double"
    single.mkdir()
    double.mkdir()
    assert main(["generate", *args, "-o", str(single)]) == 0
    capsys.readouterr()
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "sonicmotion", "generate", *args,
               "-o", str(double)]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))

    def run() -> str:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    out = run()
    assert out.count("wrote 5 clips and prompts.jsonl") == 1  # the first process alone writes the file
    assert "made 3 by process 0, 2 by process 1" in out  # 0, 2, 4 and 1, 3: five clips, each made once
    names = sorted(p.name for p in single.iterdir())
    assert names == sorted(p.name for p in double.iterdir()) and len(names) == 6
    for name in names:
        assert (single / name).read_bytes() == (double / name).read_bytes(), name

    kept = {n: (double / n).stat().st_mtime_ns for n in ("000000.wav", "000003.wav", "000004.wav")}
    (double / "000001.wav").unlink()
    (double / "000002.wav").unlink()
    (double / "prompts.jsonl").unlink()
    assert "made 1 by process 0, 1 by process 1" in run()  # 2 is process 0's, 1 process 1's
    assert {n: (double / n).stat().st_mtime_ns for n in kept} == kept  # written once
    for name in names[:-1]:  # the clips (prompts.jsonl: the kept clips' provenance went with the deleted file)
        assert (single / name).read_bytes() == (double / name).read_bytes(), name
