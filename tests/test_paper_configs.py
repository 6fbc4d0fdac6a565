"""Every paper-size config builds and trains one step through the recipe's own commands, at a
reduced width where size is not the point: channel counts and the DiT's width shrink; strides,
multipliers, depths, heads, latent dimensions, the conditioning width (768), the conditioners
and every loss term stay as shipped. So a paper config that cannot build or run fails CI here,
not after hours on a GPU cluster (tests/test_reproduction.py runs the recipe with tiny configs).

The one substitution that is not a size: T5-base is not available offline, so the diffusion
steps use the bundled MiniLM text encoder (--text-encoder minilm); the conditioning is projected
to the config's 768 either way.
"""

import json
import re
from pathlib import Path

import pytest
import torch

from sonicmotion.cli import main

from tests.data.dataset_corpora import make_manifest

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
AUTOENCODERS = ("paper", "paper-plus")
DIFFUSION = {"descriptive": "paper", "parametric": "paper", "descriptive-plus": "paper-plus",
             "parametric-plus": "paper-plus"}  # training config -> the DiT size file it names


def reduced_autoencoder(name: str, folder: Path) -> Path:
    """The shipped autoencoder config with 4 base channels (paper: 128) and a 4-channel
    discriminator (paper: 64); everything else as shipped."""
    text = (CONFIGS / "autoencoder" / f"{name}.yaml").read_text()
    text, n = re.subn(r"(?m)^(  base_channels:) 128\b", r"\1 4", text)
    text, m = re.subn(r"(?m)^(  channels:) 64\b", r"\1 4", text)  # the discriminator's (not latent_channels)
    assert n == m == 1, name
    assert "strides: [2, 4, 4, 8, 8]" in text and "latent_channels: 64" in text
    path = folder / f"ae-{name}.yaml"
    path.write_text(text)
    return path


def reduced_dit(name: str, folder: Path) -> Path:
    """The shipped DiT size file with width 96 (paper: 1536): depth 24, 24 heads, 768-wide conditioning kept."""
    text, n = re.subn(r"(?m)^width: 1536\b", "width: 96", (CONFIGS / "diffusion" / "dit" / f"{name}.yaml").read_text())
    assert n == 1 and "depth: 24" in text and "heads: 24" in text and "cond_dim: 768" in text
    path = folder / f"dit-{name}.yaml"
    path.write_text(text)
    return path


def last_log(run: Path) -> dict:
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    return lines[-1]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    manifest = make_manifest(root, count=2)
    out = root / "dataset"
    assert main(["dataset", "build", "--source", f"manifest:{manifest}", "--out", str(out), "--no-progress",
                 "--no-plots"]) == 0
    return out


@pytest.fixture(scope="module")
def autoencoders(dataset, tmp_path_factory):
    """One training step of each paper autoencoder config (reduced width); their run folders."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("ae")
    runs = {}
    try:
        for name in AUTOENCODERS:
            run = folder / name
            code = main(["train", "autoencoder", "--config", str(reduced_autoencoder(name, folder)), "--data",
                         str(dataset), "--out", str(run), "--max-steps", "1", "--batch-size", "2", "--num-workers",
                         "0", "--quiet"])
            assert code == 0, name
            runs[name] = run
    finally:
        torch.set_num_threads(threads)
    return runs


@pytest.mark.parametrize("name", AUTOENCODERS)
def test_paper_autoencoder_configs_build_and_step(autoencoders, name):
    from sonicmotion.yaml_config import load_yaml

    run = autoencoders[name]
    log = last_log(run)
    assert log["step"] == 1
    # Eq. 2's terms, the multi-resolution STFT per channel, all finite after the step.
    terms = ("loss", "mrstft_W", "mrstft_X", "mrstft_Y", "mrstft_Z", "kl", "adversarial", "feature_matching",
             "discriminator")
    assert all(0 <= log[t] < 1e6 for t in terms), log
    model = load_yaml(run / "config.yaml")["model"]
    assert model["strides"] == [2, 4, 4, 8, 8] and model["channel_multipliers"] == [1, 2, 4, 8, 16]
    assert model["latent_channels"] == 64 and model["base_channels"] == 4


@pytest.mark.parametrize("config", sorted(DIFFUSION))
def test_paper_diffusion_configs_build_and_step(dataset, autoencoders, tmp_path, config):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = tmp_path / config
        code = main(["train", "diffusion", "--config", config, "--autoencoder", str(autoencoders["paper"]),
                     "--data", str(dataset), "--out", str(run), "--dit", str(reduced_dit(DIFFUSION[config], tmp_path)),
                     "--text-encoder", "minilm", "--steps", "1", "--batch-size", "2", "--num-workers", "0",
                     "--mixed-precision", "no", "--quiet"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    log = last_log(run)
    assert log["step"] == 1 and 0 < log["loss"] < 1e3, log
    assert (run / "model").is_dir()
