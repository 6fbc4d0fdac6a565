"""The paper's embedding models load from their public files: files with exactly the key names
and shapes of torchvggish's ``vggish-10086976.pth`` and PANNs' ``Cnn14_16k_mAP=0.438.pth``
(random values; the published architectures, no config.yaml) load into our modules, and the
embeddings come out with the published sizes. The key lists are written out here from the
files' layout, not taken from our modules, so a renamed or reshaped parameter fails."""

import numpy as np
import pytest
import torch

from sonicmotion.errors import SonicMotionError
from sonicmotion.evaluation.embeddings import load_cnn14, load_vggish

# torchvggish VGG: features = conv(1-64) relu pool conv(64-128) relu pool conv(128-256) relu
# conv(256-256) relu pool conv(256-512) relu conv(512-512) relu pool; embeddings = 12288-4096-4096-128.
VGGISH_FILE = {
    "features.0.weight": (64, 1, 3, 3), "features.0.bias": (64,),
    "features.3.weight": (128, 64, 3, 3), "features.3.bias": (128,),
    "features.6.weight": (256, 128, 3, 3), "features.6.bias": (256,),
    "features.8.weight": (256, 256, 3, 3), "features.8.bias": (256,),
    "features.11.weight": (512, 256, 3, 3), "features.11.bias": (512,),
    "features.13.weight": (512, 512, 3, 3), "features.13.bias": (512,),
    "embeddings.0.weight": (4096, 12288), "embeddings.0.bias": (4096,),
    "embeddings.2.weight": (4096, 4096), "embeddings.2.bias": (4096,),
    "embeddings.4.weight": (128, 4096), "embeddings.4.bias": (128,),
}


def _cnn14_file() -> dict[str, tuple[int, ...]]:
    """PANNs' 16 kHz CNN14 state dict: torchlibrosa STFT kernels, mel matrix, bn0, six conv
    blocks 64-2048, fc1, fc_audioset (527 AudioSet classes)."""
    keys: dict[str, tuple[int, ...]] = {
        "spectrogram_extractor.stft.conv_real.weight": (257, 1, 512),
        "spectrogram_extractor.stft.conv_imag.weight": (257, 1, 512),
        "logmel_extractor.melW": (257, 64),
    }

    def batch_norm(prefix: str, width: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{prefix}.{name}"] = (width,)
        keys[f"{prefix}.num_batches_tracked"] = ()

    batch_norm("bn0", 64)
    widths = (1, 64, 128, 256, 512, 1024, 2048)
    for i in range(1, 7):
        keys[f"conv_block{i}.conv1.weight"] = (widths[i], widths[i - 1], 3, 3)
        keys[f"conv_block{i}.conv2.weight"] = (widths[i], widths[i], 3, 3)
        batch_norm(f"conv_block{i}.bn1", widths[i])
        batch_norm(f"conv_block{i}.bn2", widths[i])
    keys.update({"fc1.weight": (2048, 2048), "fc1.bias": (2048,), "fc_audioset.weight": (527, 2048),
                 "fc_audioset.bias": (527,)})
    return keys


def _random_state(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000, dtype=torch.long)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[key] = torch.randn(shape, generator=generator) * 0.02
    return state


def test_vggish_loads_torchvggish_file_layout(tmp_path):
    (tmp_path / "vggish").mkdir()
    torch.save(_random_state(VGGISH_FILE), tmp_path / "vggish" / "vggish.pth")
    model = load_vggish(tmp_path)
    assert sum(p.numel() for p in model.model.parameters()) == sum(int(np.prod(s)) for s in VGGISH_FILE.values())
    out = model.embed([np.random.default_rng(0).standard_normal(16000 * 2).astype(np.float32) * 0.1])
    assert out[0].shape == (2, 128)  # two 0.96 s examples, 128-d
    # One reshaped parameter: refused with its name, not loaded half-way.
    broken = _random_state(VGGISH_FILE)
    broken["embeddings.4.weight"] = torch.zeros(127, 4096)
    torch.save(broken, tmp_path / "vggish" / "vggish.pth")
    with pytest.raises(SonicMotionError, match="wrong shape: embeddings.4.weight"):
        load_vggish(tmp_path)


def test_cnn14_loads_panns_file_layout(tmp_path):
    (tmp_path / "panns").mkdir()
    torch.save({"model": _random_state(_cnn14_file())}, tmp_path / "panns" / "Cnn14_16k_mAP=0.438.pth")
    model = load_cnn14(tmp_path)
    logits = model.embed([np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1])
    assert logits[0].shape == (527,)
    # The file's mel matrix is the one used (loaded, not recomputed).
    saved = torch.load(tmp_path / "panns" / "Cnn14_16k_mAP=0.438.pth", weights_only=True)["model"]
    assert torch.equal(model.model.logmel_extractor.melW, saved["logmel_extractor.melW"])
    del saved["fc_audioset.bias"]
    torch.save({"model": saved}, tmp_path / "panns" / "Cnn14_16k_mAP=0.438.pth")
    with pytest.raises(SonicMotionError, match="missing: fc_audioset.bias"):
        load_cnn14(tmp_path)


@pytest.mark.slow
def test_clap_loads_a_full_size_unfused_folder(tmp_path):
    """laion/clap-htsat-unfused's layout: transformers' ClapModel at the published sizes (the
    library's defaults: RoBERTa-base text tower, HTSAT-tiny audio tower, 512-d projections) with
    fusion off, saved as config.json + model.safetensors + processor files (about 600 MB)."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizer

    from sonicmotion.evaluation.embeddings import load_clap

    torch.manual_seed(0)
    config = ClapConfig(audio_config={"enable_fusion": False}, text_config={})
    model = ClapModel(config)
    assert 150e6 < sum(p.numel() for p in model.parameters()) < 160e6  # 153.5 M, as the released model
    model.save_pretrained(str(tmp_path / "clap"))
    vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
                                        + [chr(c) for c in range(33, 127)] + ["Ġ"])}
    # The unfused model reads one 10 s window (rand_trunc), as its preprocessor_config.json says.
    processor = ClapProcessor(feature_extractor=ClapFeatureExtractor(truncation="rand_trunc"),
                              tokenizer=RobertaTokenizer(vocab=vocab, merges=[]))
    processor.save_pretrained(str(tmp_path / "clap"))
    assert (tmp_path / "clap" / "model.safetensors").stat().st_size > 500e6
    clap = load_clap(tmp_path)
    audio = clap.embed([np.random.default_rng(0).standard_normal(48000 * 2).astype(np.float32) * 0.1])
    text = clap.embed_text(["a dog barks"])
    assert audio[0].shape == (512,) and text.shape == (1, 512)
    assert np.linalg.norm(audio[0]) == pytest.approx(1.0, abs=1e-5)
