import numpy as np
import pytest
import soundfile as sf

from sonicmotion.data.synth import noise_bursts, siren
from tests.conftest import NoiseGenerator


@pytest.fixture
def sounds(tmp_path):
    """Two 10 s files in tmp_path: a tonal siren (16 kHz) and broadband knocks (22.05 kHz, stereo)."""
    sf.write(tmp_path / "siren.wav", siren(10, 16000, seed=1), 16000)
    knocks = noise_bursts(10, 22050, seed=2)
    sf.write(tmp_path / "knocks.flac", np.stack([knocks, knocks], axis=1), 22050)
    return tmp_path


FakeGenerator = NoiseGenerator


@pytest.fixture
def fake_generator():
    return FakeGenerator()
