"""Embedding models from local files, their front ends, and the content-keyed cache."""

import numpy as np
import pytest
import torch

from sonicmotion.evaluation import embeddings
from sonicmotion.evaluation.embeddings import ModelMissing, embed_clips, load_clap, load_cnn14, load_vggish
from sonicmotion.evaluation.sets import list_folder
from sonicmotion.evaluation.taggers import (
    Cnn14,
    Cnn14Config,
    _slaney_hz,
    _slaney_mel,
    slaney_mel_matrix,
    vggish_examples,
    vggish_mel_matrix,
)
from sonicmotion.spatial import Trajectory, encode_foa, write_foa

from tests.evaluation.evaluation_helpers import write_set

SR = 16000


def tone(hz, seconds=2.0, rate=SR):
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def test_missing_models_name_the_file_and_how_to_get_it(tmp_path):
    with pytest.raises(ModelMissing, match=r"vggish\.pth.*torchvggish"):
        load_vggish(tmp_path)
    with pytest.raises(ModelMissing, match=r"Cnn14_16k_mAP=0\.438\.pth.*zenodo"):
        load_cnn14(tmp_path)
    with pytest.raises(ModelMissing, match=r"clap.*laion/clap-htsat-unfused.*save_pretrained"):
        load_clap(tmp_path)


def test_vggish_front_end_shapes_and_mel_bands():
    examples = vggish_examples(tone(1000.0, 10.0))
    assert examples.shape == (10, 96, 64)  # 998 frames of 10 ms -> ten 0.96 s examples
    assert vggish_examples(tone(1000.0, 0.5)).shape == (0, 96, 64)
    weights = vggish_mel_matrix()
    bins = np.linspace(0, 8000, 257)
    centres = bins[weights.argmax(axis=0)]
    assert 110 < centres[0] < 160 and 7000 < centres[-1] < 7500  # bands span 125-7500 Hz
    band = examples[3].mean(axis=0).argmax()
    assert abs(centres[band] - 1000.0) < 60.0  # a 1 kHz tone lands in the 1 kHz band


def test_slaney_mel_scale_and_filterbank():
    assert _slaney_mel(1000.0) == pytest.approx(15.0) and _slaney_mel(0.0) == 0.0
    np.testing.assert_allclose(_slaney_hz(_slaney_mel(np.array([50.0, 700.0, 4000.0]))), [50.0, 700.0, 4000.0])
    weights = slaney_mel_matrix(SR, 512, 64, 50.0, 8000.0)
    assert weights.shape == (257, 64) and weights.min() >= 0
    # Slaney normalisation: each triangle's area over frequency is 1 (height 2/width).
    areas = weights.sum(axis=0) * (SR / 512)
    # (sampled on a 31.25 Hz bin grid, so wide bands integrate to 1 closely, narrow ones roughly)
    np.testing.assert_allclose(areas[8:], 1.0, rtol=0.15)
    assert abs(areas[8:].mean() - 1.0) < 0.02


def test_tiny_models_load_and_are_deterministic(tiny_models):
    clap, vggish, cnn14 = load_clap(tiny_models), load_vggish(tiny_models), load_cnn14(tiny_models)
    signals = [tone(440.0, 3.0), tone(2000.0, 3.0)]
    a = vggish.embed(signals)
    assert [x.shape for x in a] == [(3, 8), (3, 8)]
    np.testing.assert_array_equal(a[1], vggish.embed(signals)[1])  # same batch, same bytes
    np.testing.assert_allclose(a[0], vggish.embed(signals[:1])[0], rtol=1e-5, atol=1e-7)  # batching: float round-off
    logits = cnn14.embed(signals)
    assert logits[0].shape == (12,) and not np.allclose(logits[0], logits[1])
    audio = clap.embed([tone(440.0, 3.0, 48000)])
    np.testing.assert_allclose(np.linalg.norm(audio[0]), 1.0)
    text = clap.embed_text(["a dog barks", "rain on a roof", "a dog barks"])
    np.testing.assert_allclose(text[0], text[2])
    assert not np.allclose(text[0], text[1])


def test_panns_checkpoint_format_loads_and_wrong_weights_are_refused(tmp_path):
    from sonicmotion.evaluation.taggers import load_config

    from tests.evaluation.evaluation_helpers import CONFIGS

    config = load_config(Cnn14Config, CONFIGS / "cnn14-tiny.yaml")
    state = Cnn14(config).state_dict()
    folder = tmp_path / "panns"
    folder.mkdir()
    (folder / "config.yaml").write_text((CONFIGS / "cnn14-tiny.yaml").read_text())
    # PANNs wraps the weights under "model" and stores torchlibrosa's STFT kernels too.
    checkpoint = {"model": {**state, "spectrogram_extractor.stft.conv_real.weight": torch.zeros(257, 1, 512)}}
    torch.save(checkpoint, folder / "Cnn14_16k_mAP=0.438.pth")
    model = load_cnn14(tmp_path)
    torch.testing.assert_close(model.model.fc_audioset.weight, state["fc_audioset.weight"])
    del checkpoint["model"]["fc1.bias"]
    torch.save(checkpoint, folder / "Cnn14_16k_mAP=0.438.pth")
    with pytest.raises(embeddings.SonicMotionError, match=r"do not fit Cnn14.*missing: fc1\.bias"):
        load_cnn14(tmp_path)


