"""``sonicmotion weights check``: every pretrained file a work needs, looked for where its loader
looks (an empty Hugging Face cache and models folder here), found once a file is placed there,
and the same line from ``train diffusion`` when the text encoder is missing."""

import json

import pytest

from sonicmotion.cli import main

REQUIRED = ["text encoder t5-base", "CLAP", "VGGish", "CNN14", "AudioLDM 2", "Stable Audio Open"]


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """An empty Hugging Face cache and an empty models folder."""
    from huggingface_hub import constants

    cache = tmp_path / "hf"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    models = tmp_path / "models"
    models.mkdir()
    return cache, models


def check(models, capsys, *extra):
    code = main(["weights", "check", "--models-dir", str(models), *extra])
    return code, capsys.readouterr().out


def status(out: str) -> dict[str, str]:
    """Item name -> "found" / "MISSING" from the check's lines."""
    rows = {}
    for line in out.splitlines():
        for word in ("found", "MISSING"):
            if line.startswith(word):
                rows[line[len(word):].strip().split(" [")[0].split(":")[0].replace(" (optional)", "")] = word
    return rows


def place_t5(cache):
    """A snapshot of t5-base in the Hugging Face cache layout (refs/main -> snapshots/<hash>)."""
    entry = cache / "models--t5-base"
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text("0" * 40)
    snapshot = entry / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "spiece.model"):
        (snapshot / name).write_bytes(b"x")
    return snapshot


def test_every_missing_item_is_listed_with_where_it_looked_and_the_command(nowhere, capsys):
    cache, models = nowhere
    code, out = check(models, capsys)
    assert code == 2
    rows = status(out)
    assert all(rows[name] == "MISSING" for name in REQUIRED), rows
    assert rows["aiSFX"] in ("found", "MISSING") and "MiniLM (all-MiniLM-L6-v2)" in rows  # optional ones listed
    assert f"looked in {cache / 'models--t5-base'}" in out
    assert f"looked in {models / 'clap'}, {cache / 'models--laion--clap-htsat-unfused'}" in out
    assert str(models / "vggish" / "vggish.pth") in out and str(models / "panns" / "Cnn14_16k_mAP=0.438.pth") in out
    assert "T5EncoderModel.from_pretrained('t5-base')" in out
    assert "curl -L -o '" + str(models / "vggish" / "vggish.pth") + "'" in out
    assert f"snapshot_download('cvssp/audioldm2', local_dir='{models / 'audioldm2'}'" in out
    assert out.splitlines()[-1].startswith("table2: ") and "missing: text encoder t5-base, CLAP" in out
    # Table 3 needs no pretrained file; generate needs the configs' text encoders only.
    assert check(models, capsys, "--for", "table3")[0] == 0
    code, out = check(models, capsys, "--for", "generate")
    assert code == 2 and set(status(out)) == {"text encoder t5-base", "MiniLM (all-MiniLM-L6-v2)"}
    code, out = check(models, capsys, "--for", "generate", "--config", "parametric-tiny")
    assert code == 0 and status(out) == {"MiniLM (all-MiniLM-L6-v2)": "found"}


def test_placed_files_are_found_where_the_loaders_look(nowhere, capsys):
    cache, models = nowhere
    snapshot = place_t5(cache)
    for folder, name in (("vggish", "vggish.pth"), ("panns", "Cnn14_16k_mAP=0.438.pth")):
        (models / folder).mkdir()
        (models / folder / name).write_bytes(b"x")
    (models / "clap").mkdir()
    for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
        (models / "clap" / name).write_bytes(b"x")
    for key, pipeline, parts in (("audioldm2", "AudioLDM2Pipeline", ("unet", "vae", "vocoder")),
                                 ("stable-audio-open", "StableAudioPipeline", ("transformer", "vae"))):
        folder = models / key
        folder.mkdir()
        index = {"_class_name": pipeline, "_diffusers_version": "0.30.0"}
        for part in parts:
            index[part] = ["diffusers", "Something"]
            (folder / part).mkdir()
        (folder / "model_index.json").write_text(json.dumps(index))
    code, out = check(models, capsys)
    assert code == 0, out
    rows = status(out)
    assert all(rows[name] == "found" for name in REQUIRED), rows
    assert f"text encoder t5-base: {snapshot}" in out and f"VGGish: {models / 'vggish' / 'vggish.pth'}" in out
    # One component folder gone: that baseline is missing again, and says which.
    (models / "audioldm2" / "vocoder").rmdir()
    code, out = check(models, capsys)
    assert code == 2 and status(out)["AudioLDM 2"] == "MISSING" and "missing vocoder/" in out


def test_train_diffusion_stops_at_once_with_the_same_line(nowhere, tmp_path, capsys):
    from sonicmotion.models.text import text_encoder_folder
    from sonicmotion.errors import WeightsMissing

    with pytest.raises(WeightsMissing) as missing:
        text_encoder_folder("t5-base")
    code = main(["train", "diffusion", "--config", "parametric", "--autoencoder", "patch:64", "--data",
                 str(tmp_path / "nothing"), "--out", str(tmp_path / "run")])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"sonicmotion train: error: {missing.value}"
    assert str(missing.value) in check(nowhere[1], capsys)[1]  # the weights check's line for the same file
    assert not (tmp_path / "run").exists()
