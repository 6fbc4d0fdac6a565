import json

import numpy as np
import pytest
import torch

from sonicmotion.evaluation.autoencoder import _hz_to_mel, _mel_to_hz, evaluate_autoencoder, mel_filterbank
from tests.foa_fixtures import synthetic_sample


def test_slaney_mel_scale_and_filterbank():
    assert _hz_to_mel(1000.0) == pytest.approx(15.0)  # linear part: 200/3 Hz per mel
    assert _hz_to_mel(6400.0) == pytest.approx(42.0)  # 27 mels per factor 6.4 above 1 kHz
    hz = np.array([0.0, 440.0, 1000.0, 3000.0, 8000.0])
    np.testing.assert_allclose(_mel_to_hz(_hz_to_mel(hz)), hz, atol=1e-9)
    fb = mel_filterbank(16000, 1024, 128)
    assert fb.shape == (128, 513) and fb.dtype == np.float32 and (fb >= 0).all()
    # Slaney normalisation: every triangle has unit area in Hz (checked on wide upper filters,
    # where sampling the triangle at 15.6 Hz bins is accurate).
    areas = fb.sum(axis=1) * (16000 / 1024)
    np.testing.assert_allclose(areas[64:], 1.0, rtol=0.02)
    # Filters peak in ascending order.
    assert (np.diff(fb[20:].argmax(axis=1)) >= 0).all()


class Passthrough(torch.nn.Module):
    """A perfect "autoencoder", optionally mirroring front/back and left/right (X, Y -> -X, -Y)."""

    sample_rate, downsampling_ratio, latent_channels, io_channels = 16000, 1, 4, 4

    def __init__(self, mirror=False):
        super().__init__()
        self.sign = torch.tensor([1.0, -1.0, -1.0, 1.0]).view(1, 4, 1) if mirror else torch.ones(1, 4, 1)

    def encode(self, audio):
        return audio * self.sign

    def decode(self, latents, num_samples=None):
        return latents[..., :num_samples]


def test_perfect_and_mirrored_reconstructions():
    samples = [synthetic_sample(i, 1.0) for i in range(3)]
    perfect = evaluate_autoencoder(Passthrough(), samples, progress=False)
    assert perfect.clips == 3
    assert perfect.stft == pytest.approx(0.0, abs=1e-6) and perfect.mel == pytest.approx(0.0, abs=1e-6)
    for resolution in ("sample", "frame"):
        assert perfect.spatial[resolution].delta_angle == pytest.approx(0.0, abs=1e-3)
    mirrored = evaluate_autoencoder(Passthrough(mirror=True), samples, limit=2, progress=False)
    assert mirrored.clips == 2
    assert mirrored.stft == pytest.approx(0.0, abs=1e-6)  # magnitudes cannot tell
    assert mirrored.spatial["frame"].l1_azimuth == pytest.approx(180.0, abs=0.5)
    report = json.loads(json.dumps(mirrored.to_dict()))
    assert set(report["spatial"]) == {"sample", "frame"} and "Δangle" in mirrored.table()
    # The paper's way first: the sample row, the paper's own figures under it, the frame row after.
    rows = [line.split()[0] for line in mirrored.table().splitlines()[2:5]]
    assert rows == ["sample", "paper", "frame"]
    sample_row = mirrored.table().splitlines()[2].split()
    assert float(sample_row[3]) == pytest.approx(mirrored.spatial["sample"].l1_azimuth, abs=0.006)
