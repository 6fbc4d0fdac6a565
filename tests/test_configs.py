"""The configs named after the paper are the paper (§2.3, §2.6; SPEC §4), every addition off;
the additions live in configs of their own names; shipped configs resolve from anywhere."""

from dataclasses import replace

import pytest

from sonicmotion.training.diffusion import load_train_config
from sonicmotion.errors import SonicMotionError
from sonicmotion.training.autoencoder import AutoencoderRunConfig
from sonicmotion.yaml_config import CONFIG_ROOT, find_config

# The paper's numbers, as printed (§2.6: "4xH100 ... batch size of 128 ... 400K steps" etc.).
PAPER_AUTOENCODER = {
    "model.audio_channels": 4, "model.base_channels": 128, "model.channel_multipliers": (1, 2, 4, 8, 16),
    "model.strides": (2, 4, 4, 8, 8), "model.latent_channels": 64, "model.sample_rate": 16000,
    "training.global_batch_size": 128, "training.max_steps": 400_000, "training.crop_seconds": 2.0,
    "training.learning_rate": 1e-4, "training.discriminator_learning_rate": 2e-4, "training.betas": (0.8, 0.99),
    "training.weight_decay": 1e-3,
}
PAPER_DIFFUSION = {
    "model.dit.width": 1536, "model.dit.depth": 24, "model.dit.heads": 24, "model.dit.cond_dim": 768,
    "model.text_encoder": "t5-base", "model.text_max_length": 128, "model.sample_seconds": 10.0,
    "training.global_batch_size": 1024, "training.max_steps": 100_000, "training.learning_rate": 1e-4,
    "training.betas": (0.9, 0.99), "training.weight_decay": 1e-3, "training.lr_inv_gamma": 1e6,
    "training.lr_power": 0.5, "training.lr_warmup": 0.99,
}
PAPER_PARAMETRIC = {
    "training.position_learning_rate": 2e-4, "training.original_caption_fraction": 0.5,
    "model.position.layers": 4, "model.position.heads": 4,
}
# Every SonicMotion addition, and its paper value (SPEC §4).
ADDITIONS_OFF = {"model.dit.latent_skip": False, "model.position.frame_aligned": False,
                 "model.position.smoothing_bins": 0.0, "model.position.distance_bins": 0}


def value(config, dotted: str):
    for name in dotted.split("."):
        config = getattr(config, name)
    return config


def test_the_paper_autoencoder_config_is_the_paper():
    config = AutoencoderRunConfig.from_yaml("configs/autoencoder/paper.yaml")
    for key, expected in PAPER_AUTOENCODER.items():
        assert value(config, key) == expected, key
    assert not config.loss.uses_spatial_term and config.parametric is None  # Eq. 2 alone
    plus = AutoencoderRunConfig.from_yaml("configs/autoencoder/paper-plus.yaml")
    assert plus.loss.uses_spatial_term and plus.model == config.model


@pytest.mark.parametrize("variant", ["descriptive", "parametric"])
def test_the_paper_diffusion_configs_are_the_paper(variant):
    config = load_train_config(f"configs/diffusion/{variant}.yaml")
    expected = {**PAPER_DIFFUSION, **(PAPER_PARAMETRIC if variant == "parametric" else {}), **ADDITIONS_OFF}
    for key, number in expected.items():
        assert value(config, key) == number, key
    assert config.model.variant == variant
    plus = load_train_config(f"configs/diffusion/{variant}-plus.yaml")
    assert plus.model.dit.latent_skip and plus.training == config.training
    if variant == "parametric":
        assert plus.model.position.frame_aligned and plus.model.position.smoothing_bins > 0
        # the distance rows live in a config of their own name, the rest of it parametric-tiny's
        tiny, distance = load_train_config("parametric-tiny"), load_train_config("parametric-distance-tiny")
        assert tiny.model.position.distance_bins == 0 and distance.model.position.distance_bins == 15
        assert distance.training == tiny.training
        assert distance.model.position == replace(tiny.model.position, distance_bins=15)


def test_shipped_configs_live_in_the_package_and_resolve_by_name(tmp_path, monkeypatch):
    import sonicmotion

    assert CONFIG_ROOT.parent == __import__("pathlib").Path(sonicmotion.__file__).resolve().parent
    names = sorted(p.relative_to(CONFIG_ROOT).as_posix() for p in CONFIG_ROOT.glob("*/*.yaml"))
    assert "autoencoder/paper.yaml" in names and "diffusion/parametric-plus.yaml" in names
    monkeypatch.chdir(tmp_path)  # no configs/ here: as after 'pip install sonicmotion'
    assert find_config("tiny", "autoencoder") == CONFIG_ROOT / "autoencoder" / "tiny.yaml"
    assert find_config("configs/diffusion/parametric.yaml", "diffusion") == CONFIG_ROOT / "diffusion" / "parametric.yaml"
    assert load_train_config("parametric-tiny").model.dit.width == 128  # dit: tiny found beside it
    with pytest.raises(SonicMotionError, match="does not exist.*paper, paper-plus"):
        find_config("nope", "autoencoder")