def test_cache_reuses_only_unchanged_clips_and_models(tmp_path, tiny_models):
    folder = write_set(tmp_path / "gen", ["a", "b", "c"], seconds=2.0)
    vggish = load_vggish(tiny_models)
    clips = list(list_folder(folder, "generated").clips.values())
    cache = tmp_path / "cache"
    first = embed_clips([vggish], clips, cache, progress=False)
    assert first.cached["vggish"] == 0
    second = embed_clips([vggish], clips, cache, progress=False)
    assert second.cached["vggish"] == 3
    for clip_id in "abc":
        np.testing.assert_array_equal(first.arrays["vggish"][clip_id], second.arrays["vggish"][clip_id])
    # A changed file is embedded again; the others come from the cache.
    write_foa(folder / "b.wav", encode_foa(tone(300.0, 2.0), SR, Trajectory.static(0.0)), SR, "fuma")
    third = embed_clips([vggish], clips, cache, progress=False)
    assert third.cached["vggish"] == 2
    assert not np.allclose(third.arrays["vggish"]["b"], first.arrays["vggish"]["b"])
    # Changed weights are another model: nothing is reused.
    with torch.no_grad():
        vggish.model.embeddings[-1].bias += 1.0
    from safetensors.torch import save_file

    save_file(vggish.model.state_dict(), str(tiny_models / "vggish" / "vggish.safetensors"))
    try:
        changed = load_vggish(tiny_models)
        assert changed.identity != vggish.identity
        assert embed_clips([changed], clips, cache, progress=False).cached["vggish"] == 0
    finally:
        with torch.no_grad():
            vggish.model.embeddings[-1].bias -= 1.0
        save_file(vggish.model.state_dict(), str(tiny_models / "vggish" / "vggish.safetensors"))


def test_cnn14_front_end_equals_a_windowed_dft_with_reflect_padding():
    """Our torch.stft front end computes what PANNs' torchlibrosa DFT kernels compute,
    which is why those kernels in a checkpoint can be ignored."""
    config = Cnn14Config(channels=(4, 4, 4, 4, 4, 4), classes=3)
    model = Cnn14(config).eval()
    audio = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32))
    n = config.window
    k = np.arange(n // 2 + 1)[:, None] * np.arange(n)[None, :]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)  # periodic Hann
    padded = np.pad(audio.numpy().astype(np.float64), ((0, 0), (n // 2, n // 2)), mode="reflect")
    frames = np.stack([padded[:, s:s + n] for s in range(0, padded.shape[1] - n + 1, config.hop)], axis=1)
    real = (frames * window) @ np.cos(2 * np.pi * k / n).T
    imag = (frames * window) @ np.sin(2 * np.pi * k / n).T
    mel = (real ** 2 + imag ** 2) @ slaney_mel_matrix(config.sample_rate, n, 64, config.fmin, config.fmax)
    expected = 10 * np.log10(np.maximum(mel, 1e-10))
    with torch.inference_mode():
        got = model.log_mel(audio)[:, 0].numpy()
    assert got.shape == expected.shape == (2, 51, 64)
    np.testing.assert_allclose(got, expected, atol=2e-3)


def test_evaluation_maths_and_cli_help_do_not_import_torch():
    import os
    import subprocess
    import sys
    from pathlib import Path

    import sonicmotion

    src = str(Path(sonicmotion.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    code = ("import sys, sonicmotion.evaluation.generation, sonicmotion.evaluation.spatial, sonicmotion.cli; "
            "sonicmotion.cli.build_parser(); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_a_clip_too_short_for_vggish_is_named(tmp_path, tiny_models):
    folder = write_set(tmp_path / "gen", ["long"], seconds=2.0)
    write_foa(folder / "short.wav", encode_foa(tone(500.0, 0.5), SR, Trajectory.static(0.0)), SR, "fuma")
    clips = list(list_folder(folder, "generated").clips.values())
    with pytest.raises(embeddings.SonicMotionError, match=r"vggish on clip\(s\) long, short: .*shorter than one 0.96 s"):
        embed_clips([load_vggish(tiny_models)], clips, None, progress=False)