def test_a_per_process_batch_from_an_old_config_gets_one_line(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text("training:\n  batch_size: 32\n")
    with pytest.raises(SonicMotionError, match="global_batch_size"):
        AutoencoderRunConfig.from_yaml(old)
    with pytest.raises(SonicMotionError, match="global_batch_size"):
        load_train_config(old)
    with pytest.raises(SonicMotionError, match="unknown key"):
        load_train_config("configs/diffusion/parametric.yaml", {"training.stepz": 3})


def test_dit_sizes_live_in_their_own_folder_and_the_old_paths_name_the_new_one(tmp_path, monkeypatch):
    from sonicmotion.models.config import DIT_DIR, dit_config

    sizes = sorted(p.stem for p in DIT_DIR.glob("*.yaml"))
    assert sizes == ["paper", "paper-plus", "small", "tiny"]
    # configs/diffusion/ holds whole training runs only; each names a size that resolves.
    runs = sorted((CONFIG_ROOT / "diffusion").glob("*.yaml"))
    assert runs and not {p.stem for p in runs} & set(sizes)
    for run in runs:
        assert load_train_config(run).model.dit.width in (128, 512, 1536), run.name
    assert dit_config("paper").width == 1536 and dit_config("paper-plus").latent_skip
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SonicMotionError, match=r"DiT sizes moved to configs/diffusion/dit/ \(give "
                       r"configs/diffusion/dit/small.yaml, or the size name 'small'\)"):
        dit_config("configs/diffusion/small.yaml")
    # A size of the user's own beside their training config is still found by name.
    (tmp_path / "mine.yaml").write_text("width: 64\ndepth: 2\nheads: 2\ncond_dim: 64\n")
    (tmp_path / "run.yaml").write_text("model:\n  dit: mine\n")
    assert load_train_config(tmp_path / "run.yaml").model.dit.width == 64


def test_the_package_data_ships_every_config():
    import fnmatch
    import tomllib

    globs = tomllib.loads((CONFIG_ROOT.parents[2] / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["sonicmotion"]
    for path in CONFIG_ROOT.rglob("*.yaml"):
        relative = path.relative_to(CONFIG_ROOT.parent).as_posix()
        # setuptools' "*" does not cross "/": compare part by part
        assert any(len(g.split("/")) == len(relative.split("/"))
                   and all(fnmatch.fnmatchcase(a, b) for a, b in zip(relative.split("/"), g.split("/")))
                   for g in globs), relative


# The shared training settings have one name in both trainers' configs (old -> new).
RENAMED = {
    "autoencoder": {"generator_lr": "learning_rate", "discriminator_lr": "discriminator_learning_rate"},
    "diffusion": {"steps": "max_steps", "inv_gamma": "lr_inv_gamma", "power": "lr_power", "warmup": "lr_warmup"},
}


@pytest.mark.parametrize("family", ["autoencoder", "diffusion"])
def test_an_old_training_key_names_its_new_name_in_one_line(tmp_path, family):
    load = AutoencoderRunConfig.from_yaml if family == "autoencoder" else load_train_config
    shipped = (CONFIG_ROOT / family / ("tiny.yaml" if family == "autoencoder" else "parametric-tiny.yaml")).read_text()
    for old, new in RENAMED[family].items():
        assert f"\n  {new}:" in shipped and f"\n  {old}:" not in shipped
        path = tmp_path / f"{old}.yaml"
        path.write_text(shipped.replace(f"\n  {new}:", f"\n  {old}:"))
        with pytest.raises(SonicMotionError, match=f"'{old}' is now called '{new}'") as err:
            load(path)
        assert "\n" not in str(err.value)
    both = {"max_steps", "learning_rate", "lr_inv_gamma", "lr_power", "lr_warmup"}  # one vocabulary
    assert both <= set(load(CONFIG_ROOT / family / "paper.yaml" if family == "autoencoder"
                            else CONFIG_ROOT / family / "parametric.yaml").training.__dataclass_fields__)


def test_a_run_folders_saved_config_with_old_keys_still_reads(tmp_path):
    saved = tmp_path / "config.yaml"
    saved.write_text((CONFIG_ROOT / "autoencoder" / "tiny.yaml").read_text()
                     .replace("  learning_rate:", "  generator_lr:").replace("  discriminator_learning_rate:", "  discriminator_lr:"))
    config = AutoencoderRunConfig.from_yaml(saved, saved_run=True)
    assert config == AutoencoderRunConfig.from_yaml("tiny")
    with pytest.raises(SonicMotionError, match="'discriminator_lr' is now called 'discriminator_learning_rate'"):
        AutoencoderRunConfig.from_yaml(saved)
